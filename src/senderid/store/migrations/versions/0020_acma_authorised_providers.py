"""business_names.acma_providers: the providers (carriers) authorised for a name on ACMA's register

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-21

Since 1 July 2026 each carrier authorises a business name on ACMA's SMS Sender ID Register
separately. ``acma_providers`` holds the names of the providers (as the routes file names
them) that have authorised it: a JSON list as text; NULL (every name before this
migration) means every provider, as before.

A plain ``ADD COLUMN`` on both databases (no table copy on SQLite, which would drop the
change-signal triggers). The change signal of an approved name also fires when the list
changes: the sender cache holds it, and the gateway's refusal reads it from there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

SENDERS = "senderid_senders"
TRIGGER = "senderid_signal_bn_update"
APPROVED_CHANGE = "(OLD.status = 'APPROVED' OR NEW.status = 'APPROVED')"
OLD_COLUMNS = "status, businessname, acma_status"
OLD_WHEN = ("(OLD.status IS DISTINCT FROM NEW.status OR OLD.businessname IS DISTINCT FROM NEW.businessname"
            f" OR OLD.acma_status IS DISTINCT FROM NEW.acma_status) AND {APPROVED_CHANGE}")
NEW_COLUMNS = "status, businessname, acma_status, acma_providers"
NEW_WHEN = ("(OLD.status IS DISTINCT FROM NEW.status OR OLD.businessname IS DISTINCT FROM NEW.businessname"
            " OR OLD.acma_status IS DISTINCT FROM NEW.acma_status"
            f" OR OLD.acma_providers IS DISTINCT FROM NEW.acma_providers) AND {APPROVED_CHANGE}")


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
    op.add_column('business_names', sa.Column('acma_providers', sa.Text(), nullable=True))
    _replace_trigger(NEW_WHEN, NEW_COLUMNS)


def downgrade() -> None:
    _replace_trigger(OLD_WHEN, OLD_COLUMNS)
    op.execute("ALTER TABLE business_names DROP COLUMN acma_providers")
