"""the gateway's documented fields: opt-outs, short links, usage and credits

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

* ``outbox`` gains what a gateway message carries for reports: its SMS ``parts``, the
  ``credits`` it cost (thousandths of a credit) and the caller's ``custom_string``; and an
  index on (to_number, created_at) to find who sent to a contact that replies STOP;
* ``accounts.prepaid``: the account has a balance (unlimited when false); the balance
  itself is in ``account_credits``, so debiting it does not touch ``accounts`` (whose
  changes signal every process to forget cached callers);
* ``optouts``: each account's opt-out list;
* ``short_links``: one code per message and link, with its click count.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import senderid.store.coltypes

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parts', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('credits', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('custom_string', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_outbox_to_number_created', ['to_number', 'created_at'], unique=False)
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prepaid', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.create_table('account_credits',
    sa.Column('account_id', sa.String(length=24), nullable=False),
    sa.Column('balance', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_account_credits_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_account_credits'))
    )
    op.create_table('optouts',
    sa.Column('account_id', sa.String(length=24), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('created_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_optouts_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'number', name=op.f('pk_optouts'))
    )
    with op.batch_alter_table('optouts', schema=None) as batch_op:
        batch_op.create_index('ix_optouts_account_id_created_at', ['account_id', 'created_at'], unique=False)
    op.create_table('short_links',
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('account_id', sa.String(length=24), nullable=False),
    sa.Column('message_id', sa.String(length=24), nullable=False),
    sa.Column('long_url', sa.String(length=2000), nullable=False),
    sa.Column('clicks', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('created_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.Column('last_click_at', senderid.store.coltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_short_links'))
    )
    with op.batch_alter_table('short_links', schema=None) as batch_op:
        batch_op.create_index('ix_short_links_message_id', ['message_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('short_links', schema=None) as batch_op:
        batch_op.drop_index('ix_short_links_message_id')
    op.drop_table('short_links')
    with op.batch_alter_table('optouts', schema=None) as batch_op:
        batch_op.drop_index('ix_optouts_account_id_created_at')
    op.drop_table('optouts')
    op.drop_table('account_credits')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('prepaid')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_to_number_created')
        batch_op.drop_column('custom_string')
        batch_op.drop_column('credits')
        batch_op.drop_column('parts')
