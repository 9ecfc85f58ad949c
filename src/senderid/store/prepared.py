"""The hot statements on the driver's cursor: compiled once per dialect, then run without
SQLAlchemy's work per execution.

``conn.execute(statement, params)`` works out the statement's cache key on every call (a
walk of the whole statement: for add's one read of a number's state, about 80 µs of the
100 µs it took on SQLite), then builds an execution context and a result object. A
:class:`Prepared` statement is compiled by SQLAlchemy once per dialect, and each run binds
the values through the same type processors, hands the SQL text to the DB-API cursor
(``sqlite3``, whose statement cache keeps it prepared; psycopg, which prepares a query it
sees often), and reads the rows back through the same result processors.

Everything else of an execution is kept:

* the statement is announced to the engine's ``before_cursor_execute`` listeners, so the
  query budgets (:meth:`senderid.store.db.Database.count`) count it;
* a driver error goes through SQLAlchemy's own handling: it comes out wrapped
  (``IntegrityError``, ``OperationalError``, …) with its parameters hidden, and a lost
  connection is invalidated as usual;
* the connection and transaction are the caller's (:meth:`Database.write` / ``read``).

Only statements whose values all come from the caller or the statement itself qualify: a
column default computed in Python, or a list expanded at execution time, is refused when
the statement is compiled (use ``conn.execute`` for those).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.sql import ClauseElement, Insert


@dataclass(slots=True)
class _Compiled:
    sql: str
    positional: tuple[str, ...] | None  # the parameters' order (qmark), or None (named)
    names: tuple[str, ...]  # every parameter the SQL takes
    static: dict[str, Any]  # values the statement carries itself (literals bound as parameters)
    bind: tuple[tuple[str, Callable[[Any], Any]], ...]  # type processors of the parameters
    row: Callable[..., Any] | None  # the row class, None for a statement returning nothing
    types: tuple[Any, ...]  # per column, its SQLAlchemy type
    # per column, its result processor: worked out at the first run, from the driver's
    # description of the columns (PostgreSQL's numeric types need their type code)
    results: tuple[Callable[[Any], Any] | None, ...] | None = None


class Rows:
    """What a :class:`Prepared` run returned (all fetched already)."""

    __slots__ = ("rowcount", "_rows")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows, self.rowcount = rows, rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return self._rows

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if len(self._rows) != 1:
            raise (NoResultFound if not self._rows else MultipleResultsFound)(
                f"expected one row, got {len(self._rows)}")
        return self._rows[0]

    def one_or_none(self) -> Any:
        if len(self._rows) > 1:
            raise MultipleResultsFound(f"expected at most one row, got {len(self._rows)}")
        return self.first()

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalars(self) -> list[Any]:
        return [row[0] for row in self._rows]


class Prepared:
    """One statement, compiled once per dialect and run on the driver's cursor.

    ``keys``: for an INSERT or an UPDATE without ``values()``, the columns it is given;
    without them, the names of each run's parameters (compiled once per set of names, in
    their order: a call site passes the same names each time). The other columns of an
    INSERT take their server-side defaults.
    """

    __slots__ = ("statement", "keys", "_compiled")

    def __init__(self, statement: ClauseElement, keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.keys = None if keys is None else list(keys)
        self._compiled: dict[Any, _Compiled] = {}

    def compiled(self, dialect: Dialect, params: Mapping[str, Any]) -> _Compiled:
        key = (dialect.name, tuple(params)) if self.keys is None else dialect.name
        found = self._compiled.get(key)
        if found is None:
            keys = self.keys if self.keys is not None else list(params)
            found = self._compiled[key] = _compile(self.statement, keys, dialect)
        return found

    def run(self, conn: Connection, params: Mapping[str, Any]) -> Rows:
        """Run with ``params`` in ``conn``'s transaction."""
        c = self.compiled(conn.dialect, params)
        values = {**c.static, **params} if c.static else dict(params)
        for name, process in c.bind:
            values[name] = process(values[name])
        args: Any = tuple([values[name] for name in c.positional]) if c.positional is not None else values
        raw = conn.connection.dbapi_connection
        assert raw is not None  # a checked-out connection
        cursor = raw.cursor()
        try:
            if conn._has_events or conn.engine._has_events:
                conn.dispatch.before_cursor_execute(conn, cursor, c.sql, args, None, False)
            cursor.execute(c.sql, args)
            rows: list[Any] = list(cursor.fetchall()) if c.row is not None else []
            rowcount = cursor.rowcount
            if rows and c.results is None:
                c.results = tuple(type_._cached_result_processor(conn.dialect, column[1])
                                  for type_, column in zip(c.types, cursor.description, strict=True))
        except Exception as error:
            conn._handle_dbapi_exception(error, c.sql, args, cursor, None)
        finally:
            cursor.close()
        if rows:
            row, results = c.row, c.results
            assert row is not None and results is not None
            rows = [row(*[value if process is None else process(value)
                          for value, process in zip(raw_row, results, strict=True)]) for raw_row in rows]
        return Rows(rows, rowcount)


def _mapping(row: Any) -> dict[str, Any]:
    return dict(zip(row._fields, row, strict=True))


def _compile(statement: ClauseElement, keys: list[str], dialect: Dialect) -> _Compiled:
    if isinstance(statement, Insert) and not statement._returning:
        statement = statement.inline()  # no implicit RETURNING of the new key: nobody reads it
    compiled: Any = statement.compile(dialect=dialect, column_keys=keys)
    if compiled.insert_prefetch or compiled.update_prefetch:
        raise ValueError("a column default computed in Python: run this statement with conn.execute")
    if compiled.literal_execute_params or compiled.post_compile_params:
        raise ValueError("a parameter expanded at execution: run this statement with conn.execute")
    names = tuple(compiled.bind_names.values())
    given = set(keys) | {bind.key for bind in compiled.bind_names if bind.required}
    static = {name: bind.effective_value for bind, name in compiled.bind_names.items()
              if not bind.required and name not in given}
    processors = compiled._bind_processors
    bind = tuple((name, processors[name]) for name in dict.fromkeys(names) if name in processors)
    columns = compiled._result_columns or []
    row: Callable[..., Any] | None = None
    if columns:
        fields = tuple(column.keyname for column in columns)
        # A row reads like SQLAlchemy's: by position, by attribute, and as row._mapping.
        row = type("Row", (namedtuple("Row", fields),), {"__slots__": (), "_mapping": property(_mapping)})
    positional = tuple(compiled.positiontup) if compiled.positional else None
    return _Compiled(compiled.string, positional, names, static, bind, row,
                     tuple(column.type for column in columns))
