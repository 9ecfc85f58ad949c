"""provider health: each worker's circuit-breaker state and last provider error

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import senderid.store.coltypes

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('provider_health',
    sa.Column('worker', sa.String(length=128), nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('breaker', sa.String(length=16), nullable=False),
    sa.Column('since', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.Column('reopens_at', senderid.store.coltypes.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('last_error_at', senderid.store.coltypes.UTCDateTime(), nullable=True),
    sa.Column('updated_at', senderid.store.coltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('worker', name=op.f('pk_provider_health'))
    )


def downgrade() -> None:
    op.drop_table('provider_health')
