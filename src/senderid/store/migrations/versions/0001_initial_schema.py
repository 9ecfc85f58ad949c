"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import senderid.store.coltypes

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('accounts',
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('otp_required', sa.Boolean(), server_default=sa.text('(true)'), nullable=False),
    sa.Column('created_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts'))
    )
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('account_id', sa.String(length=24), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_account_at', ['account_id', 'at'], unique=False)
        batch_op.create_index('ix_audit_events_action_at', ['action', 'at'], unique=False)

    op.create_table('dev_inbox',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('message_id', sa.String(length=24), nullable=False),
    sa.Column('to_number', sa.String(length=20), nullable=False),
    sa.Column('sender', sa.String(length=20), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dev_inbox')),
    sa.UniqueConstraint('message_id', name=op.f('uq_dev_inbox_message_id'))
    )
    op.create_table('otp_sends',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.String(length=24), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('created_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_otp_sends'))
    )
    with op.batch_alter_table('otp_sends', schema=None) as batch_op:
        batch_op.create_index('ix_otp_sends_account_created', ['account_id', 'created_at'], unique=False)
        batch_op.create_index(
            "ix_otp_sends_account_number_created", ["account_id", "number", "created_at"], unique=False
        )
        batch_op.create_index('ix_otp_sends_number_created', ['number', 'created_at'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('account_id', sa.String(length=24), nullable=True),
    sa.Column('custom_number_id', sa.String(length=24), nullable=True),
    sa.Column('to_number', sa.String(length=20), nullable=False),
    sa.Column('sender', sa.String(length=20), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('redacted_body', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('next_attempt_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.Column('lease_until', senderid.store.coltypes.UTCDateTime(), nullable=True),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('expires_at', senderid.store.coltypes.UTCDateTime(), nullable=True),
    sa.Column('provider', sa.String(length=32), nullable=True),
    sa.Column('provider_message_id', sa.String(length=128), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('created_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.Column('sent_at', senderid.store.coltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_custom_number', ['custom_number_id'], unique=False)
        batch_op.create_index('ix_outbox_status_next_attempt', ['status', 'next_attempt_at'], unique=False)

    op.create_table('api_keys',
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('account_id', sa.String(length=24), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('created_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', senderid.store.coltypes.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', senderid.store.coltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_api_keys_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_account_id'), ['account_id'], unique=False)

    op.create_table('custom_numbers',
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('account_id', sa.String(length=24), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('otp_hash', sa.String(length=64), nullable=True),
    sa.Column('otp_expires_at', senderid.store.coltypes.UTCDateTime(), nullable=True),
    sa.Column('otp_attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('otp_sent_at', senderid.store.coltypes.UTCDateTime(), nullable=True),
    sa.Column('created_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.Column('verified_at', senderid.store.coltypes.UTCDateTime(), nullable=True),
    sa.Column('ended_at', senderid.store.coltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_custom_numbers_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_custom_numbers'))
    )
    with op.batch_alter_table('custom_numbers', schema=None) as batch_op:
        batch_op.create_index(
            "ix_custom_numbers_account_status_created", ["account_id", "status", "created_at"], unique=False
        )
        batch_op.create_index('ix_custom_numbers_number_status', ['number', 'status'], unique=False)
        batch_op.create_index(
            "uq_custom_numbers_active_number",
            ["number"],
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )
        batch_op.create_index(
            "uq_custom_numbers_pending_account_number",
            ["account_id", "number"],
            unique=True,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )


def downgrade() -> None:

    with op.batch_alter_table('custom_numbers', schema=None) as batch_op:
        batch_op.drop_index(
            "uq_custom_numbers_pending_account_number",
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )
        batch_op.drop_index(
            "uq_custom_numbers_active_number",
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )
        batch_op.drop_index('ix_custom_numbers_number_status')
        batch_op.drop_index('ix_custom_numbers_account_status_created')

    op.drop_table('custom_numbers')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_keys_account_id'))

    op.drop_table('api_keys')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_status_next_attempt')
        batch_op.drop_index('ix_outbox_custom_number')

    op.drop_table('outbox')
    with op.batch_alter_table('otp_sends', schema=None) as batch_op:
        batch_op.drop_index('ix_otp_sends_number_created')
        batch_op.drop_index('ix_otp_sends_account_number_created')
        batch_op.drop_index('ix_otp_sends_account_created')

    op.drop_table('otp_sends')
    op.drop_table('dev_inbox')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_action_at')
        batch_op.drop_index('ix_audit_events_account_at')

    op.drop_table('audit_events')
    op.drop_table('accounts')

