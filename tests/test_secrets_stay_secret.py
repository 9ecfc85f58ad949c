"""No OTP and no API key in any log line or audit record after a full flow."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from senderid.logs import JsonFormatter
from senderid.store.tables import audit_events, custom_numbers, outbox
from tests.support.helpers import latest_code

NUMBER = "+61491570156"


def test_full_flow_leaks_nothing(app_client: TestClient, customer, ctx, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    h = customer.headers
    app_client.get("/api/v1/user/token/verify", headers=h)
    app_client.post("/api/v1/customNumber/add", json={"name": "x", "number": NUMBER}, headers=h)
    code = latest_code(ctx, NUMBER)
    wrong = f"{(int(code) + 7) % 1_000_000:06d}"
    app_client.post("/api/v1/customNumber/verifyCustomNumber", json={"name": "x", "number": NUMBER, "otp": wrong}, headers=h)
    r = app_client.post("/api/v1/customNumber/verifyCustomNumber", json={"name": "x", "number": NUMBER, "otp": code}, headers=h)
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
