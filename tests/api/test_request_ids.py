"""X-Request-ID: taken from the request when it is one we can carry, else made; echoed on
every answer; carried by every log line of the request and its audit records."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from senderid import logs
from senderid.domain.context import Context
from senderid.store.tables import audit_events

ADD = "/api/v1/customNumber/add"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the server logs during the test, as the JSON formatter writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    access = logging.getLogger("senderid.access")
    disabled = access.disabled
    access.disabled = False
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        access.disabled = disabled


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_a_request_id_given_is_echoed_logged_and_audited(app_client: TestClient, customer, ctx: Context,
                                                         log_lines: io.StringIO) -> None:
    r = app_client.post(ADD, json={"name": "Shop", "number": "0491570156"},
                        headers={**customer.headers, "X-Request-ID": "case-4711/a.b:c"})
    assert r.status_code == 200, r.text
    assert r.headers["x-request-id"] == "case-4711/a.b:c"
    access = [line for line in _lines(log_lines) if line["logger"] == "senderid.access"]
    assert access and all(line["request_id"] == "case-4711/a.b:c" for line in access)
    with ctx.db.read() as conn:
        rows = conn.execute(select(audit_events.c.action, audit_events.c.request_id)
                            .where(audit_events.c.account_id == customer.account.id)
                            .where(audit_events.c.action.like("custom_number.%"))).all()
    assert rows and {row.request_id for row in rows} == {"case-4711/a.b:c"}


@pytest.mark.parametrize("given", [
    None,
    "x" * 129,  # too long
    "two words",  # a space
    "caf\u00e9".encode(),  # not ASCII
    b"a\x1b[31mb",  # a control character
    "",
])
def test_an_id_that_cannot_be_carried_is_replaced_by_a_new_one(app_client: TestClient,
                                                               given: str | bytes | None) -> None:
    headers: dict[str, str | bytes] = {}
    if given is not None:
        headers["X-Request-ID"] = given
    first = app_client.get("/healthz", headers=headers).headers["x-request-id"]
    second = app_client.get("/healthz", headers=headers).headers["x-request-id"]
    assert len(first) == 32 and int(first, 16) >= 0
    assert first != second  # a new one each time


def test_the_longest_id_is_kept(app_client: TestClient) -> None:
    given = "A" * 128
    assert app_client.get("/healthz", headers={"X-Request-ID": given}).headers["x-request-id"] == given


@pytest.mark.parametrize("method,path,status", [
    ("GET", "/api/v1/nowhere", 404),
    ("POST", ADD, 401),  # no key
    ("GET", ADD, 405),
    ("GET", "/healthz", 200),
])
def test_every_answer_carries_the_id(app_client: TestClient, method: str, path: str, status: int) -> None:
    r = app_client.request(method, path, headers={"X-Request-ID": "req-1"})
    assert r.status_code == status
    assert r.headers.get_list("x-request-id") == ["req-1"]


def test_a_crash_carries_the_id_in_its_answer_and_its_log(app_client: TestClient, log_lines: io.StringIO) -> None:
    app = app_client.app

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    r = app_client.get("/boom", headers={"X-Request-ID": "crash-1"})
    assert r.status_code == 500 and r.headers["x-request-id"] == "crash-1"
    errors = [line for line in _lines(log_lines) if line["message"] == "unhandled error"]
    assert errors and errors[0]["request_id"] == "crash-1"


def test_lines_outside_a_request_carry_none(log_lines: io.StringIO) -> None:
    logging.getLogger("senderid.test").warning("outside")
    (line,) = _lines(log_lines)
    assert "request_id" not in line
