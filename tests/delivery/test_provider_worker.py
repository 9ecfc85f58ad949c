"""The delivery contract through the real worker, once per provider.

An OTP requested with ``custom_numbers.add`` is queued in the outbox, claimed by the
real Worker and handed to the provider that ``build_provider`` makes from settings:
``devinbox`` (its own table) and the four network providers, each talking to its
local peer over loopback (peers/). Then the network providers meet server
errors (retried with backoff until sent) and a permanent refusal (failed at once).
Both databases; time is a FrozenClock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from smpplib import consts

from peers.cellcast import CellcastPeer
from peers.smsc import TestSmsc
from peers.twilio import TwilioPeer
from peers.webhook import WebhookPeer
from senderid import otp, signing
from senderid.delivery.providers import build_provider
from senderid.delivery.providers.devinbox import list_messages
from senderid.delivery.worker import Worker
from senderid.domain import custom_numbers as cn
from senderid.domain.context import Context
from senderid.domain.types import Actor
from senderid.settings import DEFAULT_OTP_TEMPLATE
from senderid.store.tables import outbox as outbox_table
from tests.support.helpers import outbox_row, registrations

NUMBER = "+61491570156"
INVALID = "+61491570000"  # a valid mobile for senderid; every peer refuses it as invalid
WHO = Actor("key:test", "127.0.0.1")
PROVIDERS = ["devinbox", "cellcast", "twilio", "smpp", "webhook"]
NETWORKS = PROVIDERS[1:]  # the devinbox cannot fail
_CODE = re.compile(r"\b(\d{6})\b")


# What an OTP's sender is at each network when SENDERID_OTP_SENDER is empty (the default).
DEFAULT_SENDERS = {"devinbox": "senderid", "cellcast": "", "twilio": "+61491570199", "smpp": "", "webhook": ""}


@dataclass(frozen=True)
class Delivered:
    to: str
    sender: str
    body: str
    provider_message_id: str


@dataclass
class Network:
    name: str
    ctx: Context
    peer: Any  # None for devinbox
    worker: Worker

    def delivered(self) -> list[Delivered]:
        peer = self.peer
        if peer is None:
            return [Delivered(m["to"], m["sender"], m["body"], "") for m in list_messages(self.ctx.db)]
        if isinstance(peer, CellcastPeer):
            return [Delivered(q.to, q.sender, q.body, q.message_id) for q in peer.queued]
        if isinstance(peer, TwilioPeer):
            return [Delivered(m["To"] or "", m["From"] or "", m["Body"] or "", sid)
                    for sid, m in peer.messages.items()]
        if isinstance(peer, TestSmsc):
            return [Delivered("+" + m.destination_addr, m.source_addr, m.text, m.message_ids[0])
                    for m in peer.messages]
        return [Delivered(r.json()["data"]["to"], r.json()["data"]["sender"], r.json()["data"]["body"], i)
                for i, r in peer.accepted]

    def attempts_seen(self) -> int:
        """How many sends reached the peer (accepted or not)."""
        return len(self.peer.submits) if isinstance(self.peer, TestSmsc) else len(self.peer.requests)

    def fail(self, times: int) -> None:
        """The next ``times`` sends meet a server error: HTTP 500, or SMPP ESME_RSYSERR."""
        if isinstance(self.peer, TestSmsc):
            self.peer.refuse(consts.SMPP_ESME_RSYSERR, times)
        else:
            self.peer.fail(times, 500)


@pytest.fixture
def network(request: pytest.FixtureRequest, ctx: Context) -> Iterator[Network]:
    name: str = request.param
    with ExitStack() as stack:
        peer: Any = None
        update: dict[str, object] = {"sms_provider": name}
        if name == "cellcast":
            peer = stack.enter_context(CellcastPeer())
            update.update(cellcast_base_url=peer.url, cellcast_api_key=peer.api_key)
        elif name == "twilio":
            peer = stack.enter_context(TwilioPeer())
            update.update(twilio_base_url=peer.url, twilio_account_sid=peer.account_sid,
                          twilio_auth_token=peer.auth_token, twilio_from="+61491570199")
        elif name == "smpp":
            peer = stack.enter_context(TestSmsc())
            update.update(smpp_host="127.0.0.1", smpp_port=peer.port, smpp_system_id=peer.system_id,
                          smpp_password=peer.password)
        elif name == "webhook":
            peer = stack.enter_context(WebhookPeer())
            update.update(webhook_provider_url=peer.url + "/sms", webhook_provider_secret=signing.generate_secret())
        settings = ctx.settings.model_copy(update=update)
        provider = build_provider(settings, ctx.db, ctx.clock)
        stack.callback(provider.close)
        yield Network(name, ctx, peer, Worker(ctx.db, settings, provider, ctx.clock, name=f"{name}-worker"))


def queue_otp(ctx: Context, customer, number: str = NUMBER) -> str:
    result = cn.add(ctx, customer.account, name="Mine", number=number, actor=WHO)
    with ctx.db.read() as conn:
        return conn.execute(
            outbox_table.select().with_only_columns(outbox_table.c.id)
            .where(outbox_table.c.custom_number_id == result.id)
        ).scalar_one()


def row(ctx: Context, message_id: str) -> dict[str, Any]:
    with ctx.db.read() as conn:
        found = outbox_row(conn, message_id)
    assert found is not None
    return found


def advance_to_due(ctx: Context, message_id: str) -> None:
    due = row(ctx, message_id)["next_attempt_at"]
    ctx.clock.advance(max(0.0, (due - ctx.clock.now()).total_seconds()))


@pytest.mark.parametrize("network", PROVIDERS, indirect=True)
def test_an_otp_reaches_the_provider_through_the_worker(network: Network, ctx, customer) -> None:
    message_id = queue_otp(ctx, customer)

    assert network.worker.run_once() == 1

    [sms] = network.delivered()
    code = _CODE.search(sms.body).group(1)
    assert sms.body == DEFAULT_OTP_TEMPLATE.format(code=code, number=NUMBER, minutes=10)
    # SENDERID_OTP_SENDER is empty by default: each network's own default sender
    assert (sms.to, sms.sender) == (NUMBER, DEFAULT_SENDERS[network.name])
    assert registrations(ctx, NUMBER)[0]["otp_hash"] == otp.hash_code(ctx.secret, NUMBER, code)
    sent = row(ctx, message_id)
    assert (sent["status"], sent["attempts"], sent["provider"]) == ("sent", 1, network.name)
    assert sent["provider_message_id"] == (sms.provider_message_id or message_id)
    assert code not in sent["body"]  # wiped once handed over
    cn.verify(ctx, customer.account, name="Mine", number=NUMBER, code=code, actor=WHO)


@pytest.mark.parametrize("network", NETWORKS, indirect=True)
def test_two_server_errors_then_sent_after_retries(network: Network, ctx, customer) -> None:
    message_id = queue_otp(ctx, customer)
    network.fail(2)

    for attempt in (1, 2):
        assert network.worker.run_once() == 1
        retrying = row(ctx, message_id)
        assert (retrying["status"], retrying["attempts"]) == ("queued", attempt)
        assert retrying["last_error"] and network.name in retrying["last_error"]
        assert _CODE.search(retrying["last_error"]) is None
        assert network.worker.run_once() == 0  # not due yet
        advance_to_due(ctx, message_id)
    assert network.worker.run_once() == 1

    sent = row(ctx, message_id)
    assert (sent["status"], sent["attempts"], sent["last_error"]) == ("sent", 3, None)
    [sms] = network.delivered()
    assert sent["provider_message_id"] == sms.provider_message_id
    assert network.attempts_seen() == 3
    code = _CODE.search(sms.body).group(1)
    cn.verify(ctx, customer.account, name="Mine", number=NUMBER, code=code, actor=WHO)


@pytest.mark.parametrize("network", NETWORKS, indirect=True)
def test_a_permanent_error_fails_without_retry(network: Network, ctx, clock, customer) -> None:
    message_id = queue_otp(ctx, customer, INVALID)

    assert network.worker.run_once() == 1

    failed = row(ctx, message_id)
    assert (failed["status"], failed["attempts"]) == ("failed", 1)
    assert failed["lease_until"] is None
    assert network.name in failed["last_error"]
    assert "******" in failed["body"] and _CODE.search(failed["last_error"]) is None
    clock.advance(hours=1)
    assert network.worker.run_once() == 0
    assert network.attempts_seen() == 1
    assert network.delivered() == []
