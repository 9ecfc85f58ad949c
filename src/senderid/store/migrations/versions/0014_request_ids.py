"""audit_events.request_id (the request that made the change); accounts.suspended_at

``audit_events.request_id``: the ``X-Request-ID`` of the HTTP request whose change the
record names (taken from the request, or made by the server), so that a support case found
in the logs leads to the audit trail and back; NULL for changes made by the CLI or the
worker.

``accounts.suspended_at``: when an operator suspended the account (``senderid account
suspend``); NULL while it is in use. A suspended account's keys are refused and its queued
messages are not claimed until it is resumed.

Plain ``ADD COLUMN`` on both databases: no table copy on SQLite, so the change-signal
triggers on ``accounts`` stay (and a suspension, being an UPDATE of ``accounts``, signals
``senderid_keys`` like every other change to an account).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from senderid.store.coltypes import UTCDateTime

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('audit_events', sa.Column('request_id', sa.String(128), nullable=True))
    op.add_column('accounts', sa.Column('suspended_at', UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column('accounts', 'suspended_at')
    op.drop_column('audit_events', 'request_id')
