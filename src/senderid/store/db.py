"""Connections and transactions, and the few places the two databases differ.

Two kinds of transaction:

* :meth:`Database.write` takes the write lock up front on SQLite
  (``BEGIN IMMEDIATE``), so concurrent writers queue on the busy timeout
  instead of failing with "database is locked" half-way through;
* :meth:`Database.read` is a plain transaction (WAL readers never block).

:meth:`Database.lock` serialises work on one key (a number, an account)
across processes: a transaction-scoped advisory lock on PostgreSQL, and
nothing on SQLite, where a write transaction already excludes all others.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import StaticPool

SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalise_url(url: str) -> str:
    """Pick the driver for plain URLs: ``postgresql://`` -> psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = normalise_url(url)
        self.engine = _create_engine(self.url, pool_size)
        self.dialect = self.engine.dialect.name
        self.is_sqlite = self.dialect == "sqlite"
        self._sqlite_writer = threading.RLock()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        if not self.is_sqlite:
            with self.engine.connect() as conn, conn.begin():
                yield conn
            return
        # SQLite has one writer at a time anyway: queueing this process's writers on a lock
        # is fairer and cheaper than letting them spin in sqlite3's busy-timeout back-off.
        with self._sqlite_writer, self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_immediate=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """Reads. On SQLite each statement runs on its own WAL snapshot (no BEGIN/COMMIT
        round trip): reads here never need two statements to agree exactly."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn = conn.execution_options(sqlite_autocommit=True)
            with conn.begin():
                yield conn

    def lock(self, conn: Connection, key: str) -> None:
        """Hold a lock on ``key`` until ``conn``'s transaction ends."""
        if self.is_sqlite:
            return
        digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": digest})

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()


def _create_engine(url: str, pool_size: int) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
        )
    kwargs: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    }
    if not parsed.database or parsed.database == ":memory:":
        kwargs["poolclass"] = StaticPool
    else:
        kwargs.update(pool_size=pool_size, max_overflow=pool_size)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module: we emit BEGIN.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get("sqlite_autocommit", False):
            return  # the sqlite3 module runs each statement in its own transaction
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("sqlite_immediate", False) else "BEGIN")

    return engine
