"""Connections and transactions, and the few places the two databases differ.

Two kinds of transaction:

* :meth:`Database.write` takes the write lock up front on SQLite
  (``BEGIN IMMEDIATE``), so concurrent writers queue on the busy timeout
  instead of failing with "database is locked" half-way through;
* :meth:`Database.read` runs without a transaction of its own: each statement
  reads the latest committed state (autocommit on PostgreSQL, per-statement WAL
  snapshots on SQLite), so a single read costs one round trip and no BEGIN/COMMIT.

Transactions nest by joining: a ``write()`` or ``read()`` opened while this thread
already holds a write transaction runs inside it. That is how one request makes
one transaction (the Idempotency-Key row, the domain's writes and the stored
response commit together, see :mod:`senderid.domain.idempotency`). Work that must
wait for the commit (waking the worker, forgetting cached senders) is handed to
:meth:`Database.after_commit`.

Between processes on one SQLite file, a write also takes the file's write turn
(:mod:`senderid.store.sqlite_writer`) before its ``BEGIN IMMEDIATE``, so that the turn
passes to another process at once rather than after SQLite's busy back-off.

:meth:`Database.lock` serialises work on keys (a number, an account) across
processes: transaction-scoped advisory locks on PostgreSQL, taken in one
statement; nothing on SQLite, where a write transaction already excludes all others.

:meth:`Database.count` counts the statements and transactions run, for the query
budget tests (``tests/api/test_query_budget.py``).

PostgreSQL connections are not pinged before use: a connection the server or
network dropped is noticed locally at checkout (psycopg marks it closed or broken)
and replaced; connections are recycled every :data:`PG_RECYCLE_SECONDS`; connect,
pool-wait, statement and lock times are bounded by the database timeout
(``SENDERID_DATABASE_TIMEOUT_SECONDS``), idle-in-transaction time too. The server
enforces the statement and lock timeouts, which a server or network gone silent on an
open connection never sends: so every wait on the server (a statement, COMMIT,
ROLLBACK) also ends on this side, :data:`PG_ANSWER_GRACE_SECONDS` after the timeout,
and the silent connection is closed and discarded (:mod:`senderid.store.pgconn`;
:func:`without_deadline` lifts that for a migration). On SQLite the busy timeout and
the wait for this process's writer lock are that timeout. Past it the work fails with
:class:`DatabaseUnavailable` or SQLAlchemy's ``OperationalError`` / ``TimeoutError``
(see :func:`is_unavailable`), which the API answers with a 503.

Statement parameters never appear in errors or logs (``hide_parameters``): they
hold SMS text, OTP codes included.
"""

from __future__ import annotations

import functools
import hashlib
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, create_engine, event, exc, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import StaticPool

from senderid.store.sqlite_writer import WriterLock, WriteTurn

DEFAULT_TIMEOUT_SECONDS = 5.0  # SENDERID_DATABASE_TIMEOUT_SECONDS' default
PG_MIN_CONNECT_TIMEOUT_SECONDS = 2  # libpq's floor: smaller values mean 2
PG_IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000
PG_RECYCLE_SECONDS = 1800
# How long past the database timeout this side waits for an answer: the server's own
# statement timeout, when it can still be heard, comes first.
PG_ANSWER_GRACE_SECONDS = 0.25


class DatabaseUnavailable(Exception):
    """The database did not answer in time (or at all)."""


def is_unavailable(error: BaseException) -> bool:
    """True for the errors that mean "the database is unreachable, too slow or too busy"
    rather than "this statement is wrong": the API answers those with a 503."""
    if isinstance(error, (DatabaseUnavailable, exc.TimeoutError, exc.DisconnectionError)):
        return True
    if not isinstance(error, exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if not isinstance(error, (exc.OperationalError, exc.InterfaceError)):
        return False
    if type(error.orig).__module__.startswith("sqlite3"):
        # SQLite reports missing tables and columns as OperationalError too: those are a
        # broken deployment (a 500). Busy, locked or unreadable is unavailability.
        text_ = str(error.orig).lower()
        return any(word in text_ for word in _SQLITE_UNAVAILABLE)
    # psycopg: connection failures, timeouts (statement, lock), server shutdown, too many
    # connections: all mean "not now".
    return True


_SQLITE_UNAVAILABLE = ("locked", "busy", "unable to open", "disk i/o", "readonly", "full")


def normalise_url(url: str) -> str:
    """Pick the driver for plain URLs: ``postgresql://`` -> psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def upsert(conn: Connection, table: Any) -> Any:
    """``INSERT`` with this dialect's ``ON CONFLICT`` clauses (the two spell it the same)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def lock_key(key: str) -> int:
    """The 64-bit advisory lock number of ``key``."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


@dataclass
class Counts:
    """Statements (BEGIN/COMMIT/ROLLBACK excluded) and transactions seen while counting."""

    statements: list[str] = field(default_factory=list)
    transactions: int = 0  # write transactions opened (joined ones are not new)
    reads: int = 0  # read blocks run outside a write transaction

    @property
    def total(self) -> int:
        return len(self.statements)


_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK")


class _Local(threading.local):
    def __init__(self) -> None:
        self.conn: Connection | None = None  # this thread's open write transaction
        self.after: list[Callable[[], None]] = []
        self.failed = False  # a joined block raised: the transaction must not commit
        self.reads_only = False  # this thread may not write (see Database.reads_only)


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.url = normalise_url(url)
        self.timeout = timeout
        self.engine = _create_engine(self.url, pool_size, timeout)
        self.dialect = self.engine.dialect.name
        self.is_sqlite = self.dialect == "sqlite"
        # SQLite's one writer at a time: this process's writers queue on a lock, then take
        # the file's turn, handed between processes without SQLite's busy back-off.
        self._turn = WriteTurn(_file_writer(self.url), timeout, DatabaseUnavailable) if self.is_sqlite else None
        self._local = _Local()
        self._counting: list[Counts] = []

        @event.listens_for(self.engine, "before_cursor_execute")
        def _count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if self._counting and not statement.lstrip().upper().startswith(_CONTROL):
                for counts in self._counting:
                    counts.statements.append(statement)

    # -- transactions -------------------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        return self._local.conn is not None

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction; inside another one of this thread, that one."""
        outer = self._local.conn
        if outer is not None:
            with self._joined(outer):
                yield outer
            return
        if self._local.reads_only:
            raise RuntimeError("a write where only reads may run (Database.reads_only)")
        for counts in self._counting:
            counts.transactions += 1
        if self._turn is not None:
            with self._turn.take():
                with self.engine.connect() as conn:
                    conn = conn.execution_options(sqlite_immediate=True)
                    with self._open(conn):
                        yield conn
        else:
            with self.engine.connect() as conn, self._open(conn):
                yield conn
        self._run_after_commit()

    @contextmanager
    def turn_if_free(self) -> Iterator[bool]:
        """Take SQLite's write turn for the block if it is free now, without waiting.

        Yields True when this thread now holds it (the writes of the block then take it
        without waiting), False when another thread or process holds it, or on PostgreSQL,
        where there is no turn to take. The API runs a short request on the event loop
        itself when this yields True, and in a worker thread otherwise: the loop never
        waits for a lock.
        """
        if self._turn is None or self._local.conn is not None:
            yield False
            return
        with self._turn.take_if_free() as held:
            yield held

    @contextmanager
    def reads_only(self) -> Iterator[None]:
        """No write transaction may start on this thread inside the block: the API's
        event loop runs short reads on SQLite, where a write could wait for the turn."""
        saved, self._local.reads_only = self._local.reads_only, True
        try:
            yield
        finally:
            self._local.reads_only = saved

    @property
    def rollback_only(self) -> bool:
        """True when a block that joined this thread's transaction failed: whatever the
        caller makes of the error, that transaction must roll back."""
        return self._local.failed

    @contextmanager
    def _joined(self, conn: Connection) -> Iterator[None]:
        try:
            yield
        except BaseException:
            self._local.failed = True
            raise

    @contextmanager
    def _open(self, conn: Connection) -> Iterator[None]:
        self._local.conn, self._local.after, self._local.failed = conn, [], False
        try:
            with conn.begin():
                yield
        except BaseException:
            self._local.after = []
            raise
        finally:
            self._local.conn, self._local.failed = None, False

    def _run_after_commit(self) -> None:
        callbacks, self._local.after = self._local.after, []
        for callback in callbacks:
            callback()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once this thread's write transaction commits (at once outside
        one; never when it rolls back)."""
        if self._local.conn is None:
            callback()
        elif callback not in self._local.after:
            self._local.after.append(callback)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """Reads, each statement seeing the latest committed state (or, inside a write
        transaction of this thread, that transaction's state)."""
        outer = self._local.conn
        if outer is not None:
            with self._joined(outer):
                yield outer
            return
        for counts in self._counting:
            counts.reads += 1
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn = conn.execution_options(sqlite_autocommit=True)
                with conn.begin():
                    yield conn
            else:
                yield conn.execution_options(isolation_level="AUTOCOMMIT")

    def lock(self, conn: Connection, *keys: str) -> None:
        """Hold locks on ``keys`` (in that order) until ``conn``'s transaction ends."""
        if self.is_sqlite or not keys:
            return
        conn.execute(_lock_statement(len(keys)), {f"k{i}": lock_key(key) for i, key in enumerate(keys)})

    # -- the rest ----------------------------------------------------------------------

    @contextmanager
    def count(self) -> Iterator[Counts]:
        """Count what runs on this database (every thread) inside the block."""
        counts = Counts()
        self._counting.append(counts)
        try:
            yield counts
        finally:
            self._counting.remove(counts)

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()
        if self._turn is not None and self._turn.file is not None:
            self._turn.file.close()


def _file_writer(url: str) -> WriterLock | None:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return WriterLock(Path(database))


@functools.lru_cache(maxsize=4)
def _lock_statement(count: int) -> Any:
    return text("SELECT " + ", ".join(f"pg_advisory_xact_lock(:k{i})" for i in range(count)))


def json_text(value: Any) -> str:
    """A JSON column's text (audit details, event payloads, stored headers), by orjson: the
    standard library's encoder was a visible part of every write's CPU."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _create_engine(url: str, pool_size: int, timeout: float) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return _create_pg_engine(url, pool_size, timeout)
    busy_ms = int(timeout * 1000)
    kwargs: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": timeout},
        "hide_parameters": True,
        "json_serializer": json_text,
    }
    if not parsed.database or parsed.database == ":memory:":
        kwargs["poolclass"] = StaticPool
    else:
        kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_timeout=timeout)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module: we emit BEGIN.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get("sqlite_autocommit", False):
            return  # the sqlite3 module runs each statement in its own transaction
        # On the driver's connection: the statement is fixed, and SQLAlchemy's execution of
        # it cost as much as a hot statement's. An error still comes out as SQLAlchemy's.
        begin = "BEGIN IMMEDIATE" if options.get("sqlite_immediate", False) else "BEGIN"
        try:
            conn.connection.dbapi_connection.execute(begin)  # type: ignore[union-attr]  # sqlite3's
        except Exception as error:
            conn._handle_dbapi_exception(error, begin, (), None, None)

    return engine


def answer_deadline(timeout: float) -> float:
    """How long a PostgreSQL connection waits for the server's answer to one call."""
    return timeout + PG_ANSWER_GRACE_SECONDS


@contextmanager
def without_deadline(conn: Connection) -> Iterator[None]:
    """Let ``conn`` wait on the server as long as it takes inside the block (a migration,
    whose statements run without the statement timeout)."""
    raw = conn.connection.dbapi_connection
    saved = getattr(raw, "answer_within", None)
    if saved is None:
        yield
        return
    raw.answer_within = None  # type: ignore[union-attr]  # a deadline connection: checked by the caller
    try:
        yield
    finally:
        raw.answer_within = saved  # type: ignore[union-attr]  # the same connection as above


def _create_pg_engine(url: str, pool_size: int, timeout: float) -> Engine:
    from senderid.store import pgconn

    statement_ms = int(timeout * 1000)
    options = (
        f"-c statement_timeout={statement_ms} -c lock_timeout={statement_ms} "
        f"-c idle_in_transaction_session_timeout={PG_IDLE_IN_TRANSACTION_TIMEOUT_MS}"
    )
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        pool_recycle=PG_RECYCLE_SECONDS,
        pool_timeout=timeout,
        hide_parameters=True,
        json_serializer=json_text,
        connect_args={
            "connect_timeout": max(PG_MIN_CONNECT_TIMEOUT_SECONDS, math.ceil(timeout)),
            "options": options,
        },
    )

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        return pgconn.connect(*cargs, answer_within=answer_deadline(timeout), **cparams)

    @event.listens_for(engine, "handle_error")
    def _on_error(context: Any) -> None:
        if isinstance(context.original_exception, pgconn.NoAnswer):
            # The connection is closed already. The others in the pool went through the same
            # server and network: each is replaced at its next checkout, none is trusted.
            context.is_disconnect = True
            context.invalidate_pool_on_disconnect = True

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        # No round trip: psycopg knows locally when a connection was closed or broke
        # (the pool then opens a fresh one).
        if dbapi_conn.closed or getattr(dbapi_conn, "broken", False):
            raise exc.DisconnectionError("connection closed")

    return engine
