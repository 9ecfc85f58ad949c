"""Delivery receipts end to end: provider peer -> senderid -> the outbox row.

* Twilio: the real worker sends through TwilioProvider to the Twilio peer; the peer
  then POSTs its signed status callback to a live senderid server
  (``/providers/twilio/status``), which moves the row to delivered or failed.
* SMPP: the real worker sends through the SmppProvider that ``build_provider`` makes
  from settings; the test SMSC's ``deliver_sm`` receipt moves the row.
* Early receipts: a receipt that beats the worker's own write of ``sent`` is kept and
  applied when the worker records the message (outbox.early_receipts).

Both databases; time is a FrozenClock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from peers.http import HttpPeer, Request, Response
from peers.processes import free_port
from peers.smsc import TestSmsc
from peers.twilio import TwilioPeer
from senderid.api.app import create_app
from senderid.clock import FrozenClock, iso_ms
from senderid.delivery import lanes
from senderid.delivery.providers import build_provider, receipt_recorder
from senderid.delivery.providers.base import OutgoingSms, Provider, SendResult
from senderid.delivery.providers.twilio import signature_for
from senderid.delivery.worker import Worker
from senderid.domain import accounts, messages, outbox
from senderid.domain import custom_numbers as cn
from senderid.domain.context import Context
from senderid.domain.types import CLI, Actor
from senderid.settings import Settings
from senderid.store.db import Database
from senderid.store.tables import early_receipts, webhook_events
from senderid.store.tables import outbox as outbox_table
from tests.support.env import TEST_SECRET
from tests.support.fake_providers import ScriptedProvider
from tests.support.helpers import outbox_row
from tests.support.live import serve
from tests.support.racers import race

NUMBER = "+61491570156"
OTHER = "+61491570157"
TWILIO_FROM = "+61491570199"
WHO = Actor("key:test", "127.0.0.1")


def row(ctx: Context, message_id: str) -> dict[str, Any]:
    with ctx.db.read() as conn:
        found = outbox_row(conn, message_id)
    assert found is not None
    return found


def otp_message(ctx: Context, account: accounts.Account, number: str = NUMBER) -> str:
    result = cn.add(ctx, account, name="Mine", number=number, actor=WHO)
    with ctx.db.read() as conn:
        return conn.execute(
            select(outbox_table.c.id).where(outbox_table.c.custom_number_id == result.id)
        ).scalar_one()


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.01)


class Receiver(HttpPeer):
    """The account's webhook endpoint."""

    def handle(self, request: Request) -> Response:
        return Response(204)


# -- twilio: status callbacks to a live server ------------------------------------------------


@dataclass
class TwilioSetup:
    ctx: Context
    peer: TwilioPeer
    url: str  # the live senderid server
    account: accounts.Account

    @property
    def callback_url(self) -> str:
        return self.url + "/providers/twilio/status"

    def worker(self, provider: Provider | None = None) -> Worker:
        provider = provider or build_provider(self.ctx.settings, self.ctx.db, self.ctx.clock)
        return Worker(self.ctx.db, self.ctx.settings, provider, self.ctx.clock, name="twilio-worker")

    def hand_over(self) -> None:
        """One round of a worker on the Twilio provider: what is due goes to the peer."""
        worker = self.worker()
        try:
            worker.run_once()
        finally:
            worker.provider.close()


@pytest.fixture
def twilio(database_url: str, db: Database, clock: FrozenClock) -> Iterator[TwilioSetup]:
    port = free_port()
    with TwilioPeer() as peer, Receiver() as receiver:
        settings = Settings(
            database_url=database_url, secret_key=TEST_SECRET, sms_provider="twilio",
            twilio_base_url=peer.url, twilio_account_sid=peer.account_sid,
            twilio_auth_token=peer.auth_token, twilio_from=TWILIO_FROM,
            twilio_status_callback_url=f"http://127.0.0.1:{port}/providers/twilio/status",
            webhook_allow_private=True,
        )
        ctx = Context(db=db, settings=settings, clock=clock, secret=settings.resolved_secret())
        account = accounts.create_account(ctx, "Acme", actor=CLI)
        accounts.set_webhook_url(ctx, account.id, receiver.url + "/hook", actor=CLI)
        with serve(create_app(settings, context=ctx, run_worker=False), port=port) as url:
            yield TwilioSetup(ctx, peer, url, account)


def test_twilio_callbacks_move_sent_messages_to_delivered_and_failed(twilio: TwilioSetup) -> None:
    ctx = twilio.ctx
    first = otp_message(ctx, twilio.account, NUMBER)
    second = otp_message(ctx, twilio.account, OTHER)
    worker = twilio.worker()
    try:
        assert worker.run_once() >= 2
    finally:
        worker.provider.close()
    sids = {}
    for message_id in (first, second):
        sent = row(ctx, message_id)
        assert (sent["status"], sent["provider"]) == ("sent", "twilio")
        assert sent["provider_message_id"] in twilio.peer.messages
        assert twilio.peer.messages[sent["provider_message_id"]]["StatusCallback"] == twilio.callback_url
        sids[message_id] = sent["provider_message_id"]

    assert twilio.peer.status_callback(sids[first], "sent") == 200  # still on its way: no change
    assert row(ctx, first)["status"] == "sent"
    assert twilio.peer.status_callback(sids[first], "delivered") == 200
    assert twilio.peer.status_callback(sids[second], "undelivered", error_code="30003") == 200

    assert row(ctx, first)["status"] == "delivered"
    assert row(ctx, second)["status"] == "failed"
    assert twilio.peer.status_callback(sids[first], "sent") == 200  # late and out of order
    assert row(ctx, first)["status"] == "delivered"


def test_a_wrongly_signed_callback_is_refused_and_changes_nothing(twilio: TwilioSetup) -> None:
    ctx = twilio.ctx
    message_id = otp_message(ctx, twilio.account)
    twilio.hand_over()
    sid = row(ctx, message_id)["provider_message_id"]
    form = {"AccountSid": twilio.peer.account_sid, "MessageSid": sid, "MessageStatus": "delivered"}
    forged = [
        signature_for(twilio.callback_url, form, "not-the-auth-token"),
        signature_for(twilio.callback_url, {**form, "MessageStatus": "failed"}, twilio.peer.auth_token),
        signature_for(twilio.url + "/elsewhere", form, twilio.peer.auth_token),
        "",
    ]
    with httpx.Client() as client:
        for signature in forged:
            answer = client.post(twilio.callback_url, data=form, headers={"X-Twilio-Signature": signature})
            assert answer.status_code == 403
            assert answer.json()["status"] is False
        assert row(ctx, message_id)["status"] == "sent"
        genuine = signature_for(twilio.callback_url, form, twilio.peer.auth_token)
        answer = client.post(twilio.callback_url, data=form, headers={"X-Twilio-Signature": genuine})
        assert answer.status_code == 200
    assert row(ctx, message_id)["status"] == "delivered"  # only the genuine one counted
    with ctx.db.read() as conn:
        assert conn.execute(select(early_receipts)).all() == []


def test_a_failed_receipt_tells_the_accounts_webhook(twilio: TwilioSetup) -> None:
    ctx = twilio.ctx
    outcome = messages.send(ctx, twilio.account, message="Your parcel is on its way",
                            contacts=[NUMBER], sender=None, actor=WHO)
    [queued] = outcome.queued
    worker = twilio.worker()
    try:
        worker.run_once()
        sid = row(ctx, queued.message_id)["provider_message_id"]
        assert twilio.peer.status_callback(sid, "failed", error_code="30006") == 200
        assert row(ctx, queued.message_id)["status"] == "failed"
        while worker.run_once():  # deliver the webhook events
            pass
    finally:
        worker.provider.close()
    with ctx.db.read() as conn:
        found = conn.execute(
            select(webhook_events.c.type, webhook_events.c.payload, webhook_events.c.status)
            .where(webhook_events.c.account_id == twilio.account.id)
            .order_by(webhook_events.c.created_at, webhook_events.c.id)
        ).all()
    by_type = {event.type: event for event in found}
    assert set(by_type) == {"message.sent", "message.failed"}
    failed = by_type["message.failed"].payload["data"]
    assert failed["id"] == queued.message_id and failed["status"] == "failed"
    assert failed["to"] == NUMBER and "delivery receipt" in failed["error"]
    assert "parcel" not in str(failed)
    assert by_type["message.failed"].status == "delivered"  # it reached the receiver


class CallbackFirst:
    """Twilio answering the send and its status callback arriving before the worker
    has written ``sent``: the provider's result is held back until the callback is in."""

    def __init__(self, inner: Provider, peer: TwilioPeer, status: str) -> None:
        self.inner, self.peer, self.status = inner, peer, status
        self.name = inner.name

    def send(self, sms: OutgoingSms) -> SendResult:
        result = self.inner.send(sms)
        assert result.provider_message_id
        assert self.peer.status_callback(result.provider_message_id, self.status) == 200
        return result

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("status", ["delivered", "undelivered"])
def test_a_callback_before_the_worker_recorded_sent_is_not_lost(twilio: TwilioSetup, status: str) -> None:
    ctx = twilio.ctx
    message_id = otp_message(ctx, twilio.account)
    inner = build_provider(ctx.settings, ctx.db, ctx.clock)
    worker = twilio.worker(CallbackFirst(inner, twilio.peer, status))
    try:
        worker.run_once()
    finally:
        worker.provider.close()
    assert row(ctx, message_id)["status"] == ("delivered" if status == "delivered" else "failed")
    with ctx.db.read() as conn:
        assert conn.execute(select(early_receipts)).all() == []  # applied, then forgotten


# -- smpp: deliver_sm receipts ----------------------------------------------------------------


@dataclass
class SmppSetup:
    ctx: Context
    smsc: TestSmsc
    worker: Worker
    account: accounts.Account


@pytest.fixture
def smpp(database_url: str, db: Database, clock: FrozenClock) -> Iterator[SmppSetup]:
    with TestSmsc() as smsc:
        settings = Settings(
            database_url=database_url, secret_key=TEST_SECRET, sms_provider="smpp",
            smpp_host="127.0.0.1", smpp_port=smsc.port, smpp_system_id=smsc.system_id,
            smpp_password=smsc.password, webhook_allow_private=True,
        )
        ctx = Context(db=db, settings=settings, clock=clock, secret=settings.resolved_secret())
        provider = build_provider(settings, db, clock)
        worker = Worker(db, settings, provider, clock, name="smpp-worker")
        account = accounts.create_account(ctx, "Acme", actor=CLI)
        try:
            yield SmppSetup(ctx, smsc, worker, account)
        finally:
            provider.close()
        assert smsc.errors == []


@pytest.mark.parametrize("stat, status", [("DELIVRD", "delivered"), ("UNDELIV", "failed"),
                                          ("EXPIRED", "failed")])
def test_smsc_receipt_moves_the_message(smpp: SmppSetup, stat: str, status: str) -> None:
    ctx = smpp.ctx
    message_id = otp_message(ctx, smpp.account)
    smpp.worker.run_once()
    sent = row(ctx, message_id)
    assert (sent["status"], sent["provider"]) == ("sent", "smpp")
    assert sent["provider_message_id"] == smpp.smsc.submits[0].message_id

    assert smpp.smsc.send_receipt(sent["provider_message_id"], "ENROUTE") == 0
    assert row(ctx, message_id)["status"] == "sent"
    assert smpp.smsc.send_receipt(sent["provider_message_id"], stat) == 0  # acknowledged after recording
    assert row(ctx, message_id)["status"] == status


def test_smsc_receipt_right_after_the_submit_is_not_lost(smpp: SmppSetup) -> None:
    """The SMSC sends each receipt right after its submit_sm_resp: it races the worker."""
    ctx = smpp.ctx
    smpp.smsc.auto_receipt = True
    ids = [otp_message(ctx, smpp.account, number) for number in (NUMBER, OTHER, "+61491570158")]
    smpp.worker.run_once()
    wait_for(lambda: all(row(ctx, i)["status"] == "delivered" for i in ids))
    with ctx.db.read() as conn:
        assert conn.execute(select(early_receipts)).all() == []


def test_a_long_message_is_delivered_once_every_part_is(smpp: SmppSetup) -> None:
    ctx = smpp.ctx
    outcome = messages.send(ctx, smpp.account, message="Long notice. " * 30, contacts=[NUMBER],
                            sender=None, actor=WHO)
    [queued] = outcome.queued
    smpp.smsc.auto_receipt = True
    smpp.worker.run_once()
    assert len(smpp.smsc.submits) == 3
    wait_for(lambda: row(ctx, queued.message_id)["status"] == "delivered")
    assert row(ctx, queued.message_id)["provider_message_id"] == smpp.smsc.submits[0].message_id


# -- the early-receipt store ------------------------------------------------------------------


def test_an_early_receipt_is_kept_then_applied_by_mark_sent(ctx, clock) -> None:
    with ctx.db.write() as conn:
        message_id = outbox.enqueue(conn, now=clock.now(), kind="sms", to=NUMBER, sender="Acme", body="Hi")
        lanes.claim(conn, now=clock.now(), worker="w", lease_seconds=30, limit=1)
    record = receipt_recorder(ctx.db, clock, "smpp")
    assert record("0000000A", "sent") is False  # on its way: nothing worth keeping
    assert record("0000000A", "delivered") is False
    with ctx.db.read() as conn:
        assert [(r.provider, r.provider_message_id, r.status) for r in conn.execute(select(early_receipts))] == [
            ("smpp", "0000000A", "delivered")]
    assert row(ctx, message_id)["status"] == "sending"

    with ctx.db.write() as conn:
        outbox.mark_sent(conn, message_id, now=clock.now(), provider="smpp", provider_message_id="0000000A")
        assert outbox.apply_early_receipts(conn, provider="smpp", provider_message_id="0000000A",
                                           now=clock.now()) == 1
    assert row(ctx, message_id)["status"] == "delivered"
    with ctx.db.read() as conn:
        assert conn.execute(select(early_receipts)).all() == []


def test_an_early_receipt_of_another_provider_does_not_match(ctx, clock) -> None:
    receipt_recorder(ctx.db, clock, "twilio")("X1", "failed")
    with ctx.db.write() as conn:
        message_id = outbox.enqueue(conn, now=clock.now(), kind="sms", to=NUMBER, sender="Acme", body="Hi")
        lanes.claim(conn, now=clock.now(), worker="w", lease_seconds=30, limit=1)
        outbox.mark_sent(conn, message_id, now=clock.now(), provider="smpp", provider_message_id="X1")
        assert outbox.apply_early_receipts(conn, provider="smpp", provider_message_id="X1", now=clock.now()) == 0
    assert row(ctx, message_id)["status"] == "sent"


def test_unclaimed_early_receipts_are_dropped_after_a_day(ctx, clock) -> None:
    record = receipt_recorder(ctx.db, clock, "smpp")
    record("OLD", "delivered")
    clock.advance(outbox.EARLY_RECEIPT_TTL.total_seconds() + 1)
    record("NEW", "failed")
    with ctx.db.read() as conn:
        assert [r.provider_message_id for r in conn.execute(select(early_receipts))] == ["NEW"]


def test_the_worker_applies_an_early_receipt(ctx, clock) -> None:
    record = receipt_recorder(ctx.db, clock, "fake")

    def receipt_on_the_wire(sms: OutgoingSms) -> None:
        record(f"fake-{sms.message_id}", "delivered")  # before send() returns

    with ctx.db.write() as conn:
        message_id = outbox.enqueue(conn, now=clock.now(), kind="sms", to=NUMBER, sender="Acme", body="Hi")
    Worker(ctx.db, ctx.settings, ScriptedProvider(before_answer=receipt_on_the_wire), clock, name="w").run_once()
    assert row(ctx, message_id)["status"] == "delivered"


def test_receipts_racing_the_sent_record_are_never_lost(ctx, clock) -> None:
    """Receipt and sent-record in two threads at once, many times: every row ends delivered."""
    rounds = 30
    with ctx.db.write() as conn:
        ids = [outbox.enqueue(conn, now=clock.now(), kind="sms", to=NUMBER, sender="Acme", body=f"m{i}")
               for i in range(rounds)]
        lanes.claim(conn, now=clock.now(), worker="w", lease_seconds=30, limit=rounds)
    record = receipt_recorder(ctx.db, clock, "smpp")
    errors: list[BaseException] = []

    def mark(message_id: str) -> None:
        with ctx.db.write() as conn:
            outbox.mark_sent(conn, message_id, now=clock.now(), provider="smpp",
                             provider_message_id=f"P{message_id}")
            outbox.apply_early_receipts(conn, provider="smpp", provider_message_id=f"P{message_id}",
                                        now=clock.now())

    def receipt(message_id: str) -> None:
        record(f"P{message_id}", "delivered")

    for message_id in ids:
        racers = (mark, receipt)
        errors += [r for r in race(ctx, 2, lambda i: racers[i](message_id)) if isinstance(r, BaseException)]
    assert errors == []
    assert {row(ctx, i)["status"] for i in ids} == {"delivered"}
    with ctx.db.read() as conn:
        assert conn.execute(select(early_receipts)).all() == []


def test_a_final_receipt_is_not_undone_by_a_late_sent(ctx, clock) -> None:
    with ctx.db.write() as conn:
        message_id = outbox.enqueue(conn, now=clock.now(), kind="sms", to=NUMBER, sender="Acme", body="Hi")
        lanes.claim(conn, now=clock.now(), worker="w", lease_seconds=30, limit=1)
        outbox.mark_sent(conn, message_id, now=clock.now(), provider="smpp", provider_message_id="Q")
    record = receipt_recorder(ctx.db, clock, "smpp")
    assert record("Q", "delivered") is True
    clock.advance(timedelta(seconds=5).total_seconds())
    assert record("Q", "sent") is True
    assert row(ctx, message_id)["status"] == "delivered"
    with pytest.raises(ValueError):
        record("Q", "exploded")


# -- message.delivered: a gateway message's receipt, through each provider -------------------


def delivered_events(ctx: Context, account_id: str) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        payloads = conn.execute(
            select(webhook_events.c.payload).where(webhook_events.c.account_id == account_id,
                                                   webhook_events.c.type == "message.delivered")
        ).scalars().all()
    return [p["data"] for p in payloads]


def gateway_message(ctx: Context, account: accounts.Account) -> str:
    [queued] = messages.send(ctx, account, message="Your parcel is on its way", contacts=[NUMBER], sender=None,
                             actor=WHO).queued
    return queued.message_id


def assert_delivered(ctx: Context, account: accounts.Account, message_id: str, sender: str, at: Any) -> None:
    found = row(ctx, message_id)
    assert (found["status"], found["delivered_at"]) == ("delivered", at)
    history = outbox.views.operator_view(ctx, message_id).events
    assert [(e.status, e.at) for e in history][-1] == ("delivered", at)
    assert delivered_events(ctx, account.id) == [
        {"id": message_id, "to": NUMBER, "sender": sender, "deliveredAt": iso_ms(at)}]


def test_a_twilio_callback_delivers_a_gateway_message(twilio: TwilioSetup) -> None:
    ctx = twilio.ctx
    message_id = gateway_message(ctx, twilio.account)
    twilio.hand_over()
    ctx.clock.advance(7)
    assert twilio.peer.status_callback(row(ctx, message_id)["provider_message_id"], "delivered") == 200
    assert_delivered(ctx, twilio.account, message_id, "", ctx.clock.now())  # the shared sender, as queued


def test_an_smsc_receipt_delivers_a_gateway_message(smpp: SmppSetup) -> None:
    ctx = smpp.ctx
    accounts.set_webhook_url(ctx, smpp.account.id, "http://127.0.0.1:9/hook", actor=CLI)
    message_id = gateway_message(ctx, smpp.account)
    smpp.worker.run_once()
    ctx.clock.advance(7)
    assert smpp.smsc.send_receipt(row(ctx, message_id)["provider_message_id"], "DELIVRD") == 0
    assert_delivered(ctx, smpp.account, message_id, "", ctx.clock.now())


# -- the provider's time: a receipt that gives one records it --------------------------------

THREE_MINUTES_IN = "2601010003"  # FrozenClock starts at 2026-01-01 00:00 UTC
TEN_HOURS_AHEAD = "2601011007"  # a carrier's clock in AEST: no time zone in the format


def test_a_twilio_callback_records_the_carriers_done_date(twilio: TwilioSetup) -> None:
    ctx = twilio.ctx
    message_id = gateway_message(ctx, twilio.account)
    twilio.hand_over()
    ctx.clock.advance(minutes=7)
    sid = row(ctx, message_id)["provider_message_id"]
    assert twilio.peer.status_callback(sid, "delivered", done_date=THREE_MINUTES_IN) == 200
    assert_delivered(ctx, twilio.account, message_id, "", datetime(2026, 1, 1, 0, 3, tzinfo=UTC))


def test_an_smsc_receipt_records_its_done_date(smpp: SmppSetup) -> None:
    ctx = smpp.ctx
    accounts.set_webhook_url(ctx, smpp.account.id, "http://127.0.0.1:9/hook", actor=CLI)
    message_id = gateway_message(ctx, smpp.account)
    smpp.worker.run_once()
    ctx.clock.advance(minutes=7)
    assert smpp.smsc.send_receipt(row(ctx, message_id)["provider_message_id"], "DELIVRD",
                                  done_date=THREE_MINUTES_IN) == 0
    assert_delivered(ctx, smpp.account, message_id, "", datetime(2026, 1, 1, 0, 3, tzinfo=UTC))


def test_an_smsc_failure_is_recorded_at_its_done_date(smpp: SmppSetup) -> None:
    ctx = smpp.ctx
    message_id = gateway_message(ctx, smpp.account)
    smpp.worker.run_once()
    ctx.clock.advance(minutes=7)
    assert smpp.smsc.send_receipt(row(ctx, message_id)["provider_message_id"], "UNDELIV",
                                  done_date=THREE_MINUTES_IN) == 0
    found = row(ctx, message_id)
    assert (found["status"], found["delivered_at"]) == ("failed", None)
    history = outbox.views.operator_view(ctx, message_id).events
    assert [(e.status, e.at) for e in history][-1] == ("failed", datetime(2026, 1, 1, 0, 3, tzinfo=UTC))


def test_a_done_date_that_cannot_be_true_is_the_receipts_arrival(smpp: SmppSetup) -> None:
    ctx = smpp.ctx
    accounts.set_webhook_url(ctx, smpp.account.id, "http://127.0.0.1:9/hook", actor=CLI)
    message_id = gateway_message(ctx, smpp.account)
    smpp.worker.run_once()
    ctx.clock.advance(minutes=7)
    assert smpp.smsc.send_receipt(row(ctx, message_id)["provider_message_id"], "DELIVRD",
                                  done_date=TEN_HOURS_AHEAD) == 0
    assert_delivered(ctx, smpp.account, message_id, "", ctx.clock.now())


def test_an_early_receipt_keeps_the_providers_time(ctx, clock) -> None:
    with ctx.db.write() as conn:
        message_id = outbox.enqueue(conn, now=clock.now(), kind="sms", to=NUMBER, sender="Acme", body="Hi")
        lanes.claim(conn, now=clock.now(), worker="w", lease_seconds=30, limit=1)
    clock.advance(minutes=5)
    done = datetime(2026, 1, 1, 0, 2, tzinfo=UTC)
    assert receipt_recorder(ctx.db, clock, "smpp")("E1", "delivered", done) is False
    clock.advance(minutes=1)
    with ctx.db.write() as conn:
        outbox.mark_sent(conn, message_id, now=clock.now(), provider="smpp", provider_message_id="E1")
        assert outbox.apply_early_receipts(conn, provider="smpp", provider_message_id="E1", now=clock.now()) == 1
    assert (row(ctx, message_id)["status"], row(ctx, message_id)["delivered_at"]) == ("delivered", done)


QUEUED = datetime(2026, 1, 1, 10, 5, 30, tzinfo=UTC)
ARRIVED = datetime(2026, 1, 1, 10, 9, 0, tzinfo=UTC)


@pytest.mark.unit
@pytest.mark.parametrize("given, expected", [
    (None, ARRIVED),  # no time: when the receipt arrived
    (datetime(2026, 1, 1, 10, 7, tzinfo=UTC), datetime(2026, 1, 1, 10, 7, tzinfo=UTC)),
    (ARRIVED, ARRIVED),
    (datetime(2026, 1, 1, 10, 5, tzinfo=UTC), QUEUED),  # the same minute: never before the queueing
    (datetime(2026, 1, 1, 10, 4, tzinfo=UTC), ARRIVED),  # before the message existed
    (datetime(2026, 1, 1, 10, 10, tzinfo=UTC), ARRIVED),  # after the receipt came
    (datetime(2026, 1, 1, 20, 8, tzinfo=UTC), ARRIVED),  # a clock ten hours ahead
])
def test_receipt_time(given: datetime | None, expected: datetime) -> None:
    assert outbox.receipts.receipt_time(given, queued_at=QUEUED, arrived=ARRIVED) == expected
