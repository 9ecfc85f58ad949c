"""Replies from phones: kept for the account they answer, sent as ``message.inbound``, listed by
``GET /api/v1/inbound``; ``START``/``UNSTOP`` take a contact off the opt-out list."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from peers.cellcast import CellcastPeer
from peers.smsc import TestSmsc
from peers.twilio import TwilioPeer
from senderid import ids
from senderid.domain import optouts, retention
from senderid.domain.types import CLI
from senderid.store.tables import accounts, inbound_messages, webhook_events
from tests.domain.test_optouts import (
    CELLCAST,
    CELLCAST_INBOUND,
    TWILIO,
    TWILIO_INBOUND,
    drain,
    listed,
    send_reply,
    signed_form,
    smpp_peer,
    worker_for,
)
from tests.support.gateway import CONTACT, OWN, ok, own_number, post, refused
from tests.support.helpers import deliver_all

INBOUND = "/api/v1/inbound"
OTHER = "+61491570158"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"webhook_allow_private": True}


def hook(ctx, account_id: str) -> None:
    with ctx.db.write() as conn:
        conn.execute(sa.update(accounts).where(accounts.c.id == account_id)
                     .values(webhook_url="https://hooks.example.com/in", webhook_secret="whsec_dGVzdA=="))


def events(ctx, *types: str) -> list[tuple[str, str, dict[str, Any]]]:
    with ctx.db.read() as conn:
        rows = conn.execute(sa.select(webhook_events).where(webhook_events.c.type.in_(types))
                            .order_by(webhook_events.c.created_at, webhook_events.c.id)).all()
    return [(r.account_id, r.type, r.payload["data"]) for r in rows]


def inbound_list(client: TestClient, customer, **params: object) -> dict[str, Any]:
    r = client.get(INBOUND, params=params, headers=customer.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["message"]) == (True, "Inbound messages")
    return body["data"]


def reply_item(ctx, body: str, reply_to: str, to: str = OWN, **kw: Any) -> dict[str, Any]:
    return {"id": kw.get("id", "<id>"), "from": kw.get("from", CONTACT), "to": to, "body": body,
            "receivedAt": kw.get("receivedAt", "<at>"), "replyTo": reply_to}


def masked(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for item in items:
        assert ids.is_id(item["id"]), item
        assert item["receivedAt"].endswith("Z"), item
    return [{**item, "id": "<id>", "receivedAt": "<at>"} for item in items]


# -- through the developer inbox ------------------------------------------------------------------------


def test_every_reply_is_kept_listed_and_sent(app_client: TestClient, no_otp_customer, make_customer, ctx,
                                             clock) -> None:
    other = make_customer("Other")
    own_number(app_client, no_otp_customer)
    hook(ctx, no_otp_customer.account.id)
    hook(ctx, other.account.id)
    _, _, (first,) = post(app_client, no_otp_customer.headers, message="Sale", contacts=[CONTACT], sender=OWN)
    deliver_all(ctx)
    r = send_reply(app_client, {"from": "0491 570 157", "to": OWN, "body": "What time do you open?"})
    assert (r.status_code, r.json()) == (200, ok("Reply received", {"optedOut": False}))
    r = send_reply(app_client, {"from": OTHER, "to": OWN, "body": "Who is this?"})  # never sent to: kept nowhere
    assert r.json()["data"] == {"optedOut": False}
    clock.advance(seconds=5)
    _, _, (second,) = post(app_client, no_otp_customer.headers, message="Later", contacts=[CONTACT], sender=OWN)
    deliver_all(ctx)
    r = send_reply(app_client, {"from": CONTACT, "to": OWN, "body": "Thanks"})
    data = inbound_list(app_client, no_otp_customer)
    assert (data["total"], data["limit"], data["offset"]) == (2, 50, 0)
    assert masked(data["items"]) == [
        reply_item(ctx, "Thanks", second),
        reply_item(ctx, "What time do you open?", first),
    ]
    sent = events(ctx, "message.inbound")
    assert [(a, t) for a, t, _ in sent] == [(no_otp_customer.account.id, "message.inbound")] * 2
    assert [d for _, _, d in reversed(sent)] == data["items"]  # the event is the listed item
    assert inbound_list(app_client, other)["items"] == []  # another account sees none of them


def test_paging_and_filters(app_client: TestClient, no_otp_customer, ctx, clock) -> None:
    own_number(app_client, no_otp_customer)
    _, _, (to_contact, to_other) = post(app_client, no_otp_customer.headers, message="Sale", contacts=[CONTACT, OTHER],
                                        sender=OWN)
    deliver_all(ctx)
    start = clock.now()
    for i in range(3):
        send_reply(app_client, {"from": CONTACT, "to": OWN, "body": f"c{i}"})
        clock.advance(seconds=10)
    send_reply(app_client, {"from": OTHER, "to": OWN, "body": "o"})
    page = inbound_list(app_client, no_otp_customer, limit=2, offset=1)
    assert (page["total"], page["limit"], page["offset"]) == (4, 2, 1)
    assert [i["body"] for i in page["items"]] == ["c2", "c1"]
    assert [i["body"] for i in inbound_list(app_client, no_otp_customer, **{"from": "0491570158"})["items"]] == ["o"]
    assert inbound_list(app_client, no_otp_customer, **{"from": OTHER})["items"][0]["replyTo"] == to_other
    since = (start + timedelta(seconds=10)).isoformat()
    found = inbound_list(app_client, no_otp_customer, since=since, **{"from": CONTACT})
    assert ([i["body"] for i in found["items"]], found["total"]) == (["c2", "c1"], 2)
    assert {i["replyTo"] for i in found["items"]} == {to_contact}
    for params, message in (({"from": "12"}, "from is not a valid mobile number"),
                            ({"since": "yesterday"}, "since must be an ISO-8601 time, e.g. 2026-01-01T00:00:00Z")):
        r = app_client.get(INBOUND, params=params, headers=no_otp_customer.headers)
        assert (r.status_code, r.json()) == (400, refused(message))
    assert app_client.get(INBOUND).status_code == 401


@pytest.mark.parametrize("word", ["START", "start", "  Unstop ", "UNSTOP\n"])
def test_start_takes_the_contact_off_the_list(app_client: TestClient, no_otp_customer, ctx, word: str) -> None:
    own_number(app_client, no_otp_customer)
    hook(ctx, no_otp_customer.account.id)
    post(app_client, no_otp_customer.headers, message="Sale", contacts=[CONTACT], sender=OWN)
    deliver_all(ctx)
    assert send_reply(app_client, {"from": CONTACT, "to": OWN, "body": "STOP"}).json()["data"] == {"optedOut": True}
    assert listed(ctx, no_otp_customer.account.id) == {CONTACT: "reply"}
    r = send_reply(app_client, {"from": CONTACT, "to": OWN, "body": word})
    assert (r.status_code, r.json()) == (200, ok("Reply received", {"optedOut": False}))
    assert listed(ctx, no_otp_customer.account.id) == {}
    assert [d for _, _, d in events(ctx, "optout.removed")] == [{"number": CONTACT, "source": "reply"}]
    assert [i["body"] for i in inbound_list(app_client, no_otp_customer)["items"]] == [word, "STOP"]
    send_reply(app_client, {"from": CONTACT, "to": OWN, "body": "Start now"})  # not the keyword alone
    send_reply(app_client, {"from": CONTACT, "to": OWN, "body": word})  # not on the list: nothing to remove
    assert len(events(ctx, "optout.removed")) == 1
    optouts.add(ctx, no_otp_customer.account.id, CONTACT, source="cli", actor=CLI)
    send_reply(app_client, {"from": CONTACT, "to": OWN, "body": "Start now"})
    assert listed(ctx, no_otp_customer.account.id) == {CONTACT: "cli"}


def test_reply_texts_follow_the_retention_rule(app_client: TestClient, no_otp_customer, ctx, clock) -> None:
    own_number(app_client, no_otp_customer)
    post(app_client, no_otp_customer.headers, message="Sale", contacts=[CONTACT], sender=OWN)
    deliver_all(ctx)
    send_reply(app_client, {"from": CONTACT, "to": OWN, "body": "old"})
    clock.advance(days=2)
    send_reply(app_client, {"from": CONTACT, "to": OWN, "body": "new"})
    days = ctx.settings.message_body_retention_days
    swept = retention.sweep(ctx.db, clock.now() + timedelta(days=days, hours=-1), retention_days=days)
    assert swept.inbound_blanked == 1
    assert [i["body"] for i in inbound_list(app_client, no_otp_customer)["items"]] == ["new", ""]
    with ctx.db.read() as conn:
        assert conn.execute(sa.select(inbound_messages.c.body_blanked).order_by(inbound_messages.c.received_at)
                            ).scalars().all() == [True, False]
    assert (
        retention.sweep(ctx.db, clock.now() + timedelta(days=days, hours=1), retention_days=days).inbound_blanked == 1
    )


# -- through each provider's inbound path --------------------------------------------------------------


def kept(ctx) -> list[tuple[str, str, str, str, str | None]]:
    with ctx.db.read() as conn:
        rows = conn.execute(sa.select(inbound_messages).order_by(inbound_messages.c.received_at)).all()
    return [(r.account_id, r.from_number, r.to_address, r.body, r.reply_to) for r in rows]


@pytest.mark.parametrize("settings_overrides", [{**TWILIO, "webhook_allow_private": True}])
def test_a_reply_through_twilio(app_client: TestClient, make_customer, ctx) -> None:
    customer = make_customer("Acme")
    _, _, (message_id,) = post(app_client, customer.headers, message="Sale", contacts=[CONTACT])
    with TwilioPeer(TWILIO["twilio_account_sid"], "tw-token") as peer, \
            worker_for(ctx, twilio_base_url=peer.url) as worker:
        drain(worker)
    hook(ctx, customer.account.id)  # after the worker ran: its events stay queued, delivered nowhere
    form = {"From": CONTACT, "To": "+61491570100", "Body": "Is the sale on Sunday too?",
            "MessageSid": "SM" + "1" * 32, "AccountSid": TWILIO["twilio_account_sid"]}
    r = app_client.post(TWILIO_INBOUND, data=form, headers=signed_form("http://testserver" + TWILIO_INBOUND, form,
                                                                       "tw-token"))
    assert r.status_code == 200
    item = reply_item(ctx, "Is the sale on Sunday too?", message_id, to="+61491570100")
    assert masked(inbound_list(app_client, customer)["items"]) == [item]
    assert masked([d for _, _, d in events(ctx, "message.inbound")]) == [item]


@pytest.mark.parametrize("settings_overrides", [{**CELLCAST, "webhook_allow_private": True}])
def test_a_reply_through_cellcast(app_client: TestClient, no_otp_customer, ctx) -> None:
    own_number(app_client, no_otp_customer)
    _, _, (message_id,) = post(app_client, no_otp_customer.headers, message="Sale", contacts=[CONTACT], sender=OWN)
    with CellcastPeer("cc-key") as peer, worker_for(ctx, cellcast_base_url=peer.url) as worker:
        drain(worker)
    hook(ctx, no_otp_customer.account.id)
    raw = orjson.dumps({"from": "61491570157", "to": "0491570156", "body": "Yes please"})
    signature = "sha256=" + hmac.new(b"cc-inbound", raw, hashlib.sha256).hexdigest()
    r = app_client.post(CELLCAST_INBOUND, content=raw, headers={"X-Cellcast-Signature": signature,
                                                                "Content-Type": "application/json"})
    assert (r.status_code, r.json()) == (200, ok("Reply received", {"optedOut": False}))
    item = reply_item(ctx, "Yes please", message_id)
    assert masked(inbound_list(app_client, no_otp_customer)["items"]) == [item]
    assert masked([d for _, _, d in events(ctx, "message.inbound")]) == [item]


def test_a_reply_through_smpp(app_client: TestClient, no_otp_customer, ctx) -> None:
    own_number(app_client, no_otp_customer)
    _, _, (message_id,) = post(app_client, no_otp_customer.headers, message="Sale", contacts=[CONTACT], sender=OWN)
    with TestSmsc() as smsc, worker_for(ctx, **smpp_peer(smsc)) as worker:
        drain(worker)
        hook(ctx, no_otp_customer.account.id)
        assert smsc.send_mo("61491570157", "61491570199", "Wrong number") == 0  # the account never used it
        assert smsc.send_mo("61491570157", "61491570156", "See you at 5") == 0
    assert kept(ctx) == [(no_otp_customer.account.id, CONTACT, OWN, "See you at 5", message_id)]
    item = reply_item(ctx, "See you at 5", message_id)
    assert masked(inbound_list(app_client, no_otp_customer)["items"]) == [item]
    assert masked([d for _, _, d in events(ctx, "message.inbound")]) == [item]


def test_a_reply_through_the_inbox_to_the_shared_sender(app_client: TestClient, customer, ctx) -> None:
    hook(ctx, customer.account.id)
    _, _, (message_id,) = post(app_client, customer.headers, message="Sale", contacts=[CONTACT])
    deliver_all(ctx)
    send_reply(app_client, {"from": CONTACT, "to": "senderid", "body": "ok"})
    item = reply_item(ctx, "ok", message_id, to="senderid")
    assert masked(inbound_list(app_client, customer)["items"]) == [item]
    assert masked([d for _, _, d in events(ctx, "message.inbound")]) == [item]
