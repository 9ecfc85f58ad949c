"""change signals: triggers that tell every process when keys, accounts or senders change;
positions of OTP sends in their limit windows

Channels: ``senderid_senders`` (an account's active custom numbers or approved business
names changed) and ``senderid_keys`` (an API key or an account changed).
PostgreSQL: the triggers NOTIFY the channel with the account id.
SQLite: they bump the channel's counter in ``change_signals``, which each process
polls (see senderid.store.listen).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

SENDERS, KEYS = "senderid_senders", "senderid_keys"
CHANNELS = (SENDERS, KEYS)

# (name, table, event, WHEN condition, column holding the account id)
TRIGGERS = (
    ("cn_insert", "custom_numbers", "INSERT", "NEW.status = 'active'", "account_id"),
    ("cn_update", "custom_numbers", "UPDATE",
     "OLD.status IS DISTINCT FROM NEW.status AND (OLD.status = 'active' OR NEW.status = 'active')",
     "account_id"),
    ("cn_delete", "custom_numbers", "DELETE", "OLD.status = 'active'", "account_id"),
    ("bn_insert", "business_names", "INSERT", "NEW.status = 'APPROVED'", "account_id"),
    ("bn_update", "business_names", "UPDATE",
     "(OLD.status IS DISTINCT FROM NEW.status OR OLD.businessname IS DISTINCT FROM NEW.businessname)"
     " AND (OLD.status = 'APPROVED' OR NEW.status = 'APPROVED')", "account_id"),
    ("bn_delete", "business_names", "DELETE", "OLD.status = 'APPROVED'", "account_id"),
    ("key_update", "api_keys", "UPDATE", None, "account_id"),
    ("key_delete", "api_keys", "DELETE", None, "account_id"),
    ("account_update", "accounts", "UPDATE", None, "id"),
    ("account_delete", "accounts", "DELETE", None, "id"),
)


def _channel(table: str) -> str:
    return KEYS if table in ("api_keys", "accounts") else SENDERS


SEQUENCES = (
    ("account_number_seq", ("account_id", "number")),
    ("number_seq", ("number",)),
    ("account_seq", ("account_id",)),
)


def _send_positions() -> None:
    """Each OTP send's position in its scopes, numbered in id order (existing rows too)."""
    with op.batch_alter_table('otp_sends', schema=None) as batch_op:
        for column, _scope in SEQUENCES:
            batch_op.add_column(sa.Column(column, sa.Integer(), nullable=True))
    for column, scope in SEQUENCES:
        same = " AND ".join(f"o.{c} = otp_sends.{c}" for c in scope)
        op.execute(f"UPDATE otp_sends SET {column} = "
                   f"(SELECT count(*) FROM otp_sends o WHERE {same} AND o.id <= otp_sends.id)")
    with op.batch_alter_table('otp_sends', schema=None) as batch_op:
        batch_op.create_index(
            "ix_otp_sends_account_number_seq", ["account_id", "number", "account_number_seq"], unique=False
        )
        batch_op.create_index('ix_otp_sends_number_seq', ['number', 'number_seq'], unique=False)
        batch_op.create_index('ix_otp_sends_account_seq', ['account_id', 'account_seq'], unique=False)


def upgrade() -> None:
    _send_positions()
    op.create_table(
        'change_signals',
        sa.Column('channel', sa.String(length=64), nullable=False),
        sa.Column('version', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.PrimaryKeyConstraint('channel', name=op.f('pk_change_signals')),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION senderid_signal() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify(TG_ARGV[0], CASE WHEN TG_OP = 'DELETE'
                    THEN to_jsonb(OLD) ->> TG_ARGV[1] ELSE to_jsonb(NEW) ->> TG_ARGV[1] END);
                RETURN NULL;
            END $$
            """
        )
        for name, table, event, when, column in TRIGGERS:
            channel = _channel(table)
            of = " OF status, businessname" if table == "business_names" and event == "UPDATE" else ""
            of = " OF status" if table == "custom_numbers" and event == "UPDATE" else of
            condition = f" WHEN ({when})" if when else ""
            op.execute(
                f"CREATE TRIGGER senderid_signal_{name} AFTER {event}{of} ON {table} FOR EACH ROW"
                f"{condition} EXECUTE FUNCTION senderid_signal('{channel}', '{column}')"
            )
        return
    for channel in CHANNELS:
        op.execute(f"INSERT INTO change_signals (channel, version) VALUES ('{channel}', 0)")
    for name, table, event, when, _column in TRIGGERS:
        channel = _channel(table)
        bump = (
            f"INSERT OR REPLACE INTO change_signals (channel, version) VALUES ('{channel}', "
            f"coalesce((SELECT version FROM change_signals WHERE channel = '{channel}'), 0) + 1);"
        )
        condition = " WHEN " + when.replace("IS DISTINCT FROM", "IS NOT") if when else ""
        op.execute(
            f"CREATE TRIGGER senderid_signal_{name} AFTER {event} ON {table} FOR EACH ROW"
            f"{condition} BEGIN {bump} END"
        )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, table, _event, _when, _column in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS senderid_signal_{name}" + (f" ON {table}" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS senderid_signal()")
    op.drop_table('change_signals')
    with op.batch_alter_table('otp_sends', schema=None) as batch_op:
        batch_op.drop_index('ix_otp_sends_account_seq')
        batch_op.drop_index('ix_otp_sends_number_seq')
        batch_op.drop_index('ix_otp_sends_account_number_seq')
        for column, _scope in SEQUENCES:
            batch_op.drop_column(column)
