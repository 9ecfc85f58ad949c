"""early_receipts.provider_at: the provider's own time of an early receipt

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-20

A delivery receipt may carry the provider's own time of the delivery (SMPP's
``done date``, Twilio's ``RawDlrDoneDate``); a message's ``delivered_at`` and its history
take that time. A receipt that comes before its message is recorded as sent is kept in
``early_receipts`` until then, and now keeps that time with it.

A plain ``ADD COLUMN`` on both databases (no table copy on SQLite).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from senderid.store.coltypes import UTCDateTime

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('early_receipts', sa.Column('provider_at', UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column('early_receipts', 'provider_at')
