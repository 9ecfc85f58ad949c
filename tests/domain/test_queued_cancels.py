"""A gateway message leaves only as a sender its account still holds, and a cancel gives
back exactly what the message was charged.

* removing a sender (deleting an active custom number) cancels the account's messages
  still queued from it, in the same transaction, refunded, with ``message.cancelled``;
* the worker's claim re-checks the sender against the tables, so a sender removed by a
  path that cancelled nothing (SQL by hand) still sends nothing;
* every cancel (by id, by contact, by sender) refunds what was charged when the message
  was queued: nothing for a message queued while the account was unlimited.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from senderid.delivery.providers.devinbox import list_messages
from senderid.domain import accounts, business_names, credits, optouts
from senderid.domain.context import Context
from senderid.domain.types import CLI
from senderid.store.tables import audit_events, custom_numbers, webhook_events
from senderid.store.tables import business_names as business_names_table
from tests.support.gateway import CONTACT, GATEWAY, OWN, own_number, post, sms_rows
from tests.support.helpers import deliver_all, latest_code

REASON = "sender no longer allowed"
HOOK = "http://127.0.0.1:9/hook"  # never delivered here: the events are read from the table


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"webhook_allow_private": True}


def cancelled_events(ctx: Context, account_id: str) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        payloads = conn.execute(
            sa.select(webhook_events.c.payload).where(webhook_events.c.account_id == account_id,
                                                      webhook_events.c.type == "message.cancelled")
            .order_by(webhook_events.c.created_at, webhook_events.c.id)
        ).scalars().all()
    return [p["data"] for p in payloads]


def row_of(ctx: Context, message_id: str) -> Any:
    return next(r for r in sms_rows(ctx) if r.id == message_id)


def audited(ctx: Context, action: str) -> list[Any]:
    with ctx.db.read() as conn:
        return conn.execute(sa.select(audit_events).where(audit_events.c.action == action)
                            .order_by(audit_events.c.id)).all()


def test_a_deleted_number_takes_its_scheduled_sms_with_it(app_client: TestClient, no_otp_customer, make_customer,
                                                          ctx, clock) -> None:
    """A schedules from its number, deletes the number, B registers and verifies it: the
    SMS never leaves as B's number, A gets its credits back and hears of it."""
    a, b = no_otp_customer, make_customer("Bee")
    own_number(app_client, a)
    accounts.set_webhook_url(ctx, a.account.id, HOOK, actor=CLI)
    credits.set_balance(ctx, a.account.id, 10, actor=CLI)
    status, _, [message_id] = post(app_client, a.headers, message="A's sale", contacts=[CONTACT], sender=OWN,
                                   delay=3000)
    assert status == 200 and credits.balance(ctx, a.account.id) == 8.7  # 1.3 for a custom sender

    [registration] = app_client.get("/api/v1/customNumber/list", headers=a.headers).json()["data"]["items"]
    assert app_client.delete(f"/api/v1/customNumber/{registration['_id']}", headers=a.headers).status_code == 200
    # the delete's own transaction cancelled it and gave back what it cost
    row = row_of(ctx, message_id)
    assert (row.status, row.last_error) == ("cancelled", REASON)
    assert credits.balance(ctx, a.account.id) == 10
    assert cancelled_events(ctx, a.account.id) == [
        {"id": message_id, "to": CONTACT, "sender": OWN, "reason": REASON}]
    [deleted] = audited(ctx, "custom_number.deleted")
    assert (deleted.details["cancelled"], deleted.details["credits_refunded"]) == (1, 1.3)

    r = app_client.post("/api/v1/customNumber/add", json={"name": "bee", "number": OWN}, headers=b.headers)
    assert r.status_code == 200, r.text
    r = app_client.post("/api/v1/customNumber/verifyCustomNumber",
                        json={"name": "bee", "number": OWN, "otp": latest_code(ctx, OWN)}, headers=b.headers)
    assert r.status_code == 200, r.text

    clock.advance(seconds=6)
    deliver_all(ctx)
    assert [m for m in list_messages(ctx.db) if m["body"] == "A's sale"] == []
    assert row_of(ctx, message_id).status == "cancelled"
    assert credits.balance(ctx, a.account.id) == 10  # given back once
    assert len(cancelled_events(ctx, a.account.id)) == 1


def _remove_by_hand(ctx: Context, kind: str, account_id: str) -> None:
    """Take the sender away with SQL, the way no domain function does (nothing cancelled)."""
    with ctx.db.write() as conn:
        if kind == "number":
            conn.execute(sa.update(custom_numbers).where(custom_numbers.c.account_id == account_id)
                         .values(status="deleted"))
        else:
            conn.execute(sa.update(business_names_table).where(business_names_table.c.account_id == account_id)
                         .values(status="REJECTED"))


@pytest.mark.parametrize("kind", ["number", "name"])
def test_the_claim_rechecks_the_sender(app_client: TestClient, no_otp_customer, ctx, clock, kind: str) -> None:
    a = no_otp_customer
    if kind == "number":
        own_number(app_client, a)
        sender, stored = OWN, OWN
    else:
        name = business_names.request(ctx, a.account, businessname="AcmeShop", actor=CLI)
        business_names.approve(ctx, name.id, actor=CLI)
        sender, stored = "acmeshop", "AcmeShop"  # any case; the outbox keeps the approved spelling
    accounts.set_webhook_url(ctx, a.account.id, HOOK, actor=CLI)
    credits.set_balance(ctx, a.account.id, 10, actor=CLI)
    _, _, [gone] = post(app_client, a.headers, message="From the sender", contacts=[CONTACT], sender=sender,
                        delay=1000)
    _, _, [kept] = post(app_client, a.headers, message="From the shared number", contacts=[CONTACT], delay=1000)
    assert credits.balance(ctx, a.account.id) == 7.7

    _remove_by_hand(ctx, kind, a.account.id)
    assert row_of(ctx, gone).status == "queued"  # nothing cancelled it
    clock.advance(seconds=2)
    deliver_all(ctx)

    assert [m["body"] for m in list_messages(ctx.db)] == ["From the shared number"]
    assert {r.id: (r.status, r.last_error) for r in sms_rows(ctx)} == {
        gone: ("cancelled", REASON), kept: ("sent", None)}
    assert credits.balance(ctx, a.account.id) == 9  # the cancelled one's 1.3 back, the sent one's 1 spent
    assert cancelled_events(ctx, a.account.id) == [{"id": gone, "to": CONTACT, "sender": stored, "reason": REASON}]
    [record] = audited(ctx, "message.cancelled")
    assert (record.actor, record.account_id, record.subject) == ("system", a.account.id, gone)
    assert record.details == {"sender": stored, "reason": REASON, "credits_refunded": 1.3}


def test_a_cancel_refunds_nothing_that_was_never_charged(app_client: TestClient, no_otp_customer, ctx) -> None:
    """Queued while unlimited, cancelled once prepaid: the balance does not grow."""
    a = no_otp_customer
    own_number(app_client, a)
    _, _, [by_id] = post(app_client, a.headers, message="one", contacts=[CONTACT], delay=60_000)
    _, _, [by_contact] = post(app_client, a.headers, message="two", contacts=["0491570158"], delay=60_000)
    _, _, [by_sender] = post(app_client, a.headers, message="three", contacts=[CONTACT], sender=OWN, delay=60_000)
    credits.set_balance(ctx, a.account.id, 0, actor=CLI)

    assert app_client.delete(f"{GATEWAY}/messages/{by_id}", headers=a.headers).status_code == 200
    optouts.add(ctx, a.account.id, "0491570158", source="cli", actor=CLI)
    [registration] = app_client.get("/api/v1/customNumber/list", headers=a.headers).json()["data"]["items"]
    assert app_client.delete(f"/api/v1/customNumber/{registration['_id']}", headers=a.headers).status_code == 200

    assert {r.id: r.status for r in sms_rows(ctx)} == {by_id: "cancelled", by_contact: "cancelled",
                                                       by_sender: "cancelled"}
    assert credits.balance(ctx, a.account.id) == 0


def test_a_cancel_refunds_exactly_what_was_charged(app_client: TestClient, no_otp_customer, ctx) -> None:
    a = no_otp_customer
    own_number(app_client, a)
    _, _, [free] = post(app_client, a.headers, message="queued while unlimited", contacts=[CONTACT], delay=60_000)
    credits.set_balance(ctx, a.account.id, 10, actor=CLI)
    _, _, [paid] = post(app_client, a.headers, message="p" * 200, contacts=[CONTACT], sender=OWN,
                        delay=60_000)  # two parts from a custom number: 2.6
    _, _, [to_contact] = post(app_client, a.headers, message="c", contacts=["0491570158"], delay=60_000)  # 1
    assert credits.balance(ctx, a.account.id) == 6.4

    for message_id in (free, paid):
        assert app_client.delete(f"{GATEWAY}/messages/{message_id}", headers=a.headers).status_code == 200
    assert credits.balance(ctx, a.account.id) == 9
    optouts.add(ctx, a.account.id, "0491570158", source="cli", actor=CLI)
    assert row_of(ctx, to_contact).status == "cancelled"
    assert credits.balance(ctx, a.account.id) == 10
    with ctx.db.read() as conn:
        refunds = conn.execute(sa.select(audit_events.c.subject, audit_events.c.details).where(
            audit_events.c.action.in_(["message.cancelled", "optout.added"])).order_by(audit_events.c.id)).all()
    assert [(s, d["credits_refunded"]) for s, d in refunds] == [(free, 0), (paid, 2.6), ("+61491570158", 1)]
