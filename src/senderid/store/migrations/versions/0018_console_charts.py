"""Indexes of the console's charts: message_events by status and time, over every account
or one

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-19

The console draws the SMS sent, delivered and failed per hour (24 hours) and per day (7
days), for every account on the overview and for one on the account's page: one grouped
read of ``message_events`` per chart, each a range of ``at`` for a few statuses, served by
``(status, at)`` and ``(account_id, status, at)`` (both cover what the read needs).

Plain ``CREATE INDEX`` on both databases (``message_events`` has no trigger).
"""

from __future__ import annotations

from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_message_events_status_at', 'message_events', ['status', 'at'])
    op.create_index('ix_message_events_account_status_at', 'message_events', ['account_id', 'status', 'at'])


def downgrade() -> None:
    op.drop_index('ix_message_events_account_status_at', table_name='message_events')
    op.drop_index('ix_message_events_status_at', table_name='message_events')
