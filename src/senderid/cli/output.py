"""How operator commands print data: one table style, one time format, one number rule.

* A table goes to stdout: a header row in capitals, columns as wide as their widest
  cell, two spaces apart. An empty result prints nothing on stdout and says so on stderr
  (``no accounts``), so a script reading stdout sees no rows and a person sees why.
* ``--json`` prints the same rows as one JSON array (or object, for ``outbox stats``) on
  stdout, for ``jq`` and scripts; an empty result is ``[]``.
* Times are UTC and say so: ``2026-12-02 00:49:12 UTC`` in tables, ISO 8601 with
  milliseconds and ``Z`` in JSON (the API's format).
* Mobile numbers are masked in everything the CLI prints, tables and JSON alike
  (``+614915***56``, :func:`senderid.numbers.mask`, the same as the logs). The console
  and the admin API, behind the admin token, show them whole: that is where an operator
  looks one case up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import typer

from senderid import numbers
from senderid.clock import iso_ms

JSON_HELP = "Print the result as JSON on stdout (for scripts)."


def when(value: datetime | None) -> str:
    """A time for a table: ``2026-12-02 00:49:12 UTC``; ``-`` for none."""
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def masked(number: str | None) -> str | None:
    """A mobile number as the CLI prints it (the logs' mask); None stays None."""
    return numbers.mask(number) if number else number


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, empty: str) -> None:
    """Print ``rows`` under ``headers``, or ``empty`` on stderr when there are none."""
    if not rows:
        typer.echo(empty, err=True)
        return
    cells = [[("-" if cell is None else str(cell)) for cell in row] for row in rows]
    widths = [max(len(headers[i]), *(len(row[i]) for row in cells)) for i in range(len(headers))]
    for row in [list(headers), *cells]:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip())


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_ms(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def emit_json(data: Sequence[Mapping[str, object]] | Mapping[str, object]) -> None:
    """``data`` as indented JSON on stdout (datetimes as the API writes them)."""
    typer.echo(
        orjson.dumps(data, default=_default, option=orjson.OPT_INDENT_2 | orjson.OPT_PASSTHROUGH_DATETIME).decode()
    )
