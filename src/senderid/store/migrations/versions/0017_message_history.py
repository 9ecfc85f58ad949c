"""Each message's history: message_events, outbox.scheduled_at and delivered_at, list indexes

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-12

``message_events`` keeps one row per change of a message's status. ``outbox`` gains the
due time the caller asked for (``scheduled_at``: a message is *scheduled* while it is
queued and that time is ahead) and the time a receipt said it was delivered
(``delivered_at``), and three indexes that serve an account's message list newest first
by status, recipient and customString.

Messages queued before this revision get their history from what the row says (queued at
``created_at``, sent at ``sent_at``, and the current status at ``updated_at``), and a
still-waiting one whose due time is ahead of its creation is taken as scheduled.

Plain ``ADD COLUMN`` and ``CREATE INDEX`` on both databases: no table copy on SQLite, so
the outbox's trigger stays.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from senderid.store.coltypes import UTCDateTime

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('outbox', sa.Column('scheduled_at', UTCDateTime(), nullable=True))
    op.add_column('outbox', sa.Column('delivered_at', UTCDateTime(), nullable=True))
    op.create_index('ix_outbox_account_status_created', 'outbox', ['account_id', 'status', 'created_at'])
    op.create_index('ix_outbox_account_to_created', 'outbox', ['account_id', 'to_number', 'created_at'])
    op.create_index('ix_outbox_account_custom_created', 'outbox', ['account_id', 'custom_string', 'created_at'])
    op.create_table(
        'message_events',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('message_id', sa.String(length=24), nullable=False),
        sa.Column('account_id', sa.String(length=24), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.Column('detail', sa.String(length=500), nullable=True),
        sa.Column('provider', sa.String(length=32), nullable=True),
        sa.Column('attempt', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_message_events'),
    )
    op.create_index('ix_message_events_message', 'message_events', ['message_id', 'id'])
    op.execute(
        "UPDATE outbox SET scheduled_at = next_attempt_at WHERE kind = 'sms' AND status = 'queued' "
        "AND attempts = 0 AND next_attempt_at > created_at"
    )
    op.execute(
        "INSERT INTO message_events (message_id, account_id, status, at) "
        "SELECT id, account_id, 'queued', created_at FROM outbox"
    )
    op.execute(
        "INSERT INTO message_events (message_id, account_id, status, at, provider, attempt) "
        "SELECT id, account_id, 'sent', sent_at, provider, attempts FROM outbox WHERE sent_at IS NOT NULL"
    )
    op.execute(
        "INSERT INTO message_events (message_id, account_id, status, at, detail, provider, attempt) "
        "SELECT id, account_id, status, updated_at, last_error, provider, attempts FROM outbox "
        "WHERE status NOT IN ('queued', 'sending', 'sent')"
    )


def downgrade() -> None:
    op.drop_index('ix_message_events_message', table_name='message_events')
    op.drop_table('message_events')
    op.drop_index('ix_outbox_account_custom_created', table_name='outbox')
    op.drop_index('ix_outbox_account_to_created', table_name='outbox')
    op.drop_index('ix_outbox_account_status_created', table_name='outbox')
    op.drop_column('outbox', 'delivered_at')
    op.drop_column('outbox', 'scheduled_at')
