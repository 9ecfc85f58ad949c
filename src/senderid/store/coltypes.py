"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sqlalchemy import ColumnElement, DateTime, String, literal_column
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out.

    Stored as naive UTC (SQLite has no time zones), so values compare
    correctly in SQL on both databases.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        """On SQLite, the stored text in one step: what :meth:`process_bind_param` and
        SQLite's ``DATETIME`` make between them (``2026-12-02 00:49:12.000123``, always
        with the microseconds, so that text compares as time), by ``datetime.isoformat``
        instead of a ``%`` format of seven fields: every write binds several times."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            if value.tzinfo is not UTC:
                value = value.astimezone(UTC)
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")

        return process



class _Truncated(FunctionElement[datetime]):
    """A UTC time cut down to the start of its hour or day, the same on both databases:
    PostgreSQL's ``date_trunc``, SQLite's ``strftime`` (naive UTC text, read back as a time)."""

    type = UTCDateTime()
    inherit_cache = True
    unit = ""  # hour | day: one class each, so that the statement cache tells them apart
    pattern = ""

    def __init__(self, column: ColumnElement[datetime]) -> None:
        super().__init__(column)


class hour_start(_Truncated):  # noqa: N801 - an SQL function, named like one
    """The start of the hour of a UTC time column."""

    inherit_cache = True
    name = "hour_start"
    unit, pattern = "hour", "%Y-%m-%d %H:00:00"


class day_start(_Truncated):  # noqa: N801 - an SQL function, named like one
    """The start of the day (UTC) of a UTC time column."""

    inherit_cache = True
    name = "day_start"
    unit, pattern = "day", "%Y-%m-%d 00:00:00"


@compiles(_Truncated, "postgresql")
def _truncated_postgresql(element: _Truncated, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date_trunc('{element.unit}', {compiler.process(element.clauses, **kw)})"


@compiles(_Truncated, "sqlite")
def _truncated_sqlite(element: _Truncated, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strftime('{element.pattern}', {compiler.process(element.clauses, **kw)})"


def constant(value: str | Enum) -> ColumnElement[str]:
    """A string constant written into the statement's text instead of bound as a parameter.

    For comparisons with a column that a partial index's ``WHERE`` names (the ``status`` of
    ``custom_numbers`` and ``business_names``): SQLite re-prepares a statement on every
    execution when a bound value is compared with such a column (whether the partial index
    may be used depends on the value), which made those statements about ten times dearer.
    Only for the code's own constants: the text is part of the statement (and of its cache key)."""
    text = str(value.value if isinstance(value, Enum) else value)
    return literal_column("'" + text.replace("'", "''") + "'", String)


def constants(values: Iterable[str | Enum]) -> list[ColumnElement[str]]:
    """:func:`constant` of each value, for ``column.in_(constants(...))``."""
    return [constant(value) for value in values]
