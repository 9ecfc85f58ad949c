"""Many rows into one table in one statement: ``COPY`` on PostgreSQL, a multi-row ``INSERT`` on SQLite.

A gateway call of 1,000 contacts writes 1,000 outbox rows (and a short link per message
and link). As a multi-row ``INSERT`` on PostgreSQL that is one statement of 20,000
placeholders, which the driver parses afresh every time (too long for its statement
cache) and the server plans afresh: measured, about 4 times the cost of ``COPY ... FROM
STDIN`` (psycopg 3's ``cursor.copy()``), which streams the rows in the same transaction
and round trip. SQLite has no ``COPY``; there the rows go as before, SQLAlchemy's multi-row
``INSERT ... RETURNING`` ("insertmanyvalues"): measured through the gateway, an
``executemany`` of one ``INSERT`` cost the server about 30 % more CPU per SMS.

What ``COPY`` writes is what SQLAlchemy would bind: each value goes through its column
type's bind processor (so a :class:`~senderid.store.coltypes.UTCDateTime` is stored as the
same naive UTC timestamp). ``COPY`` fires the table's ``INSERT`` triggers like an
``INSERT`` does (the outbox's statement-level ``NOTIFY`` among them). It is counted by
:meth:`senderid.store.db.Database.count` as one statement, and a driver error comes out
as SQLAlchemy's, as from ``Connection.execute`` (an ``IntegrityError`` for a duplicate key,
an ``OperationalError`` the API answers with a 503).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, exc, insert


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (every one with the same keys, columns of ``table``) in ``conn``'s
    transaction, in one statement."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(_insert(table), list(rows))  # the primary keys come back, unused: see above
        return
    columns = tuple(rows[0])
    sql = _copy_sql(table, columns)
    processors = _processors(conn, table, columns)
    raw = conn.connection.dbapi_connection
    if raw is None:  # pragma: no cover - a connection in a transaction always has one
        raise exc.ResourceClosedError("the connection is closed")
    cursor = raw.cursor()
    conn.dispatch.before_cursor_execute(conn, cursor, sql, (), None, False)
    try:
        with cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row([value if process is None else process(value)
                                for value, process in zip((row[c] for c in columns), processors, strict=True)])
    except Exception as error:
        raise _wrapped(conn, sql, error, closed=bool(getattr(raw, "closed", False))) from error
    finally:
        cursor.close()


def _wrapped(conn: Connection, sql: str, error: Exception, *, closed: bool) -> BaseException:
    """The driver's ``error`` as SQLAlchemy's (parameters hidden); a connection the driver
    closed is discarded, not handed back to the pool."""
    import psycopg

    if not isinstance(error, psycopg.Error):
        return error
    if closed:
        conn.invalidate(error)
    return exc.DBAPIError.instance(sql, None, error, psycopg.Error, hide_parameters=True,
                                   connection_invalidated=closed, dialect=conn.dialect)


@functools.lru_cache(maxsize=32)
def _insert(table: Table) -> Any:
    # RETURNING makes SQLAlchemy send many rows as multi-row INSERTs ("insertmanyvalues")
    return insert(table).returning(*table.primary_key.columns)


@functools.lru_cache(maxsize=32)
def _copy_sql(table: Table, columns: tuple[str, ...]) -> str:
    for name in columns:
        if name not in table.c:
            raise KeyError(f"{table.name} has no column {name!r}")
    return f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"


def _processors(conn: Connection, table: Table, columns: tuple[str, ...]) -> list[Callable[[Any], Any] | None]:
    return [table.c[name].type._cached_bind_processor(conn.dialect) for name in columns]
