"""Logs on stderr: one JSON object per line (``SENDERID_LOG_FORMAT=json``, for production
and log shippers), or one readable line per record (``text``, for development; the level
is coloured when stderr is a terminal). Both carry the same fields.

No log line carries a database row's values: statement parameters are hidden by the
engine (``hide_parameters``), and the ``DETAIL`` line of a PostgreSQL error (``Failing
row contains (...)``, ``Key (...)=(...)``), which repeats them, is cut from every
message and traceback here. Rows hold SMS text, OTP codes included.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any

import orjson

# LogRecord attributes that are not "extra" fields.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}


_DETAIL = re.compile(r"^(\s*DETAIL:).*$", re.MULTILINE)
_PARAMETERS = re.compile(r"\[parameters: .*?\]$", re.MULTILINE | re.DOTALL)
HIDDEN = r"\1  (hidden: it repeats the row's values)"


def scrub(text: str) -> str:
    """``text`` without the parts of database errors that repeat a row's values."""
    if "DETAIL:" in text:
        text = _DETAIL.sub(HIDDEN, text)
    if "[parameters: " in text:
        text = _PARAMETERS.sub("[parameters hidden]", text)
    return text


class JsonFormatter(logging.Formatter):
    converter = time.gmtime

    def formatException(self, ei) -> str:  # type: ignore[no-untyped-def]
        return scrub(super().formatException(ei))

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


_COLOURS = {"DEBUG": "\033[2m", "INFO": "\033[32m", "WARNING": "\033[33m", "ERROR": "\033[31m",
            "CRITICAL": "\033[1;31m"}
_RESET = "\033[0m"


class TextFormatter(logging.Formatter):
    """``2026-12-02T00:49:12.123Z WARNING senderid.settings: message key=value ...``"""

    converter = time.gmtime

    def __init__(self, *, colour: bool = False) -> None:
        super().__init__()
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        level = record.levelname
        if self.colour:
            level = f"{_COLOURS.get(level, '')}{level}{_RESET}"
        extra = " ".join(
            f"{key}={value}" for key, value in vars(record).items()
            if key not in _STANDARD and not key.startswith("_")
        )
        line = (f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S')}.{int(record.msecs):03d}Z {level} "
                f"{record.name}: {record.getMessage()}{' ' + extra if extra else ''}")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure(log_format: str = "json", level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "text":
        handler.setFormatter(TextFormatter(colour=sys.stderr.isatty()))
    else:
        handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # replaced by senderid.access
