"""The triggers that signal changes to every process exist after every upgrade, on both
databases, and each one signals its channel.

The key and sender caches of every process, and (on PostgreSQL) the worker's wake-up,
rely on triggers in the database. A trigger that is missing fails silently: every other
process keeps serving what it cached until the entry ages out. So the triggers are listed
here by name, and checked after ``senderid db upgrade`` (:func:`migrate.upgrade`), after an
upgrade of a database that was at 0009 (on SQLite that one had lost the ``accounts``
triggers to 0006's table rebuild), and after each migration in turn: a migration that
rebuilds a table must recreate its triggers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from senderid.domain import accounts, credits
from senderid.domain.context import Context
from senderid.domain.types import CLI
from senderid.store import migrate
from senderid.store.coltypes import UTCDateTime
from senderid.store.db import Database
from senderid.store.listen import Listener
from tests.support.commands import fresh_postgres

# Every trigger the caches rely on, by (name, table): migrations 0005 and 0007 (0011
# restores the ones a rebuild dropped).
SIGNAL_TRIGGERS = {
    ("senderid_signal_cn_insert", "custom_numbers"),
    ("senderid_signal_cn_update", "custom_numbers"),
    ("senderid_signal_cn_delete", "custom_numbers"),
    ("senderid_signal_bn_insert", "business_names"),
    ("senderid_signal_bn_update", "business_names"),
    ("senderid_signal_bn_delete", "business_names"),
    ("senderid_signal_key_update", "api_keys"),
    ("senderid_signal_key_delete", "api_keys"),
    ("senderid_signal_account_update", "accounts"),
    ("senderid_signal_account_delete", "accounts"),
}
# PostgreSQL also wakes the workers of other processes at an outbox insert (migration 0004).
POSTGRES_ONLY = {("outbox_notify", "outbox")}

# Triggers a migration dropped and a later one restored: on SQLite 0006 rebuilt `accounts`
# (a batch operation) and lost its two triggers; 0011 recreates them. Any other loss fails.
KNOWN_LOSSES = {
    ("sqlite", "0006"): {("senderid_signal_account_update", "accounts"),
                         ("senderid_signal_account_delete", "accounts")},
}


def expected(db: Database) -> set[tuple[str, str]]:
    return SIGNAL_TRIGGERS if db.is_sqlite else SIGNAL_TRIGGERS | POSTGRES_ONLY


def triggers(db: Database) -> set[tuple[str, str]]:
    """The database's triggers as (name, table)."""
    query = ("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'" if db.is_sqlite else
             "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
             "WHERE NOT t.tgisinternal")
    with db.engine.connect() as conn:
        return {(name, table) for name, table in conn.exec_driver_sql(query)}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database with no tables yet."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
        yield database
        database.dispose()
        return
    with fresh_postgres() as url:
        database = Database(url)
        yield database
        database.dispose()


def test_every_trigger_exists_after_db_upgrade(db: Database) -> None:
    assert migrate.is_current(db)
    assert expected(db) <= triggers(db), sorted(expected(db) - triggers(db))


def test_an_upgrade_from_0009_restores_every_trigger(empty_db: Database) -> None:
    migrate.upgrade(empty_db, "0009")
    if empty_db.is_sqlite:  # what a database migrated by earlier releases looks like
        assert not {t for t in SIGNAL_TRIGGERS if t[1] == "accounts"} & triggers(empty_db)
    migrate.upgrade(empty_db)
    assert expected(empty_db) <= triggers(empty_db), sorted(expected(empty_db) - triggers(empty_db))


def test_an_upgrade_recreates_every_missing_trigger(empty_db: Database) -> None:
    """Whichever triggers a database at 0009 lacks (here: all of them), the upgrade makes."""
    migrate.upgrade(empty_db, "0009")
    with empty_db.engine.begin() as conn:
        for name, table in expected(empty_db) & triggers(empty_db):
            conn.exec_driver_sql(f"DROP TRIGGER {name}" + ("" if empty_db.is_sqlite else f" ON {table}"))
    assert not expected(empty_db) & triggers(empty_db)
    migrate.upgrade(empty_db)
    assert expected(empty_db) <= triggers(empty_db), sorted(expected(empty_db) - triggers(empty_db))


def test_no_migration_loses_a_trigger(empty_db: Database) -> None:
    """Upgrading one migration at a time, a trigger that exists before a migration exists
    after it (a table rebuilt on SQLite loses its triggers unless they are made again), and
    every trigger made on the way exists at the end."""
    script = ScriptDirectory.from_config(migrate.alembic_config())
    revisions = [s.revision for s in reversed(list(script.walk_revisions()))]
    dialect = "sqlite" if empty_db.is_sqlite else "postgresql"
    before: set[tuple[str, str]] = set()
    seen: set[tuple[str, str]] = set()
    for revision in revisions:
        migrate.upgrade(empty_db, revision)
        after = triggers(empty_db)
        assert before - after == KNOWN_LOSSES.get((dialect, revision), set()), revision
        seen |= after
        before = after
    assert seen <= before, sorted(seen - before)
    assert expected(empty_db) <= before


# -- each trigger signals its channel --------------------------------------------------

KEYS, SENDERS, OUTBOX = "senderid_keys", "senderid_senders", "senderid_outbox"
NOW = datetime(2026, 12, 3, tzinfo=UTC)


class Heard:
    """The signals a live listener delivered, as (channel, payload)."""

    def __init__(self, db: Database) -> None:
        self.listener = Listener(db)
        self.signals: list[tuple[str, str | None]] = []
        self._lock = threading.Lock()
        for channel in (KEYS, SENDERS, OUTBOX):
            self.listener.subscribe(channel, self._note)

    def _note(self, channel: str, payload: str | None) -> None:
        with self._lock:
            self.signals.append((channel, payload))

    def after(self, change) -> list[tuple[str, str | None]]:
        """The signals delivered for ``change()`` (run in its own transaction)."""
        assert self.listener.barrier(5)
        with self._lock:
            self.signals.clear()
        change()
        assert self.listener.barrier(5)
        with self._lock:
            return list(self.signals)


@pytest.fixture
def heard(db: Database) -> Iterator[Heard]:
    h = Heard(db)
    h.listener.start()
    assert h.listener.wait_live(5)
    yield h
    h.listener.stop()


def sql(db: Database, statement: str, **params: object):
    query = sa.text(statement)
    if "now" in params:
        query = query.bindparams(sa.bindparam("now", type_=UTCDateTime))

    def run() -> None:
        with db.engine.begin() as conn:
            conn.execute(query, params)
    return run


def test_each_trigger_signals_its_channel(ctx: Context, heard: Heard) -> None:
    db = ctx.db
    account = accounts.create_account(ctx, "Acme", otp_required=False, actor=CLI)
    other = accounts.create_account(ctx, "Gone", actor=CLI)
    key, _secret = accounts.create_key(ctx, account.id, actor=CLI)
    a = account.id

    def signal(channel: str, account_id: str | None) -> tuple[str, str | None]:
        return (channel, None if db.is_sqlite else account_id)  # SQLite's counter names no account

    row = {"a": a, "now": NOW}
    cases = [
        ("the OTP requirement", sql(db, "UPDATE accounts SET otp_required = true WHERE id = :a", a=a), KEYS, a),
        ("the prepaid switch", lambda: credits.set_balance(ctx, a, 2, actor=CLI), KEYS, a),
        ("a key revoked", sql(db, "UPDATE api_keys SET revoked_at = :now WHERE id = :k", k=key.id, now=NOW),
         KEYS, a),
        ("a key deleted", sql(db, "DELETE FROM api_keys WHERE id = :k", k=key.id), KEYS, a),
        ("an active number", sql(db, "INSERT INTO custom_numbers (id, account_id, number, name, status, "
                                     "otp_attempts, created_at, updated_at) VALUES ('cn1', :a, '+61491570156', "
                                     "'n', 'active', 0, :now, :now)", **row), SENDERS, a),
        ("a number ended", sql(db, "UPDATE custom_numbers SET status = 'ended' WHERE id = 'cn1'"), SENDERS, a),
        ("a number active again", sql(db, "UPDATE custom_numbers SET status = 'active' WHERE id = 'cn1'"),
         SENDERS, a),
        ("an active number deleted", sql(db, "DELETE FROM custom_numbers WHERE id = 'cn1'"), SENDERS, a),
        ("an approved name", sql(db, "INSERT INTO business_names (id, account_id, businessname, name_key, status, "
                                     "created_by, requested_at, created_at, updated_at, acma_status) VALUES "
                                     "('bn1', :a, 'Acme', 'acme', 'APPROVED', 'cli', :now, :now, :now, "
                                     "'not_submitted')", **row), SENDERS, a),
        ("its ACMA status", sql(db, "UPDATE business_names SET acma_status = 'registered' WHERE id = 'bn1'"),
         SENDERS, a),
        ("its authorised providers", sql(db, "UPDATE business_names SET acma_providers = '[\"primary\"]' "
                                             "WHERE id = 'bn1'"), SENDERS, a),
        ("its providers cleared", sql(db, "UPDATE business_names SET acma_providers = NULL WHERE id = 'bn1'"),
         SENDERS, a),
        ("its name renamed", sql(db, "UPDATE business_names SET businessname = 'ACME' WHERE id = 'bn1'"),
         SENDERS, a),
        ("its approval withdrawn", sql(db, "UPDATE business_names SET status = 'WITHDRAWN' WHERE id = 'bn1'"),
         SENDERS, a),
        ("approved again", sql(db, "UPDATE business_names SET status = 'APPROVED' WHERE id = 'bn1'"), SENDERS, a),
        ("an approved name deleted", sql(db, "DELETE FROM business_names WHERE id = 'bn1'"), SENDERS, a),
        ("an account deleted", sql(db, "DELETE FROM accounts WHERE id = :o", o=other.id), KEYS, other.id),
    ]
    if not db.is_sqlite:  # the outbox wakes other processes' workers on PostgreSQL only
        cases.append(("a message queued", sql(
            db, "INSERT INTO outbox (id, kind, account_id, to_number, sender, body, status, attempts, "
                "next_attempt_at, created_at, updated_at) VALUES ('m1', 'sms', :a, '+61491570157', 'Acme', "
                "'hi', 'queued', 0, :now, :now, :now)", **row), OUTBOX, ""))
    for what, change, channel, account_id in cases:
        assert signal(channel, account_id) in heard.after(change), what
