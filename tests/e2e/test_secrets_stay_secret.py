"""No OTP and no API key in any log line or audit record after a full flow; no log line a
request can forge, in either log format."""

from __future__ import annotations

import logging
import re
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from senderid.api.app import create_app
from senderid.cli.serve import proxy_options
from senderid.logs import CONTINUATION, JsonFormatter, TextFormatter
from senderid.store.tables import audit_events, custom_numbers, outbox
from tests.support.helpers import latest_code, logging_to
from tests.support.live import serve

NUMBER = "+61491570156"


def test_full_flow_leaks_nothing(app_client: TestClient, customer, ctx, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    h = customer.headers
    app_client.get("/api/v1/user/token/verify", headers=h)
    app_client.post("/api/v1/customNumber/add", json={"name": "x", "number": NUMBER}, headers=h)
    code = latest_code(ctx, NUMBER)
    wrong = f"{(int(code) + 7) % 1_000_000:06d}"
    app_client.post(
        "/api/v1/customNumber/verifyCustomNumber", json={"name": "x", "number": NUMBER, "otp": wrong}, headers=h
    )
    r = app_client.post(
        "/api/v1/customNumber/verifyCustomNumber", json={"name": "x", "number": NUMBER, "otp": code}, headers=h
    )
    assert r.status_code == 200
    app_client.get("/api/v1/user/token/verify", headers={"Authorization": f"Bearer {customer.key}x"})

    formatter = JsonFormatter()
    logged = "\n".join(formatter.format(record) for record in caplog.records)
    assert "request" in logged  # the access log did run
    for secret in (code, wrong, customer.key, customer.key[4:]):
        assert secret not in logged

    with ctx.db.read() as conn:
        audit = conn.execute(sa.select(audit_events)).all()
        bodies = conn.execute(sa.select(outbox.c.body)).scalars().all()
        hashes = conn.execute(sa.select(custom_numbers.c.otp_hash)).scalars().all()
    assert {row.action for row in audit} >= {"custom_number.otp_sent", "custom_number.otp_failed",
                                            "custom_number.verified", "account.created", "key.created"}
    dumped = "\n".join(str(tuple(row)) for row in audit)
    for secret in (code, customer.key):
        assert secret not in dumped
    assert all(code not in body for body in bodies)  # wiped once handed to the provider
    assert all(h is None or code not in h for h in hashes)


# -- log lines cannot be forged, and hide a failing row in both formats ------------------------

FORMATTERS = {"json": JsonFormatter(), "text": TextFormatter(colour=False)}
CODE_IN_TEXT = re.compile(r"code is \d{6}")
# A path that, written raw, would end the line and start a forged record, and send a terminal
# control sequences (ESC, NEL, CSI, U+2028, a bidi override).
FORGED = "\n2026-01-01T00:00:00.000Z INFO senderid.access: request path=/ok status=200\r\x1b[2J\x85\u2028\u202e"
# X-Forwarded-For from a trusted proxy is the logged client: its value is the client's to choose
# (bytes 0x80-0xff are legal in a header; C1 controls among them).
FORWARDED = b"203.0.113.7\x9b31m\x85 status=200"


class Collected(logging.Handler):
    """Each record, formatted by every formatter."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: dict[str, list[str]] = {name: [] for name in FORMATTERS}
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        for name, formatter in FORMATTERS.items():
            self.lines[name].append(formatter.format(record))


@contextmanager
def collected() -> Iterator[Collected]:
    with logging_to(Collected()) as handler:
        yield handler


def _raw_request(base_url: str, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    host, port = base_url.removeprefix("http://").split(":")
    head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET " + path.encode("ascii") + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + head + b"\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def test_a_request_cannot_forge_a_log_line(ctx, customer) -> None:
    """Control characters in the path and in a logged header are escaped in both formats: each
    record is one line of printable characters, and the JSON holds the exact values."""
    trusting = ctx.settings.model_copy(update={"trusted_proxies": ["127.0.0.1"]})
    app = create_app(trusting, context=ctx, run_worker=False)
    hostile_path = "/api/v1/nothing-here" + FORGED
    requests = [
        (quote(hostile_path), [(b"X-Forwarded-For", FORWARDED)]),
        ("/api/v1/user/token/verify", [(b"X-Forwarded-For", FORWARDED),
                                       (b"Authorization", f"Bearer {customer.key}".encode())]),
    ]
    with collected() as logged, serve(app, **proxy_options(trusting)) as base_url:
        statuses = [_raw_request(base_url, path, headers) for path, headers in requests]
    assert statuses == [404, 200]
    client = FORWARDED.decode("latin-1").split(",")[-1].strip()
    access = [r for r in logged.records if r.name == "senderid.access"]
    assert [(r.path, r.client) for r in access] == [
        (hostile_path, client), ("/api/v1/user/token/verify", client)]
    for name, lines in logged.lines.items():
        assert len(lines) == len(logged.records)
        for line in lines:
            assert line.isprintable() and len(line.splitlines()) == 1, (name, line)
    entries = [orjson.loads(line) for line in logged.lines["json"]]
    assert [(e["path"], e["client"]) for e in entries if e["logger"] == "senderid.access"] == [
        (hostile_path, client), ("/api/v1/user/token/verify", client)]
    text = [line for line in logged.lines["text"] if " senderid.access: " in line]
    assert 'path="/api/v1/nothing-here\\n2026-01-01T00:00:00.000Z INFO senderid.access: request path=/ok ' \
           'status=200\\r\\u001b[2J\\u0085\\u2028\\u202e" status=404' in text[0]
    assert 'client="203.0.113.7\\u009b31m\\u0085 status=200"' in text[0]


@pytest.mark.unit
def test_a_message_or_a_traceback_cannot_forge_a_line() -> None:
    """A message built from a value, and an exception's text, are escaped too; a text record's
    traceback follows on lines that start with the continuation mark."""
    try:
        raise ValueError("bad value" + FORGED)
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.makeLogRecord({"name": "senderid.api", "levelname": "ERROR", "levelno": 40,
                                    "msg": "refused %s", "args": (FORGED,), "exc_info": exc_info})
    as_json = FORMATTERS["json"].format(record)
    assert as_json.isprintable() and len(as_json.splitlines()) == 1
    entry = orjson.loads(as_json)
    assert entry["message"] == "refused " + FORGED and entry["exception"].endswith("ValueError: bad value" + FORGED)
    first, *rest = FORMATTERS["text"].format(record).split("\n")
    assert first.isprintable() and first.endswith(
        "ERROR senderid.api: refused \\n2026-01-01T00:00:00.000Z INFO senderid.access: request path=/ok "
        "status=200\\r\\x1b[2J\\x85\\u2028\\u202e")
    assert rest[0] == CONTINUATION + "Traceback (most recent call last):"
    assert all(line.startswith(CONTINUATION) and line.isprintable() for line in rest)
    # The exception's own line break stays a line break of the traceback, behind the mark.
    assert rest[-2:] == [CONTINUATION + "ValueError: bad value", CONTINUATION + FORGED[1:].replace(
        "\r", "\\r").replace("\x1b", "\\x1b").replace("\x85", "\\x85").replace("\u2028", "\\u2028").replace(
        "\u202e", "\\u202e")]


@pytest.mark.parametrize("settings_overrides", [
    {},  # the default template: the code on the row's one line
    {"otp_template": "Hello from senderid\nYour code is {code}.\nIt registers {number}."},  # a row over lines
], ids=["one-line-sms", "sms-over-lines"])
def test_a_failing_statement_logs_no_code_in_either_format(app_client: TestClient, customer, db) -> None:
    """PostgreSQL repeats the failing row, OTP SMS included, in the error's DETAIL: neither
    format writes it, however many lines the row's text spans."""
    if db.is_sqlite:
        pytest.skip("SQLite's errors never repeat a row's values")
    with db.engine.begin() as c:
        c.execute(sa.text("ALTER TABLE outbox ADD COLUMN required_later text NOT NULL DEFAULT 'x'"))
        c.execute(sa.text("ALTER TABLE outbox ALTER COLUMN required_later DROP DEFAULT"))
    try:
        with collected() as logged:
            r = app_client.post("/api/v1/customNumber/add", json={"name": "x", "number": NUMBER},
                                headers=customer.headers)
    finally:
        with db.engine.begin() as c:
            c.execute(sa.text("ALTER TABLE outbox DROP COLUMN required_later"))
    assert r.status_code == 500
    raw = "\n".join(str(r.exc_info[1]) for r in logged.records if r.exc_info)
    assert CODE_IN_TEXT.search(raw)  # the error itself holds the code
    for name, lines in logged.lines.items():
        written = "\n".join(lines)
        assert "not-null constraint" in written and "DETAIL:  (hidden: it repeats the row's values)" in written
        assert not CODE_IN_TEXT.search(written), (name, written)
        assert "It registers" not in written, name
