"""The SMPP provider against a third-party SMSC: node-smpp (peers/node_smsc).

Skipped when node or npm is missing, except under ``CI=true`` where it must run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from peers import node_smsc
from peers.node_smsc import NodeSmsc
from senderid.delivery.providers.base import OutgoingSms
from senderid.delivery.providers.smpp import SmppProvider
from tests.support.env import IN_CI

_ids = iter(range(1, 1_000_000))


def sms(n: int, body: str | None = None, sender: str = "+61491570157") -> OutgoingSms:
    return OutgoingSms(message_id=f"{next(_ids):024x}", to=f"+614915{n:05d}", sender=sender,
                       body=body or f"Message {n} from the window test")


@pytest.fixture(scope="module")
def node() -> Iterator[NodeSmsc]:
    reason = node_smsc.unavailable()
    if reason:
        if IN_CI:
            pytest.fail(f"the node SMSC is required under CI=true: {reason}")
        pytest.skip(reason)
    with NodeSmsc(delay_ms=20) as smsc:
        yield smsc


@pytest.fixture
def smsc(node: NodeSmsc) -> NodeSmsc:
    node.reset()
    return node


class Receipts:
    def __init__(self) -> None:
        self.got: list[tuple[str, str]] = []
        self.arrived = threading.Condition()

    def __call__(self, message_id: str, status: str, done_at: datetime | None) -> None:
        with self.arrived:
            self.got.append((message_id, status))
            self.arrived.notify_all()

    def wait_for(self, count: int) -> list[tuple[str, str]]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.got) >= count, 10)
            return list(self.got)


@pytest.fixture
def receipts() -> Receipts:
    return Receipts()


@pytest.fixture
def provider(smsc: NodeSmsc, receipts: Receipts) -> Iterator[SmppProvider]:
    created = SmppProvider("127.0.0.1", smsc.port, smsc.system_id, smsc.password, timeout=5.0,
                           window=10, on_receipt=receipts)
    try:
        yield created
    finally:
        created.close()


def test_a_window_of_ten_against_node_smpp(smsc: NodeSmsc, provider: SmppProvider) -> None:
    messages = [sms(n) for n in range(60)]

    with ThreadPoolExecutor(max_workers=30) as pool:
        results = list(pool.map(provider.send, messages))

    submits = {s["message_id"]: s for s in smsc.submits()}
    assert sorted(submits) == sorted(r.provider_message_id for r in results)
    for message, result in zip(messages, results, strict=False):
        submit = submits[result.provider_message_id]
        assert (submit["destination_addr"], submit["text"]) == (message.to[1:], message.body)
        assert (submit["source_addr_ton"], submit["source_addr_npi"], submit["source_addr"]) == (
            1, 1, "61491570157")
        assert submit["registered_delivery"] == 1
    stats = smsc.stats()
    assert stats["binds"] == 1 and stats["submits"] == 60
    assert 1 < stats["max_outstanding_per_bind"] <= 10


def test_receipts_from_node_smpp(smsc: NodeSmsc, provider: SmppProvider, receipts: Receipts) -> None:
    delivered = provider.send(sms(1, sender="Acme")).provider_message_id
    failed = provider.send(sms(2)).provider_message_id
    assert delivered and failed

    assert smsc.send_receipt(delivered, "DELIVRD") == 0
    assert smsc.send_receipt(failed, "UNDELIV") == 0

    assert receipts.wait_for(2) == [(delivered, "delivered"), (failed, "failed")]
    assert smsc.submits()[0]["source_addr_ton"] == 5  # alphanumeric


@pytest.mark.parametrize("body, coding", [
    ("Long notice. " * 30, 0),
    ("Длинное сообщение. " * 12, 8),
], ids=["gsm", "ucs2"])
def test_a_long_message_on_node_smpp(smsc: NodeSmsc, provider: SmppProvider, receipts: Receipts,
                                     body: str, coding: int) -> None:
    result = provider.send(sms(3, body=body))

    parts = smsc.submits()
    assert len(parts) >= 3 and {p["data_coding"] for p in parts} == {coding}
    assert [p["concat"][1:] for p in parts] == [[len(parts), n] for n in range(1, len(parts) + 1)]
    assert len({p["concat"][0] for p in parts}) == 1 and len({p["bind"] for p in parts}) == 1
    assert "".join(p["text"] for p in parts) == body
    assert result.provider_message_id == parts[0]["message_id"]

    for part in parts:
        assert smsc.send_receipt(part["message_id"], "DELIVRD") == 0
    assert receipts.wait_for(1) == [(result.provider_message_id, "delivered")]
