"""POST /api/v1/gateway and GET /api/v1/senderId/check: only verified senders may send (SPEC §6)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from senderid import ids
from senderid.delivery.providers.devinbox import list_messages
from senderid.domain.context import Context
from senderid.store.tables import business_names, outbox
from tests.support.helpers import deliver_all, latest_code

GATEWAY = "/api/v1/gateway"
CHECK = "/api/v1/senderId/check"
OWN = "+61491570156"
CONTACT = "+61491570157"


def add_business_name(ctx: Context, account_id: str, name: str, status: str) -> None:
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        conn.execute(sa.insert(business_names).values(
            id=ids.new_id(), account_id=account_id, businessname=name, name_key=name.lower(),
            status=status, created_by=account_id, requested_at=now, created_at=now, updated_at=now,
        ))


def sms_rows(ctx: Context) -> list[Any]:
    with ctx.db.read() as conn:
        return conn.execute(sa.select(outbox).where(outbox.c.kind == "sms")).all()


@pytest.fixture
def sender_account(app_client: TestClient, customer, ctx):
    """An account with an active custom number, a pending one, an approved and a requested name."""
    h = customer.headers
    app_client.post("/api/v1/customNumber/add", json={"name": "own", "number": OWN}, headers=h)
    code = latest_code(ctx, OWN)
    assert app_client.post("/api/v1/customNumber/verifyCustomNumber",
                           json={"name": "own", "number": OWN, "otp": code}, headers=h).status_code == 200
    app_client.post("/api/v1/customNumber/add", json={"name": "pending", "number": "+61491570158"}, headers=h)
    add_business_name(ctx, customer.account.id, "AcmeShop", "APPROVED")
    add_business_name(ctx, customer.account.id, "AcmeWait", "REQUESTED")
    add_business_name(ctx, customer.account.id, "AcmeNope", "REJECTED")
    return customer


@pytest.mark.parametrize("sender", ["+61491570156", "61491570156", "0491570156", "491570156",
                                    "0491 570 156", "+61 (0)491-570-156", "AcmeShop", "acmeshop", "ACMESHOP",
                                    "", None, "#SharedNum#"])
def test_allowed_senders_queue_and_deliver(app_client: TestClient, sender_account, ctx, sender: Any) -> None:
    body: dict[str, Any] = {"message": "Hello from Acme", "contacts": ["0491 570 157", "not a number", 61491570159]}
    if sender is not None:
        body["sender"] = sender
    r = app_client.post(GATEWAY, json=body, headers=sender_account.headers)
    assert r.status_code == 200, r.text
    envelope = r.json()
    assert (envelope["status"], envelope["message"], envelope["show_message"]) == (
        True,
        "Request is being processed",
        0,
    )
    data = envelope["data"]
    queue = data.pop("queueResponse")
    assert [(q["Contact"], q["Number"], q["Result"]) for q in queue] == [
        ("491570157", "0491 570 157", "Message added to queue."), ("491570159", 61491570159, "Message added to queue."),
    ]
    assert all(len(q["MessageId"]) == 24 for q in queue)
    assert data == {
        "message": "success register all valid contacts to queue", "invalidContacts": ["not a number"],
        "unsubscribeContacts": [], "totalValidContact": 2, "totalInvalidContact": 1, "totalUnsubscribeContact": 0,
        "encoding": "GSM-7", "messageParts": 1,
    }
    deliver_all(ctx)
    sent = [m for m in list_messages(ctx.db) if m["body"] == "Hello from Acme"]
    assert {m["to"] for m in sent} == {CONTACT, "+61491570159"}
    expected_sender = {"AcmeShop": "AcmeShop", "acmeshop": "AcmeShop", "ACMESHOP": "AcmeShop",
                       # the provider's default sender, which the developer inbox shows as "senderid"
                       "": "senderid", None: "senderid", "#SharedNum#": "senderid"}.get(sender, OWN)
    assert {m["sender"] for m in sent} == {expected_sender}


@pytest.mark.parametrize("sender", ["+61491570158",  # pending
                                    "+61491570199",  # never registered
                                    "AcmeWait", "AcmeNope", "Someone", "#sharednum"])
def test_refused_senders_queue_nothing(app_client: TestClient, sender_account, ctx, sender: str) -> None:
    r = app_client.post(GATEWAY, json={"message": "hi", "contacts": [CONTACT], "sender": sender},
                        headers=sender_account.headers)
    assert r.status_code == 403
    assert r.json()["status"] is False and "may not send as" in r.json()["message"]
    assert sms_rows(ctx) == []
    check = app_client.get(CHECK, params={"sender": sender}, headers=sender_account.headers).json()
    assert check["data"]["allowed"] is False


def test_other_accounts_and_deleted_numbers_are_refused(
    app_client: TestClient, sender_account, make_customer, ctx
) -> None:
    other = make_customer("Other")
    for sender in (OWN, "AcmeShop"):
        r = app_client.post(
            GATEWAY, json={"message": "hi", "contacts": [CONTACT], "sender": sender}, headers=other.headers
        )
        assert r.status_code == 403
    listing = app_client.get("/api/v1/customNumber/list", params={"status": "active"}, headers=sender_account.headers)
    registration_id = listing.json()["data"]["items"][0]["_id"]
    assert (
        app_client.delete(f"/api/v1/customNumber/{registration_id}", headers=sender_account.headers).status_code == 200
    )
    r = app_client.post(
        GATEWAY, json={"message": "hi", "contacts": [CONTACT], "sender": OWN}, headers=sender_account.headers
    )
    assert r.status_code == 403
    assert sms_rows(ctx) == []


def test_check_answers_what_the_gateway_would_do(app_client: TestClient, sender_account) -> None:
    h = sender_account.headers
    assert app_client.get(CHECK, params={"sender": "0491 570 156"}, headers=h).json()["data"] == {
        "sender": "0491 570 156", "allowed": True, "type": "custom_number", "sendAs": OWN}
    assert app_client.get(CHECK, params={"sender": "acmeSHOP"}, headers=h).json()["data"] == {
        "sender": "acmeSHOP", "allowed": True, "type": "business_name", "sendAs": "AcmeShop"}
    assert app_client.get(CHECK, params={"sender": "#SharedNum#"}, headers=h).json()["data"]["type"] == "shared"
    assert app_client.get(CHECK, params={"sender": "AcmeWait"}, headers=h).json()["data"] == {
        "sender": "AcmeWait", "allowed": False, "type": None, "sendAs": None}
    assert app_client.get(CHECK, params={"sender": "x" * 40}, headers=h).status_code == 400
    assert app_client.get(CHECK, params={"sender": OWN}).status_code == 401


@pytest.mark.parametrize("body,message", [
    ({"contacts": [CONTACT]}, "message is required"),
    ({"message": "", "contacts": [CONTACT]}, "message is required"),
    ({"message": "hi"}, "Contacts must either start with 61"),
    ({"message": "hi", "contacts": []}, "Contacts must either start with 61"),
    ({"message": "hi", "contacts": CONTACT}, "contacts must be a list"),
    ({"message": "hi", "contacts": [CONTACT] * 1001}, "contacts must be a list"),
    ({"message": "hi", "contacts": ["nope", "0298765432"]}, "Contacts must either start with 61"),
    ({"message": "x" * 1531, "contacts": [CONTACT]}, "too long"),
    ({"message": "hi", "contacts": [CONTACT], "sender": ["x"]}, "sender must be a string"),
])
def test_bad_requests_queue_nothing(
    app_client: TestClient, sender_account, ctx, body: dict[str, Any], message: str
) -> None:
    r = app_client.post(GATEWAY, json=body, headers=sender_account.headers)
    assert r.status_code == 400 and message in r.json()["message"]
    assert sms_rows(ctx) == []


def test_parts_and_encoding(app_client: TestClient, sender_account) -> None:
    def measure(text: str) -> tuple[str, int]:
        data = app_client.post(
            GATEWAY, json={"message": text, "contacts": [CONTACT]}, headers=sender_account.headers
        ).json()["data"]
        return data["encoding"], data["messageParts"]

    assert measure("a" * 160) == ("GSM-7", 1)
    assert measure("a" * 161) == ("GSM-7", 2)
    assert measure("€" * 80) == ("GSM-7", 1)  # escaped characters count twice
    assert measure("ü" * 160) == ("GSM-7", 1)
    assert measure("Привет") == ("UCS-2", 1)
    assert measure("ж" * 71) == ("UCS-2", 2)


def test_contacts_are_deduplicated(app_client: TestClient, sender_account, ctx) -> None:
    r = app_client.post(GATEWAY, json={"message": "hi", "contacts": [CONTACT, "0491570157", "491 570 157"]},
                        headers=sender_account.headers)
    assert r.json()["data"]["totalValidContact"] == 1
    assert len(sms_rows(ctx)) == 1


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"send_max_per_account_per_minute": 10}


def test_send_rate_limit(app_client: TestClient, sender_account, ctx, clock) -> None:
    h = sender_account.headers
    contacts = [f"+6149157016{i}" for i in range(8)]
    assert app_client.post(GATEWAY, json={"message": "hi", "contacts": contacts}, headers=h).status_code == 200
    clock.advance(seconds=20)
    r = app_client.post(GATEWAY, json={"message": "hi", "contacts": contacts[:4]}, headers=h)
    assert r.status_code == 429 and r.headers["retry-after"] == "40"
    assert len(sms_rows(ctx)) == 8
    clock.advance(seconds=41)
    assert app_client.post(GATEWAY, json={"message": "hi", "contacts": contacts[:4]}, headers=h).status_code == 200
    big = [f"+614915701{i:02d}" for i in range(11)]
    r = app_client.post(GATEWAY, json={"message": "hi", "contacts": big}, headers=h)
    assert r.status_code == 400 and "At most 10 messages per minute" in r.json()["message"]
