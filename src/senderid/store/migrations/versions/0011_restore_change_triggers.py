"""restore the change-signal triggers a table rebuild dropped

On SQLite, migration 0006 added ``accounts.prepaid`` with a batch operation, which rebuilds
the table (a new table, the rows copied, the old one dropped) and so dropped the triggers
migration 0005 had put on ``accounts``: a change to an account (its OTP requirement, its
prepaid switch, ...) no longer signalled ``senderid_keys``, and every other process kept
serving the cached account until its entry aged out. No other table that carries a trigger
was rebuilt (0006 to 0009 change ``outbox`` without a rebuild, and ``business_names`` with
plain ``ALTER TABLE``); on PostgreSQL a batch operation never rebuilds, so nothing was lost
there.

This migration creates every trigger the caches and the worker's wake-up rely on that is
missing, as they are defined now (``bn_update`` as migration 0007 left it), and leaves the
ones that exist alone: ``CREATE TRIGGER IF NOT EXISTS`` on SQLite; on PostgreSQL each one
is created only when ``pg_trigger`` does not have it (with the functions they call). On
SQLite it then bumps both channels, so that a process that cached an account while the
triggers were missing forgets it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

SENDERS, KEYS = "senderid_senders", "senderid_keys"

APPROVED_CHANGE = "(OLD.status = 'APPROVED' OR NEW.status = 'APPROVED')"

# (name, table, event, PostgreSQL's UPDATE OF columns, WHEN condition, channel, column
# holding the account id): every change-signal trigger of migrations 0005 and 0007.
TRIGGERS = (
    ("cn_insert", "custom_numbers", "INSERT", None, "NEW.status = 'active'", SENDERS, "account_id"),
    ("cn_update", "custom_numbers", "UPDATE", "status",
     "OLD.status IS DISTINCT FROM NEW.status AND (OLD.status = 'active' OR NEW.status = 'active')",
     SENDERS, "account_id"),
    ("cn_delete", "custom_numbers", "DELETE", None, "OLD.status = 'active'", SENDERS, "account_id"),
    ("bn_insert", "business_names", "INSERT", None, "NEW.status = 'APPROVED'", SENDERS, "account_id"),
    ("bn_update", "business_names", "UPDATE", "status, businessname, acma_status",
     "(OLD.status IS DISTINCT FROM NEW.status OR OLD.businessname IS DISTINCT FROM NEW.businessname"
     f" OR OLD.acma_status IS DISTINCT FROM NEW.acma_status) AND {APPROVED_CHANGE}", SENDERS, "account_id"),
    ("bn_delete", "business_names", "DELETE", None, "OLD.status = 'APPROVED'", SENDERS, "account_id"),
    ("key_update", "api_keys", "UPDATE", None, None, KEYS, "account_id"),
    ("key_delete", "api_keys", "DELETE", None, None, KEYS, "account_id"),
    ("account_update", "accounts", "UPDATE", None, None, KEYS, "id"),
    ("account_delete", "accounts", "DELETE", None, None, KEYS, "id"),
)

SIGNAL_FUNCTION = """
CREATE OR REPLACE FUNCTION senderid_signal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_ARGV[0], CASE WHEN TG_OP = 'DELETE'
        THEN to_jsonb(OLD) ->> TG_ARGV[1] ELSE to_jsonb(NEW) ->> TG_ARGV[1] END);
    RETURN NULL;
END $$
"""
OUTBOX_FUNCTION = """
CREATE OR REPLACE FUNCTION senderid_notify_outbox() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('senderid_outbox', '');
  RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""
OUTBOX_TRIGGER = ("CREATE TRIGGER outbox_notify AFTER INSERT ON outbox "
                  "FOR EACH STATEMENT EXECUTE FUNCTION senderid_notify_outbox()")


def _postgres() -> None:
    conn = op.get_bind()
    existing = {(name, table) for name, table in conn.execute(sa.text(
        "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE NOT t.tgisinternal AND c.relnamespace = to_regnamespace(current_schema())"
    ))}
    op.execute(SIGNAL_FUNCTION)
    op.execute(OUTBOX_FUNCTION)
    for name, table, event, of, when, channel, column in TRIGGERS:
        if (f"senderid_signal_{name}", table) in existing:
            continue
        columns = f" OF {of}" if of else ""
        condition = f" WHEN ({when})" if when else ""
        op.execute(
            f"CREATE TRIGGER senderid_signal_{name} AFTER {event}{columns} ON {table} FOR EACH ROW"
            f"{condition} EXECUTE FUNCTION senderid_signal('{channel}', '{column}')"
        )
    if ("outbox_notify", "outbox") not in existing:
        op.execute(OUTBOX_TRIGGER)


def _sqlite() -> None:
    for name, table, event, _of, when, channel, _column in TRIGGERS:
        bump = (
            f"INSERT OR REPLACE INTO change_signals (channel, version) VALUES ('{channel}', "
            f"coalesce((SELECT version FROM change_signals WHERE channel = '{channel}'), 0) + 1);"
        )
        condition = " WHEN " + when.replace("IS DISTINCT FROM", "IS NOT") if when else ""
        op.execute(
            f"CREATE TRIGGER IF NOT EXISTS senderid_signal_{name} AFTER {event} ON {table} FOR EACH ROW"
            f"{condition} BEGIN {bump} END"
        )
    for channel in (SENDERS, KEYS):
        op.execute(
            f"INSERT OR REPLACE INTO change_signals (channel, version) VALUES ('{channel}', "
            f"coalesce((SELECT version FROM change_signals WHERE channel = '{channel}'), 0) + 1)"
        )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgres()
    else:
        _sqlite()


def downgrade() -> None:
    # Nothing to undo: the triggers belong to migrations 0005 and 0007, whose downgrades
    # drop them; taking them away here would only bring the stale caches back.
    pass
