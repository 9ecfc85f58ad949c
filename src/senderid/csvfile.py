"""Every CSV senderid writes, written one way: no cell is a formula to a spreadsheet; and
the one way CSV files are read (:func:`records`).

The console's downloads and the export for ACMA's SMS Sender ID Register (CLI, console
and admin API) all come from :func:`lines`, and every cell from :func:`cell`, under one
rule:

* a phone number (:class:`Phone`, E.164) is its digits without the ``+``:
  ``61491570156``. A leading ``+`` starts a formula in a spreadsheet; the digits are still
  the whole international number (country code first), read alike by a person, a
  spreadsheet and a program, with no mark to strip;
* any other cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets
  a leading ``'`` (OWASP's rule): a spreadsheet shows it as text, so a business name
  ``-A1`` reads ``'-A1`` in the file;
* ``None`` is an empty cell, a boolean ``true`` / ``false``, a time ISO 8601 in UTC with
  milliseconds, a dict or list its JSON.

Quoting is RFC 4180 (a comma, a quote or a line break in a cell quotes it). Files are
UTF-8; :func:`lines` adds a byte-order mark when asked (spreadsheets need it to read
names that are not ASCII) and ends lines as asked.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from senderid.clock import iso_ms

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class Phone:
    """A phone number in E.164 (``+61491570156``), written as ``61491570156``."""

    e164: str


def phone(value: str | None) -> Phone | None:
    return None if value is None else Phone(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Phone):
        digits = value.e164[1:]
        return digits if value.e164.startswith("+") and digits.isascii() and digits.isdigit() else value.e164
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso_ms(value) or ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


def cell(value: Any) -> str:
    """One cell as text that no spreadsheet runs as a formula."""
    text = _text(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def lines(header: Sequence[str], rows: Iterable[Sequence[Any]], *, bom: bool = False,
          line_end: str = "\r\n") -> Iterator[str]:
    """The CSV text, a chunk per row (the header first, after the byte-order mark if ``bom``):
    a download can stream it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=line_end)

    def line(values: Sequence[Any]) -> str:
        writer.writerow([cell(v) for v in values])
        chunk = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return chunk

    yield (BOM if bom else "") + line(header)
    for row in rows:
        yield line(row)


def text(header: Sequence[str], rows: Iterable[Sequence[Any]], *, bom: bool = False,
         line_end: str = "\r\n") -> str:
    """The whole CSV as one string (see :func:`lines`)."""
    return "".join(lines(header, rows, bom=bom, line_end=line_end))


def records(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows of a CSV file with a header row, each with its line number (the header is
    line 1) and its cells by column name; names and missing cells as empty strings, names
    stripped of spaces."""
    reader = csv.DictReader(io.StringIO(text))
    for line, row in enumerate(reader, start=2):
        yield line, {(name or "").strip(): (value or "") for name, value in row.items()}


def header(text: str) -> list[str]:
    """The column names of a CSV file's header row (stripped), or none for an empty file."""
    return [name.strip() for name in next(csv.reader(io.StringIO(text)), [])]
