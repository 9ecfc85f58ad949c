"""outbox.charged: what a gateway message took from a prepaid balance when it was queued

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-09

A cancel gives back exactly this (thousandths of a credit), and nothing when it is 0 or
NULL (the account was unlimited when the message was queued). Messages still waiting
(``queued``, ``sending``) of accounts that are prepaid now are taken to have been charged
their price, which is what a cancel gave back before this column existed.

A plain ``ADD COLUMN`` on both databases (no table copy on SQLite, so no trigger is lost).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('outbox', sa.Column('charged', sa.Integer(), nullable=True))
    op.execute(
        "UPDATE outbox SET charged = credits WHERE kind = 'sms' AND status IN ('queued', 'sending') "
        "AND account_id IN (SELECT id FROM accounts WHERE prepaid)"
    )


def downgrade() -> None:
    op.drop_column('outbox', 'charged')
