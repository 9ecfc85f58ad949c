"""The admin API (/admin/v1): off without a token, the 401 body, and every endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from senderid.api.app import create_app
from senderid.domain import accounts, business_names
from senderid.domain.context import Context
from senderid.domain.types import CLI
from senderid.store.tables import audit_events

TOKEN = "a" * 40
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
VERIFY_TOKEN = "/api/v1/user/token/verify"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"admin_token": TOKEN}


def _ok(r, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] is True and body["app_type"] == "web" and body["error"] == {}
    return body["data"]


def _audit(ctx: Context, action: str) -> list[Any]:
    with ctx.db.read() as conn:
        return conn.execute(
            sa.select(audit_events).where(audit_events.c.action == action).order_by(audit_events.c.id)
        ).all()


# -- the guard -------------------------------------------------------------------------------------


@pytest.fixture
def client_without_token(ctx: Context) -> Iterator[TestClient]:
    settings = ctx.settings.model_copy(update={"admin_token": None})
    off = Context(db=ctx.db, settings=settings, clock=ctx.clock, secret=ctx.secret)
    with TestClient(create_app(settings, context=off, run_worker=False), raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/admin/v1/accounts"), ("POST", "/admin/v1/accounts"), ("GET", "/admin/v1/audit"),
    ("GET", "/admin/v1/business-names"), ("DELETE", f"/admin/v1/keys/{'0' * 24}"),
])
def test_off_when_the_token_is_unset(client_without_token: TestClient, method: str, path: str) -> None:
    r = client_without_token.request(method, path, headers=ADMIN, json={"name": "x"})
    unknown = client_without_token.request(method, "/admin/v1/nothing-here", headers=ADMIN)
    assert r.status_code == unknown.status_code == 404
    assert r.json()["status"] is False
    assert r.json()["message"] == f"No such endpoint: {method} {path}. The API lives under /api/v1; see /docs"


@pytest.mark.parametrize(("headers", "message"), [
    ({}, "Authorization token is required"),
    ({"Authorization": TOKEN}, "Authorization token is required"),
    ({"Authorization": "Basic " + TOKEN}, "Authorization token is required"),
    ({"Authorization": "Bearer " + "b" * 40}, "Token expired"),
    ({"Authorization": "Bearer " + TOKEN[:-1]}, "Token expired"),
    ({"Authorization": "Bearer " + TOKEN + "a"}, "Token expired"),
])
def test_a_missing_or_wrong_token_is_the_401_body(app_client: TestClient, ctx, headers, message) -> None:
    for method, path in (("GET", "/admin/v1/accounts"), ("POST", "/admin/v1/accounts")):
        r = app_client.request(method, path, headers=headers, json={"name": "Mallory"})
        assert r.status_code == 401
        assert r.json() == {"code": 401, "message": message, "stack": f"APIError: {message}"}
    assert accounts.list_accounts(ctx)[1] == 0


def test_a_customer_key_is_not_an_admin_token(app_client: TestClient, customer) -> None:
    r = app_client.get("/admin/v1/accounts", headers=customer.headers)
    assert r.status_code == 401 and r.json()["message"] == "Token expired"


def test_the_header_is_case_insensitive(app_client: TestClient) -> None:
    _ok(app_client.get("/admin/v1/accounts", headers={"authorization": f"bearer {TOKEN}"}))


# -- accounts and keys -------------------------------------------------------------------------------


def test_accounts(app_client: TestClient, ctx, clock) -> None:
    created = _ok(app_client.post("/admin/v1/accounts", json={"name": "Acme Pty Ltd"}, headers=ADMIN))
    assert created == {"id": created["id"], "name": "Acme Pty Ltd", "otp_required": True,
                       "reverify_after_days": None, "created_at": "2026-01-01T00:00:00.000Z"}
    clock.advance(seconds=1)
    direct = _ok(app_client.post("/admin/v1/accounts", json={"name": "Direct", "otp_required": False},
                                 headers=ADMIN))
    assert direct["otp_required"] is False

    listing = _ok(app_client.get("/admin/v1/accounts", headers=ADMIN))
    assert listing == {"items": [created, direct], "total": 2, "limit": 50, "offset": 0}
    assert _ok(app_client.get("/admin/v1/accounts", params={"limit": 1, "offset": 1}, headers=ADMIN))["items"] == [
        direct
    ]
    # One account's answers also carry its default registrant for ACMA's register.
    no_registrant = {"abn": None, "entity_name": None}
    assert _ok(app_client.get(f"/admin/v1/accounts/{created['id']}", headers=ADMIN)) == {**created, **no_registrant}

    patched = _ok(app_client.patch(f"/admin/v1/accounts/{created['id']}",
                                   json={"otp_required": False, "reason": "vouched for"}, headers=ADMIN))
    assert patched == {**created, "otp_required": False, **no_registrant}
    assert accounts.get_account(ctx, created["id"]).otp_required is False

    (event,) = _audit(ctx, "account.updated")
    assert (event.actor, event.ip, event.account_id) == ("admin-api", "testclient", created["id"])
    assert [e.actor for e in _audit(ctx, "account.created")] == ["admin-api", "admin-api"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "/admin/v1/accounts", {}, 400, "name is required"),
        ("POST", "/admin/v1/accounts", {"name": 5}, 400, "name is required"),
        ("POST", "/admin/v1/accounts", {"name": "  "}, 400, "An account name is 1 to 200 printable characters"),
        ("POST", "/admin/v1/accounts", {"name": "x", "otp_required": "no"}, 400, "otp_required must be true or false"),
        ("GET", f"/admin/v1/accounts/{'0' * 24}", None, 404, "No account with id"),
        ("PATCH", f"/admin/v1/accounts/{'0' * 24}", {"otp_required": True}, 404, "No account with id"),
        ("PATCH", "/admin/v1/accounts/ACCOUNT", {}, 400, "Nothing to change"),
        ("PATCH", "/admin/v1/accounts/ACCOUNT", {"otp_required": 1}, 400, "otp_required must be true or false"),
        ("POST", f"/admin/v1/accounts/{'0' * 24}/keys", {}, 404, "No account with id"),
        ("POST", "/admin/v1/accounts/ACCOUNT/keys", {"expires_in_days": "30"}, 400, "expires_in_days must be"),
        (
            "POST",
            "/admin/v1/accounts/ACCOUNT/keys",
            {"expires_in_days": 0},
            400,
            "expires_in_days must be between 1 and 36,500 (days)",
        ),
        ("GET", f"/admin/v1/accounts/{'0' * 24}/keys", None, 404, "No account with id"),
        ("DELETE", f"/admin/v1/keys/{'0' * 24}", None, 404, "No such key"),
        ("GET", "/admin/v1/accounts", {"limit": 0}, 400, "Invalid request"),
    ],
)
def test_account_and_key_refusals(app_client: TestClient, customer, method, path, body, status, message) -> None:
    path = path.replace("ACCOUNT", customer.account.id)
    if method == "GET":
        r = app_client.get(path, params=body, headers=ADMIN)
    else:
        r = app_client.request(method, path, json=body, headers=ADMIN)
    assert r.status_code == status, r.text
    assert r.json()["status"] is False and r.json()["message"].startswith(message), r.json()["message"]


def test_keys_and_revoking_one_ends_it_at_once(app_client: TestClient, ctx, clock) -> None:
    account_id = _ok(app_client.post("/admin/v1/accounts", json={"name": "Acme"}, headers=ADMIN))["id"]
    first = _ok(app_client.post(f"/admin/v1/accounts/{account_id}/keys", headers=ADMIN))
    key = first["key"]
    assert key.startswith("sid_") and first["prefix"] == key[:12]
    assert first == {"id": first["id"], "account_id": account_id, "prefix": key[:12], "status": "active",
                     "created_at": "2026-01-01T00:00:00.000Z", "expires_at": None, "revoked_at": None,
                     "key": key}
    expiring = _ok(app_client.post(f"/admin/v1/accounts/{account_id}/keys", json={"expires_in_days": 30},
                                   headers=ADMIN))
    assert expiring["expires_at"] == "2026-01-31T00:00:00.000Z"

    bearer = {"Authorization": f"Bearer {key}"}
    assert _ok(app_client.get(VERIFY_TOKEN, headers=bearer)) == {"token": key}

    r = app_client.get(f"/admin/v1/accounts/{account_id}/keys", headers=ADMIN)
    listing = _ok(r)
    assert key not in r.text and expiring["key"] not in r.text
    assert [k["id"] for k in listing["items"]] == [first["id"], expiring["id"]] and listing["total"] == 2
    assert all("key" not in k for k in listing["items"])

    clock.advance(seconds=5)
    revoked = _ok(app_client.delete(f"/admin/v1/keys/{first['id']}", headers=ADMIN))
    assert (revoked["status"], revoked["revoked_at"]) == ("revoked", "2026-01-01T00:00:05.000Z")
    r = app_client.get(VERIFY_TOKEN, headers=bearer)
    assert (r.status_code, r.json()) == (401, {"code": 401, "message": "Token expired",
                                              "stack": "APIError: Token expired"})
    assert _ok(app_client.delete(f"/admin/v1/keys/{first['id']}", headers=ADMIN))["status"] == "revoked"
    assert [
        k["status"] for k in _ok(app_client.get(f"/admin/v1/accounts/{account_id}/keys", headers=ADMIN))["items"]
    ] == ["revoked", "active"]

    (event,) = _audit(ctx, "key.revoked")
    assert (event.actor, event.subject) == ("admin-api", first["id"])
    with ctx.db.read() as conn:
        details = str([r.details for r in conn.execute(sa.select(audit_events))])
    assert key not in details and expiring["key"] not in details


def test_a_key_is_revoked_by_id_only(app_client: TestClient, customer) -> None:
    r = app_client.delete(f"/admin/v1/keys/{customer.key}", headers=ADMIN)
    assert r.status_code == 404
    assert _ok(app_client.get(VERIFY_TOKEN, headers=customer.headers)) == {"token": customer.key}


# -- business names ------------------------------------------------------------------------------------


def test_business_names_review(app_client: TestClient, customer, make_customer, ctx, clock) -> None:
    rival = make_customer("Rival")
    add = "/api/v1/business/add"
    a = _ok(app_client.post(add, json={"businessname": "Acme"}, headers=customer.headers))["_id"]
    clock.advance(seconds=1)
    b = _ok(app_client.post(add, json={"businessname": "Rival Co"}, headers=rival.headers))["_id"]
    clock.advance(seconds=1)
    c = _ok(app_client.post(add, json={"businessname": "Acme Two"}, headers=customer.headers))["_id"]

    queue = _ok(app_client.get("/admin/v1/business-names", params={"status": "REQUESTED"}, headers=ADMIN))
    assert [n["_id"] for n in queue["items"]] == [a, b, c] and queue["total"] == 3
    assert queue["items"][0]["user"] == customer.account.id and queue["items"][0]["decidedAt"] is None
    mine = _ok(app_client.get("/admin/v1/business-names", params={"account_id": customer.account.id}, headers=ADMIN))
    assert [n["_id"] for n in mine["items"]] == [a, c]

    clock.advance(seconds=60)
    approved = _ok(app_client.post(f"/admin/v1/business-names/{a}/approve", headers=ADMIN))
    assert (approved["status"], approved["decidedBy"], approved["decidedAt"]) == (
        "APPROVED", "admin-api", "2026-01-01T00:01:02.000Z")
    again = app_client.post(f"/admin/v1/business-names/{a}/approve", headers=ADMIN)
    assert again.status_code == 409
    assert again.json()["message"] == "Only a REQUESTED business name can be approved; this one is APPROVED"

    for body in ({}, {"reason": ""}, {"reason": "   "}, {"reason": 3}):
        r = app_client.post(f"/admin/v1/business-names/{b}/reject", json=body, headers=ADMIN)
        assert r.status_code == 400 and r.json()["message"].startswith("A rejection needs a reason")
    rejected = _ok(app_client.post(f"/admin/v1/business-names/{b}/reject", json={"reason": "Show us your ABN"},
                                   headers=ADMIN))
    assert (rejected["status"], rejected["reason"]) == ("REJECTED", "Show us your ABN")
    assert _ok(app_client.get(f"/admin/v1/business-names/{b}", headers=ADMIN)) == rejected

    # the customer sees the decision through its own API
    seen = _ok(app_client.get(f"/api/v1/business/{a}", headers=customer.headers))
    assert seen["status"] == "APPROVED" and "decidedBy" not in seen
    assert _ok(app_client.get("/admin/v1/business-names", params={"status": "requested"}, headers=ADMIN))["total"] == 1
    assert app_client.get("/admin/v1/business-names", params={"status": "nope"}, headers=ADMIN).status_code == 400
    for path in (f"/admin/v1/business-names/{'0' * 24}", f"/admin/v1/business-names/{'0' * 24}/approve"):
        method = "GET" if path.endswith("0") else "POST"
        assert app_client.request(method, path, headers=ADMIN).status_code == 404

    assert [(e.actor, e.ip) for e in _audit(ctx, "business_name.approved")] == [("admin-api", "testclient")]
    assert [e.subject for e in _audit(ctx, "business_name.rejected")] == [b]
    with ctx.db.read() as conn:
        assert business_names.is_approved(conn, customer.account.id, "ACME")


# -- custom numbers across accounts ----------------------------------------------------------------------


def test_custom_number_search(app_client: TestClient, no_otp_customer, customer, ctx, clock) -> None:
    add = "/api/v1/customNumber/add"
    assert (
        app_client.post(add, json={"name": "Mine", "number": "0491 570 156"}, headers=customer.headers).status_code
        == 200
    )
    clock.advance(seconds=1)
    # active at once for the other account: the first one's pending registration is cancelled
    assert (
        app_client.post(
            add, json={"name": "Main", "number": "+61491570156"}, headers=no_otp_customer.headers
        ).status_code
        == 200
    )
    clock.advance(seconds=1)
    assert (
        app_client.post(add, json={"name": "Other", "number": "+61491570157"}, headers=customer.headers).status_code
        == 200
    )

    def search(**params: Any) -> dict[str, Any]:
        data: dict[str, Any] = _ok(app_client.get("/admin/v1/custom-numbers", params=params, headers=ADMIN))
        return data

    found = search(number="0491 570 156")
    assert found["total"] == 2
    assert [(i["number"], i["status"], i["user"]) for i in found["items"]] == [
        ("+61491570156", "active", no_otp_customer.account.id),  # newest first
        ("+61491570156", "cancelled", customer.account.id),
    ]
    for form in ("+61491570156", "61491570156", "491570156", "+61 (0)491-570-156"):
        assert search(number=form)["total"] == 2
    assert [i["name"] for i in search(number="0491 570 156", status="active")["items"]] == ["Main"]
    assert search(account_id=customer.account.id)["total"] == 2
    assert search()["total"] == 3
    assert search(status="pending", limit=1)["items"][0]["number"] == "+61491570157"
    assert search(number="0491 570 158")["total"] == 0

    r = app_client.get("/admin/v1/custom-numbers", params={"number": "not a number"}, headers=ADMIN)
    assert r.status_code == 400 and r.json()["message"] == "number is not a valid mobile number"
    assert app_client.get("/admin/v1/custom-numbers", params={"status": "bogus"}, headers=ADMIN).status_code == 400


# -- audit ----------------------------------------------------------------------------------------------


def test_audit_events(app_client: TestClient, ctx, clock) -> None:
    first = accounts.create_account(ctx, "First", actor=CLI)
    clock.advance(hours=1)
    second = _ok(app_client.post("/admin/v1/accounts", json={"name": "Second"}, headers=ADMIN))
    _ok(app_client.post(f"/admin/v1/accounts/{second['id']}/keys", headers=ADMIN))

    def events(**params: Any) -> list[dict[str, Any]]:
        data = _ok(app_client.get("/admin/v1/audit", params=params, headers=ADMIN))
        items: list[dict[str, Any]] = data["items"]
        return items

    everything = events()
    assert [e["action"] for e in everything] == ["key.created", "account.created", "account.created"]  # newest first
    latest = everything[0]
    assert latest == {
        "id": latest["id"], "at": "2026-01-01T01:00:00.000Z", "actor": "admin-api", "ip": "testclient",
        "account_id": second["id"], "action": "key.created", "subject": latest["subject"],
        "details": {"prefix": latest["details"]["prefix"], "expires_at": None},
    }
    assert [e["account_id"] for e in events(account_id=first.id)] == [first.id]
    assert [e["actor"] for e in events(action="account.created")] == ["admin-api", "cli"]
    assert len(events(since="2026-01-01T00:30:00Z")) == 2
    assert len(events(until="2026-01-01T00:30:00+00:00")) == 1
    assert len(events(since="2026-01-01T00:30:00", until="2026-01-01T01:00:00Z")) == 0
    assert len(events(limit=1)) == 1

    r = app_client.get("/admin/v1/audit", params={"since": "yesterday"}, headers=ADMIN)
    assert r.status_code == 400 and r.json()["message"].startswith("since must be an ISO-8601 time")


def test_account_credits(app_client: TestClient, customer, ctx: Context) -> None:
    path = f"/admin/v1/accounts/{customer.account.id}/credits"
    assert _ok(app_client.get(path, headers=ADMIN)) == {"account_id": customer.account.id, "credits": None}
    assert _ok(app_client.put(path, json={"credits": 12.5}, headers=ADMIN)) == {
        "account_id": customer.account.id, "credits": 12.5}
    r = app_client.post("/api/v1/gateway", json={"message": "x", "contacts": ["+61491570157"]},
                        headers=customer.headers)
    assert r.status_code == 200
    assert _ok(app_client.get(path, headers=ADMIN))["credits"] == 11.5
    assert _ok(app_client.put(path, json={"credits": None}, headers=ADMIN))["credits"] is None
    for body, message in (({}, "Give credits: a number of credits, or null for unlimited"),
                          ({"credits": "5"}, "credits must be a number of credits, or null for unlimited"),
                          ({"credits": -1}, "credits must be a number from 0 to 1,000,000,000, or unlimited")):
        r = app_client.put(path, json=body, headers=ADMIN)
        assert (r.status_code, r.json()["message"]) == (400, message)
    assert app_client.put(f"/admin/v1/accounts/{'0' * 24}/credits", json={"credits": 1},
                          headers=ADMIN).status_code == 404
    assert app_client.get(path).status_code == 401
