"""inbound_messages: replies from phones; short_links.optout_number: unsubscribe links

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-16

Every reply a provider hands in is kept for the account it answers (``inbound_messages``).
A gateway message from a business name with ``replyStopToOptOut`` carries an unsubscribe
link: a short link whose ``optout_number`` is the contact it opts out. The opt-out list's
``source`` gains the value ``link`` (a plain string column: no schema change).

A new table and a plain ``ADD COLUMN`` on both databases (no table copy on SQLite, so no
trigger is lost).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from senderid.store.coltypes import UTCDateTime

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.String(24), nullable=False),
        sa.Column(
            "account_id",
            sa.String(24),
            sa.ForeignKey("accounts.id", name="fk_inbound_messages_account_id_accounts"),
            nullable=False,
        ),
        sa.Column("from_number", sa.String(20), nullable=False),
        sa.Column("to_address", sa.String(32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("reply_to", sa.String(24), nullable=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("body_blanked", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.PrimaryKeyConstraint("id", name="pk_inbound_messages"),
    )
    op.create_index('ix_inbound_messages_account_id_received_at', 'inbound_messages',
                    ['account_id', 'received_at'], unique=False)
    op.create_index('ix_inbound_messages_account_id_from_number_received_at', 'inbound_messages',
                    ['account_id', 'from_number', 'received_at'], unique=False)
    op.create_index('ix_inbound_messages_body_blanked_received_at', 'inbound_messages',
                    ['body_blanked', 'received_at'], unique=False)
    op.add_column('short_links', sa.Column('optout_number', sa.String(20), nullable=True))


def downgrade() -> None:
    op.drop_column('short_links', 'optout_number')
    op.drop_table('inbound_messages')
