"""The right of use on the wire: /reverify, /reclaim and the claim's verify answer, the
refusals' envelopes, verifiedBy/reverifyBy, and the admin API's protected list and
account settings."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from senderid.store.tables import audit_events
from tests.support.gateway import ENVELOPE
from tests.support.helpers import latest_code

ADD = "/api/v1/customNumber/add"
VERIFY = "/api/v1/customNumber/verifyCustomNumber"
RECLAIM = "/api/v1/customNumber/reclaim"
NUMBER = "+61491570156"
TOKEN = "admin-" + "t" * 40
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
OTP_SENT = "OTP sent to your number successfully"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"admin_token": TOKEN, "reverify_after_days": 30, "reverify_notice_days": 5, "reclaim_grace_days": 7}


def refusal(message: str) -> dict[str, Any]:
    return {**ENVELOPE, "status": False, "show_message": 0, "message": message, "data": {}, "error": {"error": message}}


def own(client: TestClient, ctx, customer) -> str:
    assert client.post(ADD, json={"name": "Mine", "number": NUMBER}, headers=customer.headers).status_code == 200
    r = client.post(VERIFY, json={"name": "Mine", "number": NUMBER, "otp": latest_code(ctx, NUMBER)},
                    headers=customer.headers)
    assert r.json()["message"] == "OTP Verified Successfully!", r.text
    return client.get("/api/v1/customNumber/list", headers=customer.headers).json()["data"]["items"][0]["_id"]


def test_reverify_and_reclaim_on_the_wire(app_client: TestClient, ctx, clock, customer, make_customer,
                                          no_otp_customer) -> None:
    holder_id = own(app_client, ctx, customer)
    item = app_client.get(f"/api/v1/customNumber/{holder_id}", headers=customer.headers).json()["data"]
    assert (item["verifiedBy"], item["reverifyBy"], item["decidesAt"]) == ("otp", "2026-01-31T00:00:00.000Z", None)

    clock.advance(120)
    r = app_client.post(f"/api/v1/customNumber/{holder_id}/reverify", headers=customer.headers)
    assert (r.status_code, r.json()) == (200, {**ENVELOPE, "status": True, "show_message": 1, "message": OTP_SENT,
                                               "data": {"success": True, "message": OTP_SENT}, "error": {}})
    claimer = make_customer("Claimer")
    assert app_client.post(f"/api/v1/customNumber/{holder_id}/reverify", headers=claimer.headers).status_code == 404

    # reclaim: its refusals in add's envelope
    r = app_client.post(RECLAIM, json={"name": "x", "number": "+61491570157"}, headers=claimer.headers)
    assert (r.status_code, r.json()) == (400, refusal("Number is not held by another account"))
    r = app_client.post(RECLAIM, json={"name": "x", "number": NUMBER}, headers=no_otp_customer.headers)
    assert (r.status_code, r.json()) == (403, refusal("Reclaim needs an account that verifies numbers by OTP"))
    r = app_client.post(RECLAIM, json={"number": NUMBER}, headers=claimer.headers)
    assert (r.status_code, r.json()["message"]) == (400, "Name is required")
    r = app_client.post(RECLAIM, json={"name": "x", "number": "12"}, headers=claimer.headers)
    assert (r.status_code, r.json()["message"]) == (400, "Mobile number is not valid")

    r = app_client.post(RECLAIM, json={"name": "Phone", "number": "0491 570 156"}, headers=claimer.headers)
    assert (r.status_code, r.json()["message"], r.json()["show_message"]) == (200, OTP_SENT, 1)
    r = app_client.post(VERIFY, json={"name": "Phone", "number": NUMBER, "otp": latest_code(ctx, NUMBER)},
                        headers=claimer.headers)
    assert (r.status_code, r.json()) == (200, {
        **ENVELOPE, "status": True, "show_message": 0,
        "message": "OTP verified: the number moves to your account unless its holder proves possession first",
        "data": {"status": "claiming", "decidesAt": "2026-01-08T00:02:00.000Z"}, "error": {}})
    r = app_client.post(RECLAIM, json={"name": "x", "number": NUMBER}, headers=make_customer("Third").headers)
    assert r.status_code == 409
    [claim] = app_client.get("/api/v1/customNumber/list", params={"status": "claiming"},
                             headers=claimer.headers).json()["data"]["items"]
    assert claim["decidesAt"] == "2026-01-08T00:02:00.000Z"
    # a registration that is neither active nor lapsed cannot prove possession again
    assert app_client.post(f"/api/v1/customNumber/{claim['_id']}/reverify", headers=claimer.headers).status_code == 409


def test_protected_senders_on_the_wire(app_client: TestClient, ctx, customer) -> None:
    r = app_client.post("/admin/v1/protected", json={"value": "+6149157*", "note": "Do Not Originate"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert (r.json()["data"]["value"], r.json()["data"]["kind"], r.json()["data"]["holders"]) == (
        "+6149157*", "prefix", [])
    assert app_client.post("/admin/v1/protected", json={"value": "ANZ"}, headers=ADMIN).status_code == 200
    listed = app_client.get("/admin/v1/protected", headers=ADMIN).json()["data"]
    assert [(e["kind"], e["value"]) for e in listed] == [("name", "ANZ"), ("prefix", "+6149157*")]

    r = app_client.post(ADD, json={"name": "x", "number": NUMBER}, headers=customer.headers)
    assert (r.status_code, r.json()) == (400, refusal("Number is protected"))
    r = app_client.post("/api/v1/business/add", json={"businessname": "ANZ Bank"}, headers=customer.headers)
    assert (r.status_code, r.json()) == (400, refusal("Business name is protected"))

    r = app_client.delete("/admin/v1/protected", params={"value": "+6149157*"}, headers=ADMIN)
    assert r.status_code == 200
    assert app_client.post(ADD, json={"name": "x", "number": NUMBER}, headers=customer.headers).status_code == 200
    assert app_client.get("/admin/v1/protected", headers={}).status_code == 401


def test_account_settings_on_the_admin_api(app_client: TestClient, ctx, customer) -> None:
    path = f"/admin/v1/accounts/{customer.account.id}"
    r = app_client.patch(path, json={"otp_required": False}, headers=ADMIN)
    assert r.status_code == 400 and "reason" in r.json()["message"]
    r = app_client.patch(path, json={"otp_required": False, "reason": "checked with the carrier"}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["data"]["otp_required"] is False
    r = app_client.patch(path, json={"reverify_after_days": 90}, headers=ADMIN)
    assert r.json()["data"]["reverify_after_days"] == 90
    r = app_client.patch(path, json={"reverify_after_days": None}, headers=ADMIN)
    assert r.json()["data"]["reverify_after_days"] is None
    with ctx.db.read() as conn:
        details = conn.execute(sa.select(audit_events.c.details).where(
            audit_events.c.action == "account.updated")).scalars().all()
    assert {"otp_required": False, "reason": "checked with the carrier"} in details
