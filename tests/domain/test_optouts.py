"""Opt-out lists: the API, the gateway honouring them, and STOP replies through every inbound path.

Replies arrive through the developer inbox's reply route, a signed Twilio incoming-message
webhook, a signed Cellcast-style webhook, and an SMPP mobile-originated ``deliver_sm``
from the local SMSC peer. The SMS a reply answers are handed over first by the real worker
(to the developer inbox, or to the provider's local peer): a reply answers only what the
phone received. Bodies are compared whole; every test runs on both databases.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from peers.cellcast import CellcastPeer
from peers.smsc import TestSmsc
from peers.twilio import TwilioPeer
from senderid.delivery.providers import build_provider, inbound_recorder, receipt_recorder
from senderid.delivery.providers.twilio import signature_for
from senderid.delivery.worker import Worker
from senderid.domain import accounts, optouts
from senderid.domain.context import Context
from senderid.domain.types import CLI
from senderid.store.tables import audit_events, webhook_events
from senderid.store.tables import optouts as optouts_table
from tests.support.gateway import CONTACT, OWN, ok, own_number, post, refused, sent, sms_rows
from tests.support.helpers import deliver_all

OPTOUTS = "/api/v1/optouts"
QUEUED = "Request is being processed"


def listed(ctx, account_id: str) -> dict[str, str]:
    with ctx.db.read() as conn:
        rows = conn.execute(sa.select(optouts_table).where(optouts_table.c.account_id == account_id)).all()
    return {r.number: r.source for r in rows}


@contextmanager
def worker_for(ctx: Context, **peer: object) -> Iterator[Worker]:
    """A real worker whose provider is the settings' one, pointed at a local peer by ``peer``
    (its replies go where the server's would); the provider is closed after the block."""
    settings = ctx.settings.model_copy(update=peer)
    provider = build_provider(settings, ctx.db, ctx.clock, on_inbound=inbound_recorder(ctx, settings.sms_provider))
    try:
        yield Worker(ctx.db, settings, provider, ctx.clock, name="test-worker")
    finally:
        provider.close()


def drain(worker: Worker) -> None:
    """Hand every due SMS to the worker's provider."""
    while worker.run_once():
        pass


def statuses(ctx: Context) -> dict[str, str]:
    return {row.id: row.status for row in sms_rows(ctx)}


def page(items: list[dict[str, Any]], account_id: str, total: int | None = None, limit: int = 50,
         offset: int = 0) -> dict[str, Any]:
    return {"optoutId": optouts.list_id(account_id), "items": items,
            "total": len(items) if total is None else total, "limit": limit, "offset": offset}


# -- the API ----------------------------------------------------------------------------------


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"webhook_allow_private": True}


def test_add_list_and_remove(app_client: TestClient, customer, make_customer, ctx, clock) -> None:
    h, account_id = customer.headers, customer.account.id
    accounts.set_webhook_url(ctx, account_id, "http://127.0.0.1:9/hook", actor=CLI)
    assert app_client.get(OPTOUTS, headers=h).json() == ok("Opt-outs", page([], account_id))
    r = app_client.post(OPTOUTS, json={"number": "0491 570 157"}, headers=h)
    first = {"number": CONTACT, "source": "api", "createdAt": "2026-01-01T00:00:00.000Z"}
    assert (r.status_code, r.json()) == (200, ok("Number added to the opt-out list", first))
    r = app_client.post(OPTOUTS, json={"number": "+61491570157"}, headers=h)
    assert (r.status_code, r.json()) == (200, ok("Number already on the opt-out list", first))
    clock.advance(seconds=1)
    app_client.post(OPTOUTS, json={"number": "61491570158"}, headers=h)
    second = {"number": "+61491570158", "source": "api", "createdAt": "2026-01-01T00:00:01.000Z"}
    assert app_client.get(OPTOUTS, headers=h).json() == ok("Opt-outs", page([second, first], account_id))
    assert app_client.get(OPTOUTS, params={"limit": 1, "offset": 1}, headers=h).json() == ok(
        "Opt-outs", page([first], account_id, total=2, limit=1, offset=1))
    other = make_customer("Other")
    assert app_client.get(OPTOUTS, headers=other.headers).json() == ok("Opt-outs", page([], other.account.id))

    r = app_client.delete(f"{OPTOUTS}/0491570157", headers=h)
    assert (r.status_code, r.json()) == (200, ok("Number removed from the opt-out list", {"number": CONTACT}))
    r = app_client.delete(f"{OPTOUTS}/0491570157", headers=h)
    assert (r.status_code, r.json()) == (404, refused(f"{CONTACT} is not on your opt-out list"))
    r = app_client.delete(f"{OPTOUTS}/+61491570158", headers=other.headers)
    assert (r.status_code, r.json()) == (404, refused("+61491570158 is not on your opt-out list"))
    assert listed(ctx, account_id) == {"+61491570158": "api"}

    with ctx.db.read() as conn:
        actions = conn.execute(sa.select(audit_events.c.action, audit_events.c.subject).where(
            audit_events.c.action.like("optout.%")).order_by(audit_events.c.id)).all()
        hooks = conn.execute(sa.select(webhook_events.c.type, webhook_events.c.payload)
                             .order_by(webhook_events.c.created_at, webhook_events.c.type)).all()
    assert [tuple(a) for a in actions] == [("optout.added", CONTACT), ("optout.added", "+61491570158"),
                                           ("optout.removed", CONTACT)]
    assert [(t, p["data"]) for t, p in hooks] == [
        ("optout.added", {"number": CONTACT, "source": "api"}),
        ("optout.added", {"number": "+61491570158", "source": "api"}),
        ("optout.removed", {"number": CONTACT}),
    ]


@pytest.mark.parametrize("body", [{}, {"number": "nope"}, {"number": "0298765432"}, {"number": ["x"]}])
def test_bad_numbers_are_refused(app_client: TestClient, customer, ctx, body: dict[str, Any]) -> None:
    r = app_client.post(OPTOUTS, json=body, headers=customer.headers)
    assert (r.status_code, r.json()) == (400, refused("number is not a valid mobile number"))
    assert listed(ctx, customer.account.id) == {}


# -- the gateway honours the list ------------------------------------------------------------------


def test_opted_out_contacts_are_not_sent(app_client: TestClient, customer, make_customer, ctx) -> None:
    optouts.add(ctx, customer.account.id, CONTACT, source="cli", actor=CLI)
    status, body, ids = post(app_client, customer.headers, message="Sale", contacts=["0491 570 157", "0491570158", "x"])
    assert (status, body) == (200, ok(QUEUED, sent([("491570158", "0491570158")], invalid=["x"],
                                                    unsubscribed=["0491 570 157"])))
    assert [(r.id, r.to_number) for r in sms_rows(ctx)] == [(ids[0], "+61491570158")]
    status, body, _ = post(app_client, customer.headers, message="Sale", contacts=[CONTACT])
    assert (status, body) == (200, ok(QUEUED, sent([], unsubscribed=[CONTACT])))
    other = make_customer("Other")  # another account's list is its own
    status, body, _ = post(app_client, other.headers, message="Hi", contacts=[CONTACT])
    assert (status, body) == (200, ok(QUEUED, sent([("491570157", CONTACT)])))


def test_reply_stop_to_opt_out_adds_the_line(app_client: TestClient, customer, ctx) -> None:
    text = "a" * 150  # one part alone; two with the line
    status, body, _ = post(app_client, customer.headers, message=text, contacts=[CONTACT], replyStopToOptOut=True)
    assert (status, body) == (200, ok(QUEUED, sent([("491570157", CONTACT)], parts=2)))
    deliver_all(ctx)
    assert [r.body for r in sms_rows(ctx)] == [text + "\nReply STOP to opt out"]
    status, body, _ = post(app_client, customer.headers, message=text, contacts=[CONTACT], replyStopToOptOut=False)
    assert (status, body) == (200, ok(QUEUED, sent([("491570157", CONTACT)], parts=1)))
    status, body, _ = post(app_client, customer.headers, message=text, contacts=[CONTACT], replyStopToOptOut="yes")
    assert (status, body) == (400, refused("replyStopToOptOut must be true or false"))


def test_optout_id_must_name_the_accounts_list(app_client: TestClient, customer, make_customer, ctx) -> None:
    mine = optouts.list_id(customer.account.id)
    for fields in ({"optout": True}, {"optout": True, "optoutId": mine}, {"optoutId": mine.upper()}):
        status, _, _ = post(app_client, customer.headers, message="x", contacts=[CONTACT], **fields)
        assert status == 200, fields
    theirs = optouts.list_id(make_customer("Other").account.id)
    for fields in ({"optout": True, "optoutId": theirs}, {"optout": True, "optoutId": "6682440ea000000000000000"},
                   {"optoutId": 7}):
        status, body, _ = post(app_client, customer.headers, message="x", contacts=[CONTACT], **fields)
        assert (status, body) == (400, refused(
            f"optoutId does not name an opt-out list of your account (yours is {mine})")), fields
    status, body, _ = post(app_client, customer.headers, message="x", contacts=[CONTACT], optout="on")
    assert (status, body) == (400, refused("optout must be true or false"))
    assert len(sms_rows(ctx)) == 3


# -- STOP replies: the developer inbox -------------------------------------------------------------


REPLY = "/dev/inbox/reply"
LOOPBACK = ("127.0.0.1", 50000)  # the developer inbox answers only loopback clients


def send_reply(app_client: TestClient, body: dict[str, str]):
    return TestClient(app_client.app, client=LOOPBACK).post(REPLY, json=body)


@pytest.mark.parametrize("word", ["STOP", "stop", "  Stop All ", "unsubscribe", "OptOut", "STOP\n"])
def test_a_stop_reply_through_the_inbox(app_client: TestClient, no_otp_customer, ctx, word: str) -> None:
    own_number(app_client, no_otp_customer)
    post(app_client, no_otp_customer.headers, message="Sale", contacts=[CONTACT], sender=OWN, replyStopToOptOut=True)
    deliver_all(ctx)
    r = send_reply(app_client, {"from": "0491570157", "to": OWN, "body": word})
    assert (r.status_code, r.json()) == (200, ok("Reply received", {"optedOut": True}))
    assert listed(ctx, no_otp_customer.account.id) == {CONTACT: "reply"}
    status, body, _ = post(app_client, no_otp_customer.headers, message="Again", contacts=[CONTACT], sender=OWN)
    assert (status, body) == (200, ok(QUEUED, sent([], unsubscribed=[CONTACT])))


def test_replies_that_opt_nobody_out(app_client: TestClient, no_otp_customer, make_customer, ctx) -> None:
    own_number(app_client, no_otp_customer)
    post(app_client, no_otp_customer.headers, message="Sale", contacts=[CONTACT], sender=OWN)
    deliver_all(ctx)
    for reply in ({"from": CONTACT, "to": OWN, "body": "Stop sending me these please"},
                  {"from": CONTACT, "to": OWN, "body": "STOPP"},
                  {"from": "+61491570158", "to": OWN, "body": "STOP"},  # never sent to
                  {"from": CONTACT, "to": "+61491570199", "body": "STOP"},  # not sent from there
                  {"from": CONTACT, "to": "senderid", "body": "STOP"}):  # nor from the shared number
        r = send_reply(app_client, reply)
        assert (r.status_code, r.json()) == (200, ok("Reply received", {"optedOut": False})), reply
    r = send_reply(app_client, {"from": CONTACT, "body": "STOP"})
    assert (r.status_code, r.json()) == (
        400,
        refused('Send {"from": "+61...", "to": "<sender>", "body": "STOP"} as JSON'),
    )
    assert listed(ctx, no_otp_customer.account.id) == {}


def test_a_stop_to_the_shared_number_answers_the_latest_sender(
    app_client: TestClient, make_customer, ctx, clock
) -> None:
    first, second = make_customer("First"), make_customer("Second")
    post(app_client, first.headers, message="One", contacts=[CONTACT])
    deliver_all(ctx)
    clock.advance(seconds=5)
    post(app_client, second.headers, message="Two", contacts=[CONTACT], sender="#SharedNum#")
    deliver_all(ctx)
    r = send_reply(app_client, {"from": CONTACT, "to": "senderid", "body": "STOP"})
    assert r.json()["data"] == {"optedOut": True}
    assert (listed(ctx, first.account.id), listed(ctx, second.account.id)) == ({}, {CONTACT: "reply"})


# -- STOP replies: Twilio's incoming-message webhook ------------------------------------------------

TWILIO = {"sms_provider": "twilio", "twilio_account_sid": "AC" + "0" * 32, "twilio_auth_token": "tw-token",
          "twilio_from": "+61491570100"}
TWILIO_INBOUND = "/providers/twilio/inbound"


def signed_form(url: str, form: dict[str, str], token: str) -> dict[str, str]:
    return {"X-Twilio-Signature": signature_for(url, form, token),
            "Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize("settings_overrides", [TWILIO])
def test_a_stop_reply_through_twilio(app_client: TestClient, make_customer, ctx) -> None:
    customer = make_customer("Acme")
    post(app_client, customer.headers, message="Sale", contacts=[CONTACT])  # the shared sender: twilio_from
    with TwilioPeer(TWILIO["twilio_account_sid"], "tw-token") as peer, \
            worker_for(ctx, twilio_base_url=peer.url) as worker:
        drain(worker)
        assert [(m["To"], m["From"]) for m in peer.messages.values()] == [(CONTACT, "+61491570100")]
    form = {"From": CONTACT, "To": "+61491570100", "Body": "STOP", "MessageSid": "SM" + "1" * 32,
            "AccountSid": TWILIO["twilio_account_sid"]}
    url = "http://testserver" + TWILIO_INBOUND
    r = app_client.post(TWILIO_INBOUND, data=form, headers=signed_form(url, {**form, "Body": "HELLO"}, "tw-token"))
    assert (r.status_code, r.json()) == (403, refused("The X-Twilio-Signature header does not match"))
    assert listed(ctx, customer.account.id) == {}
    r = app_client.post(TWILIO_INBOUND, data=form, headers=signed_form(url, form, "tw-token"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/xml")
    assert r.text == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    assert listed(ctx, customer.account.id) == {CONTACT: "reply"}


# -- STOP replies: a signed Cellcast-style webhook --------------------------------------------------

CELLCAST = {"sms_provider": "cellcast", "cellcast_api_key": "cc-key", "cellcast_inbound_secret": "cc-inbound"}
CELLCAST_INBOUND = "/providers/cellcast/inbound"


@pytest.mark.parametrize("settings_overrides", [CELLCAST])
def test_a_stop_reply_through_cellcast(app_client: TestClient, no_otp_customer, ctx) -> None:
    own_number(app_client, no_otp_customer)
    post(app_client, no_otp_customer.headers, message="Sale", contacts=[CONTACT], sender=OWN)
    with CellcastPeer("cc-key") as peer, worker_for(ctx, cellcast_base_url=peer.url) as worker:
        drain(worker)
        assert [(q.to, q.sender) for q in peer.queued] == [(CONTACT, OWN)]
    raw = b'{"from": "61491570157", "to": "0491570156", "body": "Unsubscribe"}'
    good = "sha256=" + hmac.new(b"cc-inbound", raw, hashlib.sha256).hexdigest()
    for signature in ("", "sha256=" + "0" * 64, good.upper()):
        r = app_client.post(CELLCAST_INBOUND, content=raw, headers={"X-Cellcast-Signature": signature,
                                                                    "Content-Type": "application/json"})
        assert (r.status_code, r.json()) == (403, refused("The X-Cellcast-Signature header does not match"))
    assert listed(ctx, no_otp_customer.account.id) == {}
    r = app_client.post(CELLCAST_INBOUND, content=raw, headers={"X-Cellcast-Signature": good,
                                                                "Content-Type": "application/json"})
    assert (r.status_code, r.json()) == (200, ok("Reply received", {"optedOut": True}))
    assert listed(ctx, no_otp_customer.account.id) == {CONTACT: "reply"}


@pytest.mark.parametrize("settings_overrides", [{**CELLCAST, "cellcast_inbound_secret": None}])
def test_cellcast_inbound_is_refused_without_a_secret(app_client: TestClient) -> None:
    r = app_client.post(CELLCAST_INBOUND, json={"from": CONTACT, "to": OWN, "body": "STOP"},
                        headers={"X-Cellcast-Signature": "sha256="})
    assert (r.status_code, r.json()) == (403, refused("The X-Cellcast-Signature header does not match"))


# -- STOP replies: SMPP mobile-originated deliver_sm -------------------------------------------------


def smpp_peer(smsc: TestSmsc) -> dict[str, object]:
    return {"sms_provider": "smpp", "smpp_host": "127.0.0.1", "smpp_port": smsc.port,
            "smpp_system_id": smsc.system_id, "smpp_password": smsc.password}


def test_a_stop_reply_through_smpp(app_client: TestClient, no_otp_customer, ctx) -> None:
    own_number(app_client, no_otp_customer)
    post(app_client, no_otp_customer.headers, message="Sale", contacts=[CONTACT], sender=OWN)
    with TestSmsc() as smsc, worker_for(ctx, **smpp_peer(smsc)) as worker:
        drain(worker)
        assert [(m.destination_addr, m.source_addr) for m in smsc.messages] == [("61491570157", "61491570156")]
        assert smsc.send_mo("61491570157", "61491570199", "STOP") == 0  # not a number the account used
        assert listed(ctx, no_otp_customer.account.id) == {}
        assert smsc.send_mo("61491570157", "61491570156", "Stop") == 0
    assert listed(ctx, no_otp_customer.account.id) == {CONTACT: "reply"}


# -- the shared sender through providers that do not name their default number ---------------------
# SENDERID_SHARED_SENDER is unset (the default): the shared sender goes out as the provider's
# default, which Cellcast and the SMSC know and senderid does not; a reply arrives addressed
# to that number.

PROVIDER_NUMBER = "+61491570100"  # the provider's default sender, as the phone saw it


@pytest.mark.parametrize("settings_overrides", [CELLCAST])
def test_a_stop_to_cellcasts_default_number_answers_the_shared_sender(app_client: TestClient, make_customer,
                                                                     no_otp_customer, ctx) -> None:
    assert ctx.settings.shared_sender == ""
    acme = make_customer("Acme")
    own_number(app_client, no_otp_customer)  # another account's number, which never sent to CONTACT
    post(app_client, acme.headers, message="Sale", contacts=[CONTACT])
    with CellcastPeer("cc-key") as peer, worker_for(ctx, cellcast_base_url=peer.url) as worker:
        drain(worker)
        assert [(q.to, q.sender) for q in peer.queued] == [(CONTACT, "")]  # Cellcast's default

    def reply(to: str) -> Any:
        raw = orjson.dumps({"from": CONTACT, "to": to, "body": "STOP"})
        signature = "sha256=" + hmac.new(b"cc-inbound", raw, hashlib.sha256).hexdigest()
        r = app_client.post(CELLCAST_INBOUND, content=raw, headers={"X-Cellcast-Signature": signature,
                                                                    "Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        return r.json()["data"]

    assert reply(OWN) == {"optedOut": False}  # a custom number answers its own account's SMS alone
    assert (listed(ctx, acme.account.id), listed(ctx, no_otp_customer.account.id)) == ({}, {})
    assert reply(PROVIDER_NUMBER.lstrip("+")) == {"optedOut": True}
    assert (listed(ctx, acme.account.id), listed(ctx, no_otp_customer.account.id)) == ({CONTACT: "reply"}, {})


def test_a_stop_deliver_sm_to_the_smscs_default_number_answers_the_shared_sender(
        app_client: TestClient, make_customer, no_otp_customer, ctx) -> None:
    assert ctx.settings.shared_sender == ""
    acme = make_customer("Acme")
    own_number(app_client, no_otp_customer)
    post(app_client, acme.headers, message="Sale", contacts=[CONTACT])
    with TestSmsc() as smsc, worker_for(ctx, **smpp_peer(smsc)) as worker:
        drain(worker)
        assert [(m.destination_addr, m.source_addr) for m in smsc.messages] == [("61491570157", "")]
        assert smsc.send_mo("61491570157", OWN.lstrip("+"), "STOP") == 0
        assert (listed(ctx, acme.account.id), listed(ctx, no_otp_customer.account.id)) == ({}, {})
        assert smsc.send_mo("61491570157", PROVIDER_NUMBER.lstrip("+"), "STOP") == 0
    assert (listed(ctx, acme.account.id), listed(ctx, no_otp_customer.account.id)) == ({CONTACT: "reply"}, {})


@pytest.mark.parametrize("settings_overrides", [{"shared_sender": PROVIDER_NUMBER}])
def test_with_the_shared_sender_set_only_a_reply_to_it_answers_it(app_client: TestClient, make_customer,
                                                                  ctx) -> None:
    acme = make_customer("Acme")
    post(app_client, acme.headers, message="Sale", contacts=[CONTACT])
    deliver_all(ctx)
    assert [row.sender for row in sms_rows(ctx)] == [PROVIDER_NUMBER]
    assert stop_to_shared(app_client) == {"optedOut": False}  # the inbox's default did not send it
    r = send_reply(app_client, {"from": CONTACT, "to": "0491570100", "body": "STOP"})
    assert r.json()["data"] == {"optedOut": True}
    assert listed(ctx, acme.account.id) == {CONTACT: "reply"}


# -- who a STOP reply answers: the SMS the phone last received from that sender ----------------------


def stop_to_shared(app_client: TestClient) -> dict[str, Any]:
    r = send_reply(app_client, {"from": CONTACT, "to": "senderid", "body": "STOP"})
    assert r.status_code == 200, r.text
    return r.json()["data"]


@pytest.mark.parametrize("later", ["scheduled", "scheduled and cancelled", "handed over but failed"])
def test_a_stop_answers_what_the_phone_received_not_what_another_account_queued(
        app_client: TestClient, make_customer, ctx, clock, later: str) -> None:
    """A sent to the contact from the shared sender; B then queued an SMS to it from the same
    sender that the phone never received: the STOP is A's."""
    a, b = make_customer("A"), make_customer("B")
    post(app_client, a.headers, message="From A", contacts=[CONTACT])
    deliver_all(ctx)
    clock.advance(seconds=5)
    _status, _body, [b_id] = post(app_client, b.headers, message="From B", contacts=[CONTACT],
                                  **({} if later == "handed over but failed" else {"delay": 3_600_000}))
    if later == "scheduled and cancelled":
        r = app_client.delete(f"/api/v1/gateway/messages/{b_id}", headers=b.headers)
        assert r.status_code == 200, r.text
    if later == "handed over but failed":
        deliver_all(ctx)
        assert receipt_recorder(ctx.db, ctx.clock, "devinbox")(b_id, "failed")
    expected = {"scheduled": "queued", "scheduled and cancelled": "cancelled", "handed over but failed": "failed"}
    assert statuses(ctx)[b_id] == expected[later]
    clock.advance(seconds=5)
    assert stop_to_shared(app_client) == {"optedOut": True}
    assert (listed(ctx, a.account.id), listed(ctx, b.account.id)) == ({CONTACT: "reply"}, {})
    assert statuses(ctx)[b_id] == expected[later]  # A's opt-out leaves B's SMS alone


def test_a_stop_answers_the_sms_sent_last_not_queued_last(app_client: TestClient, make_customer, ctx,
                                                         clock) -> None:
    """A scheduled an SMS before B sent one; A's went out after B's: the phone's latest is A's."""
    a, b = make_customer("A"), make_customer("B")
    post(app_client, a.headers, message="From A, later", contacts=[CONTACT], delay=60_000)
    clock.advance(seconds=5)
    post(app_client, b.headers, message="From B, now", contacts=[CONTACT])
    deliver_all(ctx)
    clock.advance(seconds=60)
    deliver_all(ctx)
    assert [(row.account_id, row.status) for row in sms_rows(ctx)] == [(a.account.id, "sent"), (b.account.id, "sent")]
    assert stop_to_shared(app_client) == {"optedOut": True}
    assert (listed(ctx, a.account.id), listed(ctx, b.account.id)) == ({CONTACT: "reply"}, {})


def test_a_stop_answers_the_sender_it_was_sent_to(app_client: TestClient, no_otp_customer, make_customer, ctx,
                                                 clock) -> None:
    """The contact received an SMS from A's own number, then one from B on the shared sender:
    a STOP to A's number is A's, a STOP to the shared sender B's."""
    a, b = no_otp_customer, make_customer("B")
    own_number(app_client, a)
    post(app_client, a.headers, message="From A's number", contacts=[CONTACT], sender=OWN)
    deliver_all(ctx)
    clock.advance(seconds=5)
    _status, _body, [b_id] = post(app_client, b.headers, message="From the shared sender", contacts=[CONTACT])
    deliver_all(ctx)
    assert receipt_recorder(ctx.db, ctx.clock, "devinbox")(b_id, "delivered")
    r = send_reply(app_client, {"from": CONTACT, "to": "0491570156", "body": "STOP"})
    assert r.json()["data"] == {"optedOut": True}
    assert (listed(ctx, a.account.id), listed(ctx, b.account.id)) == ({CONTACT: "reply"}, {})
    assert stop_to_shared(app_client) == {"optedOut": True}
    assert (listed(ctx, a.account.id), listed(ctx, b.account.id)) == ({CONTACT: "reply"}, {CONTACT: "reply"})


@pytest.mark.parametrize("how", ["reply", "api"])
def test_an_opt_out_cancels_only_that_accounts_queued_sms(app_client: TestClient, make_customer, ctx, clock,
                                                          how: str) -> None:
    """A and B both have an SMS scheduled to the contact; it opts out of A: B's is still sent."""
    a, b = make_customer("A"), make_customer("B")
    post(app_client, a.headers, message="From A", contacts=[CONTACT])
    deliver_all(ctx)  # what a reply answers
    _status, _body, [a_later] = post(app_client, a.headers, message="A, later", contacts=[CONTACT], delay=60_000)
    _status, _body, [b_later] = post(app_client, b.headers, message="B, later", contacts=[CONTACT], delay=60_000)
    if how == "reply":
        assert stop_to_shared(app_client) == {"optedOut": True}
    else:
        r = app_client.post(OPTOUTS, json={"number": CONTACT}, headers=a.headers)
        assert r.status_code == 200, r.text
    assert (listed(ctx, a.account.id), listed(ctx, b.account.id)) == ({CONTACT: how}, {})
    assert (statuses(ctx)[a_later], statuses(ctx)[b_later]) == ("cancelled", "queued")
    clock.advance(seconds=120)
    deliver_all(ctx)
    assert (statuses(ctx)[a_later], statuses(ctx)[b_later]) == ("cancelled", "sent")


def test_opting_out_cancels_what_is_still_queued_to_the_contact(app_client: TestClient, no_otp_customer, ctx,
                                                               clock) -> None:
    """A scheduled SMS queued before the contact opted out is not sent later (its credits go back)."""
    from senderid.domain import credits

    own_number(app_client, no_otp_customer)
    credits.set_balance(ctx, no_otp_customer.account.id, 10, actor=CLI)
    other = "+61491570158"
    status, _body, [later, kept] = post(app_client, no_otp_customer.headers, message="Later",
                                        contacts=[CONTACT, other], sender=OWN, delay=60_000)
    assert status == 200 and credits.balance(ctx, no_otp_customer.account.id) == 10 - 2 * 1.3
    r = app_client.post(OPTOUTS, json={"number": CONTACT}, headers=no_otp_customer.headers)
    assert r.status_code == 200, r.text
    clock.advance(seconds=120)
    deliver_all(ctx)
    assert {row.id: row.status for row in sms_rows(ctx)} == {later: "cancelled", kept: "sent"}
    assert credits.balance(ctx, no_otp_customer.account.id) == 10 - 1.3
    with ctx.db.read() as conn:
        details = conn.execute(sa.select(audit_events.c.details).where(
            audit_events.c.action == "optout.added")).scalar_one()
    assert details["cancelled"] == 1
