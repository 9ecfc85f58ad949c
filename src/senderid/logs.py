r"""Logs on stderr: one JSON object per line (``SENDERID_LOG_FORMAT=json``, for production
and log shippers), or one readable line per record (``text``, for development; the level
is coloured when stderr is a terminal); by default (``auto``) text on a terminal and JSON
otherwise. Both carry the same fields, scrubbed and escaped alike.

No log line carries a database row's values: statement parameters are hidden by the
engine (``hide_parameters``), and the ``DETAIL`` of a PostgreSQL error (``Failing row
contains (...)``, ``Key (...)=(...)``), which repeats them, is cut from every field, to
the end of the error's own text (a value with a line break in it does not end it; the
``HINT`` and ``CONTEXT`` lines that may follow go too). So does the value a ``COPY``
error's ``CONTEXT`` line quotes (``COPY outbox, line 3, column to_number: "..."``), which
comes without a ``DETAIL`` when a value does not fit its column. Rows hold SMS text, OTP
codes included.

No field can start a line or send a terminal a control sequence: a request path or a
header with ``%0a``, ``%0d``, ``ESC``, ``NEL`` or U+2028 in it is written escaped
(``\n``, ``\r``, ``\x1b``, ``\x85``, ``\u2028``). In JSON the escapes are JSON's, so a
reader gets the exact value back; in text, a value holding a space, ``=``, ``"`` or ``\``
is written as a JSON string (``path="/a status=200"``), so it cannot pass for another
field. A text record is one line; a traceback follows it on lines that start with
``  | ``, which no record starts with.

Every line logged while a request is handled carries its ``request_id`` (the
``X-Request-ID`` the request came with, or one the server made: :data:`request_id`, set
by ``api.middleware.Edge`` for the request's task; the worker threads a request's
work runs on inherit it), and so does every audit record of a change it made.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from contextvars import ContextVar
from typing import Any

import orjson

# LogRecord attributes that are not "extra" fields.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}


# From DETAIL: to where the error's text ends: SQLAlchemy's [SQL: ...] / (Background ...)
# lines, the next exception of a traceback, or the end.
_DETAIL = re.compile(
    r"^(\s*DETAIL:).*?(?=\n(?:\[SQL: |\(Background on this error|\s*The above exception|\s*During handling of "
    r"the above exception|\s*Traceback \(most recent call last\))|\Z)",
    re.MULTILINE | re.DOTALL,
)
# A COPY error's CONTEXT line quotes the row or the value it failed on: what follows the
# line (and column) number goes, to the end of the line.
_COPY_CONTEXT = re.compile(r"^(\s*CONTEXT:\s+COPY [^:\n]*):.*$", re.MULTILINE)
_PARAMETERS = re.compile(r"\[parameters: .*?\]$", re.MULTILINE | re.DOTALL)
HIDDEN = r"\1  (hidden: it repeats the row's values)"
CONTINUATION = "  | "  # the start of each line of a traceback in text logs

_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_BARE = re.compile(r"[^\s=\"\\]+")  # a text value written as is: no space, =, " or \


request_id: ContextVar[str | None] = ContextVar("senderid_request_id", default=None)
"""The id of the request being handled in this context (None outside a request)."""


def scrub(text: str) -> str:
    """``text`` without the parts of database errors that repeat a row's values."""
    if "DETAIL:" in text:
        text = _DETAIL.sub(HIDDEN, text)
    if "CONTEXT:" in text:
        text = _COPY_CONTEXT.sub(HIDDEN, text)
    if "[parameters: " in text:
        text = _PARAMETERS.sub("[parameters hidden]", text)
    return text


def _escape_char(ch: str) -> str:
    short = _SHORT_ESCAPES.get(ch)
    if short:
        return short
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def escape(text: str) -> str:
    """``text`` with every character that is not printable (line breaks, ESC, NEL, U+2028,
    bidi controls, ...) written as a backslash escape."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape_char(ch) for ch in text)


def _json_char(ch: str) -> str:
    code = ord(ch)
    if code > 0xFFFF:  # a UTF-16 pair, as JSON writes it
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def _json(value: Any) -> str:
    """JSON on one line of printable characters: what orjson leaves raw (DEL, NEL and the other
    C1 controls, U+2028, bidi controls, ...) as ``\\uXXXX``; the value reads back the same."""
    try:
        text = orjson.dumps(value, default=str).decode()
    except orjson.JSONEncodeError:  # a lone surrogate: the standard library escapes it
        return json.dumps(value, default=str, ensure_ascii=True, separators=(",", ":"))
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _json_char(ch) for ch in text)


def _scrubbed(fields: Any) -> dict[str, Any]:
    """Extra fields (``(key, value)`` pairs), text scrubbed, and the id of the request they
    were logged in."""
    extras = {key: scrub(value) if isinstance(value, str) else value for key, value in fields}
    current = request_id.get()
    if current is not None:
        extras.setdefault("request_id", current)
    return extras


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    """The record's extra fields, text scrubbed, and the id of the request it was logged in."""
    return _scrubbed((key, value) for key, value in vars(record).items()
                     if key not in _STANDARD and not key.startswith("_"))


_second: tuple[int, str] = (0, "1970-01-01T00:00:00")  # the last second written, and its text


def _stamp(created: float) -> str:
    """``created`` (seconds since the epoch) as every line starts: ISO 8601 in UTC, to the
    millisecond (``2026-12-02T00:49:12.123Z``); the second's text is made once a second."""
    global _second
    whole = int(created)
    second = _second
    if second[0] != whole:
        second = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{second[1]}.{int((created - whole) * 1000):03d}Z"


class _LineFormatter(logging.Formatter):
    """A record as one line (:meth:`line`, which :func:`info` also calls without a record)."""

    def format(self, record: logging.LogRecord) -> str:
        exception = self.formatException(record.exc_info) if record.exc_info else None
        return self.line(record.created, record.levelname, record.name, record.getMessage(), _extras(record),
                         exception)

    def line(self, created: float, level: str, logger: str, message: str, extras: dict[str, Any],
             exception: str | None = None) -> str:
        raise NotImplementedError


class JsonFormatter(_LineFormatter):
    def formatException(self, ei: Any) -> str:
        return scrub(super().formatException(ei))

    def line(self, created: float, level: str, logger: str, message: str, extras: dict[str, Any],
             exception: str | None = None) -> str:
        entry: dict[str, Any] = {"time": _stamp(created), "level": level.lower(), "logger": logger,
                                 "message": scrub(message)}
        entry.update(extras)
        if exception is not None:
            entry["exception"] = exception
        return _json(entry)


_COLOURS = {"DEBUG": "\033[2m", "INFO": "\033[32m", "WARNING": "\033[33m", "ERROR": "\033[31m",
            "CRITICAL": "\033[1;31m"}
_RESET = "\033[0m"


def _text_value(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if text.isprintable() and _BARE.fullmatch(text) else _json(text)


class TextFormatter(_LineFormatter):
    """``2026-12-02T00:49:12.123Z WARNING senderid.settings: message key=value ...``"""

    def __init__(self, *, colour: bool = False) -> None:
        super().__init__()
        self.colour = colour

    def formatException(self, ei: Any) -> str:
        lines = scrub(super().formatException(ei)).split("\n")
        return "\n".join(CONTINUATION + escape(line) for line in lines)

    def line(self, created: float, level: str, logger: str, message: str, extras: dict[str, Any],
             exception: str | None = None) -> str:
        if self.colour:
            level = f"{_COLOURS.get(level, '')}{level}{_RESET}"
        extra = " ".join(f"{escape(key)}={_text_value(value)}" for key, value in extras.items())
        line = (f"{_stamp(created)} {level} {escape(logger)}: {escape(scrub(message))}"
                f"{' ' + extra if extra else ''}")
        if exception is not None:
            line += "\n" + exception
        return line


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]  # typeshed's stream type parameter
    """The handler :func:`configure` installs; :func:`info` writes lines through it."""

    formatter: _LineFormatter

    def write_line(self, line: str) -> None:
        with self.lock:  # type: ignore[union-attr]  # created by Handler.__init__
            self.stream.write(line + self.terminator)
            self.stream.flush()


_installed: _Stderr | None = None


def _only_to(logger: logging.Logger, handler: _Stderr) -> bool:
    """True when a record of ``logger`` at INFO would reach ``handler`` and nothing else:
    no filter on the way, no other handler (a test's, an operator's) anywhere it propagates."""
    if logger.filters or handler.filters or handler.level > logging.INFO \
            or not isinstance(handler.formatter, _LineFormatter):
        return False
    node: logging.Logger | None = logger
    while node is not None:
        if node.handlers:
            return node.parent is None and len(node.handlers) == 1 and node.handlers[0] is handler
        if not node.propagate:
            return False
        node = node.parent
    return False


def info(logger: logging.Logger, message: str, fields: dict[str, Any]) -> None:
    """``logger.info(message, extra=fields)``, the same line at a fraction of the cost when the
    handler :func:`configure` installed is the only one it would reach: it is formatted and
    written straight away, with no ``LogRecord`` (whose making, and the walk to the handler,
    cost more than the line: this is what the access log writes for every request). Any
    other arrangement (a test's or an operator's handler, a filter) gets a record, as usual."""
    if not logger.isEnabledFor(logging.INFO):
        return
    handler = _installed
    if handler is None or not _only_to(logger, handler):
        logger.info(message, extra=fields)
        return
    line = handler.formatter.line(time.time(), "INFO", logger.name, message, _scrubbed(fields.items()))
    try:
        handler.write_line(line)
    except Exception:  # as Handler.emit: a log that cannot be written must not fail the caller
        handler.handleError(logging.makeLogRecord({"name": logger.name, "msg": message, "levelno": logging.INFO,
                                                   "levelname": "INFO"}))


def configure(log_format: str = "json", level: str = "INFO") -> None:
    """Log on stderr in ``log_format`` (``auto``: text on a terminal, JSON otherwise)."""
    global _installed
    handler = _Stderr(sys.stderr)
    if log_format == "auto":
        log_format = "text" if sys.stderr.isatty() else "json"
    if log_format == "text":
        handler.setFormatter(TextFormatter(colour=sys.stderr.isatty()))
    else:
        handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    _installed = handler
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # replaced by senderid.access
