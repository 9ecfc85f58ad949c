"""The access log's line: written straight to the handler ``logs.configure`` installed when
nothing else listens, and then exactly the line ``logging`` would have written; through
``logging`` (a record) whenever another handler or a filter is there."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import orjson
import pytest

from senderid import logs

# Values a request controls, and one that repeats a failing row (scrubbed in every line).
FIELDS = {
    "method": "GET",
    "path": "/api/v1/x\n2026-01-01T00:00:00.000Z INFO forged\x1b[2J\u2028",
    "status": 404,
    "duration_ms": 0.42,
    "account": None,
    "client": "203.0.113.7 status=200",
    "error": 'boom\nDETAIL:  Key (number)=(+61491570156) already exists.',
}
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


class Made:
    """Counts the log records made while it is installed as the record factory."""

    def __init__(self) -> None:
        self.count = 0
        self._factory = logging.getLogRecordFactory()

    def __call__(self, *args: object, **kwargs: object) -> logging.LogRecord:
        self.count += 1
        return self._factory(*args, **kwargs)


@pytest.fixture
def configured() -> Iterator[tuple[io.StringIO, Made]]:
    """``logs.configure`` in effect on a stream of our own; the logging set-up restored after."""
    root = logging.getLogger()
    uvicorn = [(logging.getLogger(name), logging.getLogger(name).handlers[:], logging.getLogger(name).propagate)
               for name in ("uvicorn", "uvicorn.error")]
    saved = root.handlers[:], root.level, logs._installed, logging.getLogger("uvicorn.access").disabled
    access = logging.getLogger("senderid.access")
    disabled = access.disabled
    stream = io.StringIO()
    made = Made()
    logging.setLogRecordFactory(made)
    access.disabled = False
    try:
        yield stream, made
    finally:
        logging.setLogRecordFactory(made._factory)
        root.handlers[:], level, logs._installed, logging.getLogger("uvicorn.access").disabled = saved
        root.setLevel(level)
        access.disabled = disabled
        for logger, handlers, propagate in uvicorn:
            logger.handlers[:] = handlers
            logger.propagate = propagate


def _configure(log_format: str, stream: io.StringIO) -> None:
    logs.configure(log_format)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)  # not sys.stderr: pytest swaps that between a fixture and its test


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_the_line_written_straight_is_the_line_logging_writes(configured, log_format: str) -> None:
    stream, made = configured
    _configure(log_format, stream)
    access = logging.getLogger("senderid.access")
    token = logs.request_id.set("case-4711")
    try:
        logs.info(access, "request", FIELDS)
        assert made.count == 0  # no record: written straight
        access.info("request", extra=FIELDS)
        assert made.count == 1
    finally:
        logs.request_id.reset(token)
    straight, through_logging = stream.getvalue().splitlines()
    assert STAMP.sub("<time>", straight) == STAMP.sub("<time>", through_logging)
    assert straight.isprintable() and "+61491570156" not in straight
    if log_format == "json":
        entry = orjson.loads(straight)
        assert STAMP.fullmatch(entry["time"])
        assert (entry["path"], entry["client"], entry["request_id"]) == (FIELDS["path"], FIELDS["client"],
                                                                         "case-4711")
    else:
        assert STAMP.match(straight)
        assert straight.endswith(" request_id=case-4711")


def test_another_handler_gets_a_record_and_a_disabled_log_writes_nothing(configured) -> None:
    stream, made = configured
    _configure("json", stream)
    access = logging.getLogger("senderid.access")
    seen: list[logging.LogRecord] = []
    listening = logging.Handler()
    listening.emit = seen.append  # type: ignore[method-assign]
    logging.getLogger("senderid").addHandler(listening)
    try:
        logs.info(access, "request", FIELDS)
    finally:
        logging.getLogger("senderid").removeHandler(listening)
    assert made.count == 1 and [r.path for r in seen] == [FIELDS["path"]]  # type: ignore[attr-defined]
    assert len(stream.getvalue().splitlines()) == 1  # and the installed handler wrote it too

    access.addFilter(lambda record: False)
    try:
        logs.info(access, "request", FIELDS)
    finally:
        access.filters.clear()
    access.disabled = True
    logs.info(access, "request", FIELDS)
    assert len(stream.getvalue().splitlines()) == 1
