"""a sender check is one point query: business names by account, name and status

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-16

A sender is looked up alone, never with the rest of its account's senders: an active
custom number by (number, status) through ``ix_custom_numbers_number_status`` (at most one
active row per number), an approved business name by (account_id, name_key, status)
through this index. The partial unique index on (account_id, name_key) cannot serve that
query on SQLite, whose planner uses a partial index only when the query repeats its
``WHERE``; without this one the lookup walked every approved name of every account.
A plain ``CREATE INDEX`` on both databases (no table copy on SQLite, so no trigger is lost).
"""

from __future__ import annotations

from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_business_names_account_name_status', 'business_names',
                    ['account_id', 'name_key', 'status'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_business_names_account_name_status', table_name='business_names')
