"""Every message visible: ``GET /api/v1/gateway/messages/{MessageId}`` (status, fields and
history), ``GET /api/v1/gateway/messages`` (newest first, filtered, paged) and the
``message.delivered`` / ``message.failed`` / ``message.cancelled`` events, on both databases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from senderid.clock import iso_ms
from senderid.delivery.providers.base import PermanentError, TransientError
from senderid.delivery.worker import Worker
from senderid.domain import accounts, outbox
from senderid.domain.context import Context
from senderid.domain.outbox import views
from senderid.domain.types import CLI
from senderid.store.tables import message_events, webhook_events
from tests.support.fake_providers import ScriptedProvider
from tests.support.gateway import CONTACT, ENVELOPE, own_number, post
from tests.support.helpers import latest_code

MESSAGES = "/api/v1/gateway/messages"
HOOK = "http://127.0.0.1:9/hook"  # never delivered here: the events are read from the table
FIELDS = ["MessageId", "to", "sender", "status", "customString", "parts", "credits", "scheduledAt", "queuedAt",
          "sentAt", "deliveredAt", "attempts", "error", "events"]


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"webhook_allow_private": True}


@pytest.fixture
def sender(app_client: TestClient, no_otp_customer, ctx):
    own_number(app_client, no_otp_customer)
    accounts.set_webhook_url(ctx, no_otp_customer.account.id, HOOK, actor=CLI)
    return no_otp_customer


def send(client: TestClient, who, **body: object) -> str:
    status, answer, [message_id] = post(client, who.headers, **{"message": "Hello", "contacts": [CONTACT], **body})
    assert status == 200, answer
    return message_id


def get(client: TestClient, who, message_id: str) -> dict[str, Any]:
    r = client.get(f"{MESSAGES}/{message_id}", headers=who.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert {k: v for k, v in body.items() if k != "data"} == {
        **ENVELOPE, "show_message": 0, "status": True, "message": "Success", "error": {}}
    assert list(body["data"]) == FIELDS
    return body["data"]


def events_of(ctx: Context, account_id: str, type: str) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        payloads = conn.execute(
            sa.select(webhook_events.c.payload).where(webhook_events.c.account_id == account_id,
                                                      webhook_events.c.type == type)
            .order_by(webhook_events.c.created_at, webhook_events.c.id)).scalars().all()
    return [p["data"] for p in payloads]


def fake_worker(ctx: Context, *script: BaseException | None) -> Worker:
    return Worker(ctx.db, ctx.settings, ScriptedProvider(script), ctx.clock, name="w")


def test_a_message_from_queued_to_delivered(app_client: TestClient, sender, ctx, clock) -> None:
    queued_at = clock.now()
    message_id = send(app_client, sender, customString="spring-sale", sender="0491 570 156")
    data = get(app_client, sender, message_id)
    assert data == {
        "MessageId": message_id, "to": CONTACT, "sender": "+61491570156", "status": "queued",
        "customString": "spring-sale", "parts": 1, "credits": 1.3, "scheduledAt": None,  # a custom number: 1.3 a part
        "queuedAt": iso_ms(queued_at), "sentAt": None, "deliveredAt": None, "attempts": 0, "error": None,
        "events": [{"status": "queued", "at": iso_ms(queued_at), "detail": None}],
    }

    clock.advance(2)
    worker = fake_worker(ctx, TransientError("HTTP 503"))
    worker.run_once()  # the first attempt fails for now
    data = get(app_client, sender, message_id)
    assert data["status"] == "queued" and data["attempts"] == 1 and data["error"] == "HTTP 503"
    retry_event = data["events"][1]
    assert retry_event["status"] == "queued" and retry_event["at"] == iso_ms(clock.now())
    assert retry_event["detail"].startswith("attempt 1 via fake: HTTP 503; next try at ")

    clock.advance(3600)
    sent_at = clock.now()
    worker.run_once()
    data = get(app_client, sender, message_id)
    assert data["status"] == "sent" and data["sentAt"] == iso_ms(sent_at) and data["attempts"] == 2
    assert data["events"][2] == {"status": "sent", "at": iso_ms(sent_at),
                                 "detail": f"attempt 2 via fake: provider message id fake-{message_id}"}

    clock.advance(5)
    delivered_at = clock.now()
    with ctx.db.write() as conn:
        assert outbox.record_receipt(conn, provider="fake", provider_message_id=f"fake-{message_id}",
                                     status="delivered", now=delivered_at)
    data = get(app_client, sender, message_id)
    assert data["status"] == "delivered" and data["deliveredAt"] == iso_ms(delivered_at)
    assert [e["status"] for e in data["events"]] == ["queued", "queued", "sent", "delivered"]
    assert data["events"][3] == {"status": "delivered", "at": iso_ms(delivered_at),
                                 "detail": "via fake: delivery receipt"}
    assert events_of(ctx, sender.account.id, "message.delivered") == [
        {"id": message_id, "to": CONTACT, "sender": "+61491570156", "deliveredAt": iso_ms(delivered_at)}]


def test_a_receipt_that_says_undelivered(app_client: TestClient, sender, ctx, clock) -> None:
    message_id = send(app_client, sender)
    fake_worker(ctx).run_once()
    with ctx.db.write() as conn:
        outbox.record_receipt(conn, provider="fake", provider_message_id=f"fake-{message_id}", status="failed",
                              now=clock.now())
    data = get(app_client, sender, message_id)
    assert data["status"] == "failed" and data["deliveredAt"] is None
    assert data["events"][-1] == {
        "status": "failed", "at": iso_ms(clock.now()),
        "detail": "via fake: fake: the delivery receipt says the SMS was not delivered"}
    assert [e["id"] for e in events_of(ctx, sender.account.id, "message.failed")] == [message_id]
    assert events_of(ctx, sender.account.id, "message.delivered") == []


def test_a_permanent_failure_is_in_the_history(app_client: TestClient, sender, ctx, clock) -> None:
    message_id = send(app_client, sender)
    fake_worker(ctx, PermanentError("number barred")).run_once()
    data = get(app_client, sender, message_id)
    assert data["status"] == "failed" and data["error"] == "number barred"
    assert data["events"][-1] == {"status": "failed", "at": iso_ms(clock.now()),
                                  "detail": "attempt 1 via fake: number barred"}


def test_a_scheduled_message_then_cancelled(app_client: TestClient, sender, ctx, clock) -> None:
    due = clock.now() + timedelta(days=7)
    message_id = send(app_client, sender, scheduleAt=iso_ms(due))
    data = get(app_client, sender, message_id)
    assert data["status"] == "scheduled" and data["scheduledAt"] == iso_ms(due)
    clock.advance(60)
    assert app_client.delete(f"{MESSAGES}/{message_id}", headers=sender.headers).status_code == 200
    data = get(app_client, sender, message_id)
    assert data["status"] == "cancelled" and data["error"] == "cancelled by the account"
    assert data["events"][-1] == {"status": "cancelled", "at": iso_ms(clock.now()),
                                  "detail": "cancelled by the account"}
    assert events_of(ctx, sender.account.id, "message.cancelled") == [
        {"id": message_id, "to": CONTACT, "sender": "", "reason": "cancelled by the account"}]


def test_a_scheduled_message_is_queued_once_due(app_client: TestClient, sender, clock) -> None:
    message_id = send(app_client, sender, delay=60_000)
    assert get(app_client, sender, message_id)["status"] == "scheduled"
    clock.advance(61)
    assert get(app_client, sender, message_id)["status"] == "queued"


@pytest.mark.parametrize("which", ["unknown", "another account's", "not an id"])
def test_404_for_a_message_that_is_not_the_accounts(app_client: TestClient, sender, make_customer, which: str) -> None:
    message_id = send(app_client, sender)
    asking = make_customer("Other") if which == "another account's" else sender
    wanted = {"unknown": "0" * 24, "another account's": message_id, "not an id": "nope"}[which]
    r = app_client.get(f"{MESSAGES}/{wanted}", headers=asking.headers)
    assert r.status_code == 404
    assert r.json()["status"] is False and r.json()["message"] == f"No message {wanted} in your account"


def test_the_list_newest_first_paged_and_filtered(app_client: TestClient, sender, make_customer, ctx, clock) -> None:
    start = clock.now()
    first = send(app_client, sender, customString="a")
    clock.advance(10)
    second = send(app_client, sender, contacts=["0491 570 158"], customString="b")
    clock.advance(10)
    scheduled = send(app_client, sender, delay=3_600_000)
    other = make_customer("Other", otp_required=False)
    send(app_client, other)  # never in this account's list
    fake_worker(ctx).run_once()  # first and second: sent

    def listed(**query: object) -> tuple[list[str], int]:
        r = app_client.get(MESSAGES, params=query, headers=sender.headers)
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert r.json()["message"] == "Success" and list(data) == ["items", "total", "limit", "offset"]
        for item in data["items"]:
            assert list(item) == FIELDS[:-1]  # no history in the list
        return [item["MessageId"] for item in data["items"]], data["total"]

    assert listed() == ([scheduled, second, first], 3)
    assert listed(limit=2) == ([scheduled, second], 3)
    assert listed(limit=2, offset=2) == ([first], 3)
    assert listed(status="scheduled") == ([scheduled], 1)
    assert listed(status="sent") == ([second, first], 2)
    assert listed(status="queued") == ([], 0)
    for form in ("+61491570158", "61491570158", "0491570158", "491570158", "0491 570 158"):
        assert listed(to=form) == ([second], 1), form
    assert listed(customString="a") == ([first], 1)
    assert listed(since=iso_ms(start + timedelta(seconds=10))) == ([scheduled, second], 2)
    assert listed(until=iso_ms(start + timedelta(seconds=10))) == ([second, first], 2)
    assert listed(since="2000-01-01T00:00:00", until=iso_ms(start)) == ([first], 1)
    item = app_client.get(MESSAGES, params={"status": "scheduled"}, headers=sender.headers).json()["data"]["items"][0]
    assert {k: v for k, v in item.items()} == {k: v for k, v in get(app_client, sender, scheduled).items()
                                               if k != "events"}


@pytest.mark.parametrize(("query", "message"), [
    ({"status": "lost"}, "status must be one of scheduled, queued, sending, sent, delivered, failed, dead, cancelled"),
    ({"to": "12"}, "to '12' is not a number"),
    ({"since": "yesterday"}, "since 'yesterday' is not a time"),
    ({"until": "2024-13-01"}, "until '2024-13-01' is not a time"),
])
def test_bad_filters_are_a_400_naming_them(app_client: TestClient, sender, query: dict[str, str], message: str) -> None:
    r = app_client.get(MESSAGES, params=query, headers=sender.headers)
    assert r.status_code == 400, r.text
    assert r.json()["status"] is False and r.json()["message"].startswith(message)


def test_an_otp_history_never_holds_the_code(app_client: TestClient, customer, ctx) -> None:
    app_client.post("/api/v1/customNumber/add", json={"name": "n", "number": "+61491570156"}, headers=customer.headers)
    code = latest_code(ctx, "+61491570156")  # delivers it
    with ctx.db.read() as conn:
        rows = conn.execute(sa.select(message_events)).all()
    [message_id] = {row.message_id for row in rows}
    viewed = views.operator_view(ctx, message_id)
    assert viewed.kind == "otp" and [e.status for e in viewed.events] == ["queued", "sent"]
    assert all(code not in str(tuple(row)) for row in rows)
    assert all(code not in (e.describe() or "") for e in viewed.events)


def test_an_outcome_that_did_not_happen_leaves_no_history(app_client: TestClient, sender, ctx, clock) -> None:
    """Cancelled while the worker held it, then refused by the provider: it stays cancelled,
    and its history holds no "failed" it never had."""
    message_id = send(app_client, sender)

    def cancel_meanwhile(_sms: object) -> None:
        with ctx.db.write() as conn:
            outbox.cancel(conn, outbox.JustClaimed([message_id], "w"), now=clock.now(), reason="test cancel")

    provider = ScriptedProvider([PermanentError("number barred")], before_answer=cancel_meanwhile)
    Worker(ctx.db, ctx.settings, provider, clock, name="w").run_once()
    data = get(app_client, sender, message_id)
    assert data["status"] == "cancelled"
    assert [e["status"] for e in data["events"]] == ["queued", "cancelled"]


def test_the_total_counts_only_so_far_past_the_page(app_client: TestClient, sender, ctx, clock,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """With many messages stored, the total is exact up to COUNT_AHEAD past the page's end and
    "at least" above it, so a page costs the same whatever is stored, and a walker still
    reaches every message."""
    from senderid.domain.outbox import views

    monkeypatch.setattr(views, "COUNT_AHEAD", 2)
    sent = []
    for i in range(7):
        sent.append(send(app_client, sender, customString=f"m{i}"))
        clock.advance(1)

    def listed(**query: object) -> tuple[list[str], int]:
        data = app_client.get(MESSAGES, params=query, headers=sender.headers).json()["data"]
        return [item["MessageId"] for item in data["items"]], data["total"]

    newest = sent[::-1]
    assert listed(limit=2) == (newest[:2], 4)  # 2 on the page, 2 more counted: at least 4
    assert listed(limit=2, offset=2) == (newest[2:4], 6)
    assert listed(limit=2, offset=4) == (newest[4:6], 7)  # exact once the end is near
    assert listed(limit=2, offset=6) == (newest[6:], 7)
    walked, offset = [], 0
    while True:
        items, total = listed(limit=2, offset=offset)
        walked += items
        offset += len(items)
        if not items or offset >= total:
            break
    assert walked == newest
