"""delivery lanes: claim indexes, the shared provider rate bucket, wake-ups on PostgreSQL

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

* the outbox is claimed per lane (OTP first, then bulk SMS with a fair share per
  account): two indexes that serve those claims replace the plain (status, due) one;
* ``rate_buckets`` holds one token bucket per provider, shared by all workers;
* on PostgreSQL a statement trigger notifies channel ``senderid_outbox`` whenever rows
  are inserted into the outbox, so a worker in another process wakes up at the commit
  instead of at its next poll (costs the inserting request no extra round trip).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import senderid.store.coltypes

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

NOTIFY_FUNCTION = """
CREATE OR REPLACE FUNCTION senderid_notify_outbox() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('senderid_outbox', '');
  RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""
NOTIFY_TRIGGER = """
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
FOR EACH STATEMENT EXECUTE FUNCTION senderid_notify_outbox()
"""


def upgrade() -> None:
    op.create_table('rate_buckets',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('tokens', sa.Float(), nullable=False),
    sa.Column('updated_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_rate_buckets'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_status_next_attempt')
        batch_op.create_index('ix_outbox_status_kind_next_attempt', ['status', 'kind', 'next_attempt_at'],
                              unique=False)
        batch_op.create_index('ix_outbox_status_kind_account_next_attempt',
                              ['status', 'kind', 'account_id', 'next_attempt_at'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(NOTIFY_FUNCTION)
        op.execute(NOTIFY_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
        op.execute("DROP FUNCTION IF EXISTS senderid_notify_outbox()")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_status_kind_account_next_attempt')
        batch_op.drop_index('ix_outbox_status_kind_next_attempt')
        batch_op.create_index('ix_outbox_status_next_attempt', ['status', 'next_attempt_at'], unique=False)
    op.drop_table('rate_buckets')
