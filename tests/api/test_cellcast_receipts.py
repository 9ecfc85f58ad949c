"""Cellcast delivery receipts end to end: the real worker sends a gateway SMS through the
cellcast provider to the Cellcast peer, which then POSTs the message's status the way
Cellcast's status webhook does, signed with ``X-Cellcast-Signature``, to a live senderid
server (``/providers/cellcast/status``). Both databases; time is a FrozenClock.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select

from peers.cellcast import CellcastPeer
from senderid.api.app import create_app
from senderid.clock import FrozenClock
from senderid.delivery.providers import build_provider
from senderid.delivery.worker import Worker
from senderid.domain import accounts
from senderid.domain.context import Context
from senderid.domain.types import CLI
from senderid.settings import Settings
from senderid.store.db import Database
from senderid.store.tables import early_receipts, webhook_events
from tests.api.test_receipts import NUMBER, Receiver, assert_delivered, gateway_message, row
from tests.support.env import TEST_SECRET
from tests.support.live import serve

SECRET = "cellcast-relay-secret"
SENDER = "+61491570199"


@dataclass
class CellcastSetup:
    ctx: Context
    peer: CellcastPeer
    url: str  # the live senderid server
    account: accounts.Account

    @property
    def status_url(self) -> str:
        return self.url + "/providers/cellcast/status"

    def send(self) -> tuple[str, str]:
        """A gateway SMS sent through the cellcast provider: (MessageId, Cellcast's MessageId)."""
        message_id = gateway_message(self.ctx, self.account)
        worker = Worker(self.ctx.db, self.ctx.settings, build_provider(self.ctx.settings, self.ctx.db, self.ctx.clock),
                        self.ctx.clock, name="cellcast-worker")
        try:
            worker.run_once()
        finally:
            worker.provider.close()
        sent = row(self.ctx, message_id)
        assert (sent["status"], sent["provider"]) == ("sent", "cellcast")
        assert sent["provider_message_id"] == self.peer.queued[-1].message_id
        return message_id, sent["provider_message_id"]


@pytest.fixture
def cellcast(database_url: str, db: Database, clock: FrozenClock) -> Iterator[CellcastSetup]:
    with CellcastPeer() as peer, Receiver() as receiver:
        settings = Settings(
            database_url=database_url, secret_key=TEST_SECRET, sms_provider="cellcast",
            cellcast_base_url=peer.url, cellcast_api_key=peer.api_key, cellcast_inbound_secret=SECRET,
            otp_sender=SENDER, webhook_allow_private=True,
        )
        ctx = Context(db=db, settings=settings, clock=clock, secret=settings.resolved_secret())
        account = accounts.create_account(ctx, "Acme", actor=CLI)
        accounts.set_webhook_url(ctx, account.id, receiver.url + "/hook", actor=CLI)
        with serve(create_app(settings, context=ctx, run_worker=False)) as url:
            yield CellcastSetup(ctx, peer, url, account)


def events_of(ctx: Context, account_id: str, kind: str) -> list[dict[str, object]]:
    with ctx.db.read() as conn:
        payloads = conn.execute(select(webhook_events.c.payload).where(
            webhook_events.c.account_id == account_id, webhook_events.c.type == kind)).scalars().all()
    return [p["data"] for p in payloads]


def test_a_cellcast_status_webhook_delivers_a_gateway_message(cellcast: CellcastSetup) -> None:
    ctx = cellcast.ctx
    message_id, cellcast_id = cellcast.send()
    ctx.clock.advance(7)
    assert cellcast.peer.status_webhook(cellcast_id, "sent", cellcast.status_url, SECRET) == 200
    assert row(ctx, message_id)["status"] == "sent"  # on its way: no change
    ctx.clock.advance(5)
    assert cellcast.peer.status_webhook(cellcast_id, "delivered", cellcast.status_url, SECRET) == 200
    # Cellcast's report has no time of its own: delivered when it arrived
    assert_delivered(ctx, cellcast.account, message_id, "", ctx.clock.now())
    assert cellcast.peer.status_webhook(cellcast_id, "queued", cellcast.status_url, SECRET) == 200
    assert row(ctx, message_id)["status"] == "delivered"  # late and out of order


@pytest.mark.parametrize("status", ["failed", "expired", "rejected"])
def test_a_cellcast_status_that_says_undelivered_fails_the_message(cellcast: CellcastSetup, status: str) -> None:
    ctx = cellcast.ctx
    message_id, cellcast_id = cellcast.send()
    assert cellcast.peer.status_webhook(cellcast_id, status, cellcast.status_url, SECRET) == 200
    assert row(ctx, message_id)["status"] == "failed"
    [failed] = events_of(ctx, cellcast.account.id, "message.failed")
    assert failed["id"] == message_id and failed["to"] == NUMBER and failed["status"] == "failed"
    assert "cellcast" in str(failed["error"]) and "parcel" not in str(failed)
    assert events_of(ctx, cellcast.account.id, "message.delivered") == []


def test_a_cellcast_status_unsigned_or_wrongly_signed_changes_nothing(cellcast: CellcastSetup) -> None:
    ctx = cellcast.ctx
    message_id, cellcast_id = cellcast.send()
    for secret in (None, "another-secret"):
        assert cellcast.peer.status_webhook(cellcast_id, "delivered", cellcast.status_url, secret) == 403
    body = json.dumps({"_id": cellcast_id, "status": "delivered", "type": "send"}).encode()
    signed_other = "sha256=" + hmac.new(SECRET.encode(), body + b" ", hashlib.sha256).hexdigest()
    with httpx.Client() as client:
        answer = client.post(cellcast.status_url, content=body, headers={"X-Cellcast-Signature": signed_other})
    assert answer.status_code == 403
    assert answer.json()["status"] is False
    assert row(ctx, message_id)["status"] == "sent"
    with ctx.db.read() as conn:
        assert conn.execute(select(early_receipts)).all() == []
    assert events_of(ctx, cellcast.account.id, "message.delivered") == []


@pytest.mark.parametrize("report, names", [
    ({"_id": "", "status": "delivered", "type": "send"}, "_id"),
    ({"_id": "X", "status": "exploded", "type": "send"}, "exploded"),
    ({"_id": "X", "status": "delivered", "type": "receive", "message": "hi"}, "type"),
])
def test_a_cellcast_status_that_is_not_one_is_a_400(cellcast: CellcastSetup, report: dict[str, str],
                                                     names: str) -> None:
    ctx = cellcast.ctx
    message_id, cellcast_id = cellcast.send()
    body = json.dumps({**report, "_id": report["_id"] and cellcast_id}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    with httpx.Client() as client:
        answer = client.post(cellcast.status_url, content=body, headers={"X-Cellcast-Signature": signature})
    assert answer.status_code == 400
    assert answer.json()["status"] is False and names in answer.json()["message"]
    assert row(ctx, message_id)["status"] == "sent"


def test_a_cellcast_status_for_no_known_message_is_kept_until_it_is_sent(cellcast: CellcastSetup) -> None:
    ctx = cellcast.ctx
    with httpx.Client() as client:
        body = json.dumps({"_id": "f" * 24, "status": "delivered", "type": "send"}).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        answer = client.post(cellcast.status_url, content=body, headers={"X-Cellcast-Signature": signature})
    assert (answer.status_code, answer.json()["data"]) == (200, {"matched": False})
    with ctx.db.read() as conn:
        assert [(r.provider, r.provider_message_id) for r in conn.execute(select(early_receipts))] == [
            ("cellcast", "f" * 24)]
