"""provider health per worker and provider: one row for each named provider a worker serves

A worker serves every provider of SENDERID_ROUTES_FILE, each with its own circuit breaker,
so ``provider_health`` is keyed by (worker, provider). Its rows say what running workers
saw and are rewritten when a worker starts: the table is made again, empty (it has no
triggers).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import senderid.store.coltypes

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def _create(*key: str) -> None:
    op.create_table('provider_health',
    sa.Column('worker', sa.String(length=128), nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('breaker', sa.String(length=16), nullable=False),
    sa.Column('since', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.Column('reopens_at', senderid.store.coltypes.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('last_error_at', senderid.store.coltypes.UTCDateTime(), nullable=True),
    sa.Column('updated_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint(*key, name=op.f('pk_provider_health'))
    )


def upgrade() -> None:
    op.drop_table('provider_health')
    _create('worker', 'provider')


def downgrade() -> None:
    op.drop_table('provider_health')
    _create('worker')
