"""ACMA's SMS Sender ID Register: registrant and evidence on business names, their status
on the register, account defaults, and what the outbox knew when it queued an SMS

* ``accounts``: ``abn`` and ``entity_name``, the registrant a request names when it names none;
* ``business_names``: ``abn``, ``entity_name``, ``use_case``, ``use_case_reference``,
  ``acma_status`` (default ``not_submitted``), ``acma_reference``, ``acma_updated_by`` and
  ``acma_updated_at``;
* ``outbox``: ``acma_registered`` (a business-name sender under a warn or refuse policy);
* the change signal of an approved business name also fires when its ``acma_status``
  changes (the sender cache holds it: the sending policy reads it from there).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import senderid.store.coltypes

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

SENDERS = "senderid_senders"
TRIGGER = "senderid_signal_bn_update"
APPROVED_CHANGE = "(OLD.status = 'APPROVED' OR NEW.status = 'APPROVED')"
OLD_WHEN = ("(OLD.status IS DISTINCT FROM NEW.status OR OLD.businessname IS DISTINCT FROM NEW.businessname)"
            f" AND {APPROVED_CHANGE}")
NEW_WHEN = ("(OLD.status IS DISTINCT FROM NEW.status OR OLD.businessname IS DISTINCT FROM NEW.businessname"
            f" OR OLD.acma_status IS DISTINCT FROM NEW.acma_status) AND {APPROVED_CHANGE}")


def _replace_trigger(when: str, columns: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON business_names")
        op.execute(
            f"CREATE TRIGGER {TRIGGER} AFTER UPDATE OF {columns} ON business_names FOR EACH ROW"
            f" WHEN ({when}) EXECUTE FUNCTION senderid_signal('{SENDERS}', 'account_id')"
        )
        return
    op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}")
    bump = (
        f"INSERT OR REPLACE INTO change_signals (channel, version) VALUES ('{SENDERS}', "
        f"coalesce((SELECT version FROM change_signals WHERE channel = '{SENDERS}'), 0) + 1);"
    )
    op.execute(
        f"CREATE TRIGGER {TRIGGER} AFTER UPDATE ON business_names FOR EACH ROW"
        f" WHEN {when.replace('IS DISTINCT FROM', 'IS NOT')} BEGIN {bump} END"
    )


def upgrade() -> None:
    # Plain ALTER TABLE ... ADD COLUMN (no batch): a batch rebuild on SQLite would drop the
    # tables' change-signal triggers (migration 0005) with the old table.
    op.add_column('accounts', sa.Column('abn', sa.String(length=11), nullable=True))
    op.add_column('accounts', sa.Column('entity_name', sa.String(length=200), nullable=True))
    for column in (
        sa.Column('abn', sa.String(length=11), nullable=True),
        sa.Column('entity_name', sa.String(length=200), nullable=True),
        sa.Column('use_case', sa.String(length=16), nullable=True),
        sa.Column('use_case_reference', sa.String(length=253), nullable=True),
        sa.Column('acma_status', sa.String(length=16), server_default=sa.text("'not_submitted'"), nullable=False),
        sa.Column('acma_reference', sa.String(length=100), nullable=True),
        sa.Column('acma_updated_by', sa.String(length=64), nullable=True),
        sa.Column('acma_updated_at', senderid.store.coltypes.UTCDateTime(), nullable=True),
    ):
        op.add_column('business_names', column)
    op.add_column('outbox', sa.Column('acma_registered', sa.Boolean(), nullable=True))
    _replace_trigger(NEW_WHEN, "status, businessname, acma_status")


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+ and PostgreSQL), for the same reason.
    _replace_trigger(OLD_WHEN, "status, businessname")
    for table, columns in (
        ('outbox', ('acma_registered',)),
        ('business_names', ('acma_updated_at', 'acma_updated_by', 'acma_reference', 'acma_status',
                            'use_case_reference', 'use_case', 'entity_name', 'abn')),
        ('accounts', ('entity_name', 'abn')),
    ):
        for column in columns:
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
