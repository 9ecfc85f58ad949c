"""Failures outside the documented rows: always the envelope, an accurate status, nothing changed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from senderid.store.tables import otp_sends
from tests.support.helpers import registrations

ADD = "/api/v1/customNumber/add"
NUMBER = "+61491570156"


def _failure(r, status: int) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] is False and body["show_message"] == 1
    assert body["maintainence"] == 0 and body["message_type"] == "toast" and body["data"] == {}
    assert body["error"] == {"error": body["message"]}
    assert "Traceback" not in r.text and "File \"" not in r.text
    return body["message"]


@pytest.mark.parametrize("raw,expected", [
    (b"{not json", "not valid JSON"),
    (b'["name", "number"]', "JSON object"),
    (b'"just a string"', "JSON object"),
    (b"\xff\xfe", "not valid JSON"),
])
def test_bad_bodies(app_client: TestClient, customer, ctx, raw: bytes, expected: str) -> None:
    r = app_client.post(ADD, content=raw, headers={**customer.headers, "Content-Type": "application/json"})
    assert expected in _failure(r, 400)
    assert registrations(ctx, NUMBER) == []


def test_wrong_content_type_is_415(app_client: TestClient, customer) -> None:
    r = app_client.post(ADD, content=b"name=x&number=0491570156",
                        headers={**customer.headers, "Content-Type": "application/x-www-form-urlencoded"})
    assert "Content-Type: application/json" in _failure(r, 415)


def test_too_large_body_is_413(app_client: TestClient, customer, ctx) -> None:
    big = b'{"name": "' + b"x" * 70_000 + b'", "number": "0491570156"}'
    r = app_client.post(ADD, content=big, headers={**customer.headers, "Content-Type": "application/json"})
    assert "larger than" in _failure(r, 413)
    assert registrations(ctx, NUMBER) == []


def test_too_large_streamed_body_is_413(app_client: TestClient, customer) -> None:
    def chunks():
        for _ in range(20):
            yield b"x" * 10_000

    r = app_client.post(ADD, content=chunks(), headers={**customer.headers, "Content-Type": "application/json"})
    _failure(r, 413)


def test_unknown_route_is_404(app_client: TestClient) -> None:
    assert "No such endpoint" in _failure(app_client.get("/api/v1/nothing"), 404)


def test_wrong_method_is_405(app_client: TestClient, customer) -> None:
    r = app_client.get(ADD, headers=customer.headers)
    assert "GET is not allowed" in _failure(r, 405)
    assert r.headers["allow"] == "POST"


def test_name_too_long_is_400(app_client: TestClient, customer, ctx) -> None:
    r = app_client.post(ADD, json={"name": "n" * 101, "number": NUMBER}, headers=customer.headers)
    assert "at most 100" in _failure(r, 400)
    assert registrations(ctx, NUMBER) == []


def test_server_fault_is_500_without_details(app_client: TestClient, customer, db) -> None:
    with db.engine.begin() as conn:  # a real fault: a table the add needs is gone
        conn.execute(sa.text("DROP TABLE otp_sends"))
    try:
        r = app_client.post(ADD, json={"name": "x", "number": NUMBER}, headers=customer.headers)
    finally:
        with db.engine.begin() as conn:
            otp_sends.create(conn)
    message = _failure(r, 500)
    assert message == "Something went wrong on our side; please try again later"
    assert "otp_sends" not in r.text and "sqlalchemy" not in r.text.lower()


def test_no_framework_422_shape(app_client: TestClient, customer) -> None:
    r = app_client.post(ADD, json={"name": {"nested": True}, "number": [1, 2]}, headers=customer.headers)
    assert r.status_code == 400 and "detail" not in r.json()


def test_rate_limit_is_429_with_retry_after(app_client: TestClient, customer) -> None:
    assert app_client.post(ADD, json={"name": "x", "number": NUMBER}, headers=customer.headers).status_code == 200
    r = app_client.post(ADD, json={"name": "x", "number": NUMBER}, headers=customer.headers)
    assert "wait 60 seconds" in _failure(r, 429)
    assert r.headers["retry-after"] == "60"


def test_health_and_readiness(app_client: TestClient) -> None:
    assert app_client.get("/healthz").json()["status"] is True
    r = app_client.get("/readyz")
    assert r.status_code == 200 and r.json()["message"] == "ready"
