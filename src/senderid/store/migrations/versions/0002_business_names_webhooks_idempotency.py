"""business names, webhooks, idempotency

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import senderid.store.coltypes

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_account_created', ['account_id', 'created_at'], unique=False)

    op.create_table('idempotency_keys',
    sa.Column('account_id', sa.String(length=24), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('response_body', sa.Text(), nullable=True),
    sa.Column('response_headers', sa.JSON(), nullable=True),
    sa.Column('created_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('account_id', 'key', name=op.f('pk_idempotency_keys'))
    )
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.create_index('ix_idempotency_keys_expires', ['expires_at'], unique=False)

    op.create_table('webhook_events',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=24), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('next_attempt_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.Column('lease_until', senderid.store.coltypes.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('created_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.Column('delivered_at', senderid.store.coltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_events'))
    )
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_events_account_created', ['account_id', 'created_at'], unique=False)
        batch_op.create_index('ix_webhook_events_status_next_attempt', ['status', 'next_attempt_at'], unique=False)

    op.create_table('business_names',
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('account_id', sa.String(length=24), nullable=False),
    sa.Column('businessname', sa.String(length=11), nullable=False),
    sa.Column('name_key', sa.String(length=11), nullable=False),
    sa.Column('customer_contact', sa.String(length=20), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('requested_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.Column('decided_at', senderid.store.coltypes.UTCDateTime(), nullable=True),
    sa.Column('created_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_business_names_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_business_names'))
    )
    with op.batch_alter_table('business_names', schema=None) as batch_op:
        batch_op.create_index('ix_business_names_account_created', ['account_id', 'created_at'], unique=False)
        batch_op.create_index('ix_business_names_status_created', ['status', 'created_at'], unique=False)
        batch_op.create_index(
            "uq_business_names_live_account_name",
            ["account_id", "name_key"],
            unique=True,
            sqlite_where=sa.text("status IN ('REQUESTED', 'APPROVED')"),
            postgresql_where=sa.text("status IN ('REQUESTED', 'APPROVED')"),
        )

    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('webhook_url', sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column('webhook_secret', sa.String(length=100), nullable=True))




def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_account_created')

    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('webhook_secret')
        batch_op.drop_column('webhook_url')

    with op.batch_alter_table('business_names', schema=None) as batch_op:
        batch_op.drop_index(
            "uq_business_names_live_account_name",
            sqlite_where=sa.text("status IN ('REQUESTED', 'APPROVED')"),
            postgresql_where=sa.text("status IN ('REQUESTED', 'APPROVED')"),
        )
        batch_op.drop_index('ix_business_names_status_created')
        batch_op.drop_index('ix_business_names_account_created')

    op.drop_table('business_names')
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_events_status_next_attempt')
        batch_op.drop_index('ix_webhook_events_account_created')

    op.drop_table('webhook_events')
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_idempotency_keys_expires')

    op.drop_table('idempotency_keys')

