"""a right of use that stays true: re-verification, reclaim by possession, protected senders

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-12

``custom_numbers`` gains how and until when a number's proof holds (``verified_by``,
``reverify_after_days``, ``reverify_by``, ``reverify_noticed_at``), what a code was sent
for (``otp_purpose``: a re-verification or a reclaim), a claim's ``decides_at`` and
``due_at``, the next moment the worker's right-of-use tick must look at the row (a
notice, a lapse, a release, a claim's decision), indexed so that the tick is one index
lookup when nothing is due. Numbers active before this revision were activated without
a code when no code was ever sent for them (``operator``), else by ``otp``; their
schedule is computed by the worker from the settings in force (``reverify_after_days``
is NULL until then), so none lapses at once: each gets its full notice period first.

A number is held by one account while ``active`` or ``lapsed`` (the unique index on
``number`` now covers both), and one claim per number is open at a time (a unique index
on ``number`` where ``claiming``).

``accounts.reverify_after_days`` overrides ``SENDERID_REVERIFY_AFTER_DAYS`` per account.

``protected_senders`` (numbers, prefixes and names operators protect) and
``protected_sender_accounts`` (the accounts allowed to use each) are new.

Plain ``ADD COLUMN`` and ``CREATE/DROP INDEX`` on both databases: no table is rebuilt on
SQLite, so the change-signal triggers on ``custom_numbers`` and ``accounts`` stay.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from senderid.store.coltypes import UTCDateTime

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('custom_numbers', sa.Column('verified_by', sa.String(16), nullable=True))
    op.add_column('custom_numbers', sa.Column('reverify_after_days', sa.Float(), nullable=True))
    op.add_column('custom_numbers', sa.Column('reverify_by', UTCDateTime(), nullable=True))
    op.add_column('custom_numbers', sa.Column('reverify_noticed_at', UTCDateTime(), nullable=True))
    op.add_column('custom_numbers', sa.Column('otp_purpose', sa.String(16), nullable=True))
    op.add_column('custom_numbers', sa.Column('decides_at', UTCDateTime(), nullable=True))
    op.add_column('custom_numbers', sa.Column('due_at', UTCDateTime(), nullable=True))
    op.create_index('ix_custom_numbers_due_at', 'custom_numbers', ['due_at'])
    op.drop_index('uq_custom_numbers_active_number', table_name='custom_numbers')
    op.create_index('uq_custom_numbers_held_number', 'custom_numbers', ['number'], unique=True,
                    sqlite_where=sa.text("status IN ('active', 'lapsed')"),
                    postgresql_where=sa.text("status IN ('active', 'lapsed')"))
    op.create_index('uq_custom_numbers_claiming_number', 'custom_numbers', ['number'], unique=True,
                    sqlite_where=sa.text("status = 'claiming'"),
                    postgresql_where=sa.text("status = 'claiming'"))
    op.execute("UPDATE custom_numbers SET verified_by = CASE WHEN otp_sent_at IS NULL THEN 'operator' "
               "ELSE 'otp' END WHERE verified_at IS NOT NULL")

    op.add_column('accounts', sa.Column('reverify_after_days', sa.Float(), nullable=True))

    op.create_table(
        'protected_senders',
        sa.Column('id', sa.String(24), nullable=False),
        sa.Column('kind', sa.String(8), nullable=False),
        sa.Column('value', sa.String(100), nullable=False),
        sa.Column('shown', sa.String(100), nullable=False),
        sa.Column('note', sa.String(500), nullable=True),
        sa.Column('created_by', sa.String(64), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_protected_senders')),
        sa.UniqueConstraint('kind', 'value', name=op.f('uq_protected_senders_kind_value')),
    )
    op.create_table(
        'protected_sender_accounts',
        sa.Column('protected_id', sa.String(24), nullable=False),
        sa.Column('account_id', sa.String(24), nullable=False),
        sa.ForeignKeyConstraint(['protected_id'], ['protected_senders.id'],
                                name=op.f('fk_protected_sender_accounts_protected_id_protected_senders'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_protected_sender_accounts_account_id_accounts')),
        sa.PrimaryKeyConstraint('protected_id', 'account_id', name=op.f('pk_protected_sender_accounts')),
    )


def downgrade() -> None:
    op.drop_table('protected_sender_accounts')
    op.drop_table('protected_senders')
    op.drop_column('accounts', 'reverify_after_days')
    op.drop_index('uq_custom_numbers_claiming_number', table_name='custom_numbers')
    op.drop_index('uq_custom_numbers_held_number', table_name='custom_numbers')
    op.create_index('uq_custom_numbers_active_number', 'custom_numbers', ['number'], unique=True,
                    sqlite_where=sa.text("status = 'active'"),
                    postgresql_where=sa.text("status = 'active'"))
    op.drop_index('ix_custom_numbers_due_at', table_name='custom_numbers')
    for column in ('due_at', 'decides_at', 'otp_purpose', 'reverify_noticed_at', 'reverify_by',
                   'reverify_after_days', 'verified_by'):
        op.drop_column('custom_numbers', column)
