"""wrong OTPs per account and number (the daily guess budget); outbox lookup of ended
messages by when they ended (body retention)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import senderid.store.coltypes

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('otp_failures',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.String(length=24), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('created_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_otp_failures'))
    )
    with op.batch_alter_table('otp_failures', schema=None) as batch_op:
        batch_op.create_index(
            "ix_otp_failures_account_number_created", ["account_id", "number", "created_at"], unique=False
        )
        batch_op.create_index('ix_otp_failures_account_created', ['account_id', 'created_at'], unique=False)
        batch_op.create_index('ix_otp_failures_created', ['created_at'], unique=False)

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_status_updated', ['status', 'updated_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_status_updated')

    with op.batch_alter_table('otp_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_otp_failures_created')
        batch_op.drop_index('ix_otp_failures_account_created')
        batch_op.drop_index('ix_otp_failures_account_number_created')

    op.drop_table('otp_failures')
