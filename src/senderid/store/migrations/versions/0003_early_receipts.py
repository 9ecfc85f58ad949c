"""early delivery receipts, outbox lookup by provider message id

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import senderid.store.coltypes

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('early_receipts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('provider_message_id', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('received_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_early_receipts'))
    )
    with op.batch_alter_table('early_receipts', schema=None) as batch_op:
        batch_op.create_index('ix_early_receipts_provider_message', ['provider', 'provider_message_id'], unique=False)
        batch_op.create_index('ix_early_receipts_received', ['received_at'], unique=False)

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_provider_message', ['provider_message_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_provider_message')

    with op.batch_alter_table('early_receipts', schema=None) as batch_op:
        batch_op.drop_index('ix_early_receipts_received')
        batch_op.drop_index('ix_early_receipts_provider_message')

    op.drop_table('early_receipts')
