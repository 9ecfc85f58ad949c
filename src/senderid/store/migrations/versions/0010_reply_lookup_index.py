"""who a STOP reply answers: the outbox index by contact and time sent

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

A reply answers the SMS the contact last received, ordered by ``sent_at``:
``ix_outbox_to_number_created`` (to_number, created_at) gives way to
``ix_outbox_to_number_sent`` (to_number, sent_at). Plain index statements, no table
rebuild, so the outbox keeps its triggers on SQLite.
"""

from __future__ import annotations

from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_outbox_to_number_created', table_name='outbox')
    op.create_index('ix_outbox_to_number_sent', 'outbox', ['to_number', 'sent_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_outbox_to_number_sent', table_name='outbox')
    op.create_index('ix_outbox_to_number_created', 'outbox', ['to_number', 'created_at'], unique=False)
