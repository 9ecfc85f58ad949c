"""SMPP windowing: many submit_sm outstanding per bind, several binds, throttling, timeouts.

Every test drives the real SmppProvider over loopback sockets against the test SMSC
(peers/smsc.py), which answers after a delay while it keeps reading, records how
many submits were outstanding at once, and throttles, refuses or ignores on demand.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from pydantic import ValidationError
from smpplib import consts

from peers.smsc import TestSmsc
from senderid.delivery.providers import build_provider
from senderid.delivery.providers.base import (
    OutgoingSms,
    ProviderError,
    SendResult,
    TransientError,
    max_in_flight,
)
from senderid.delivery.providers.smpp import SmppProvider
from senderid.settings import Settings
from tests.support.env import TEST_SECRET

OTP = "918273"
_ids = iter(range(1, 1_000_000))


def sms(n: int, body: str | None = None) -> OutgoingSms:
    """Message ``n`` of a test: its own number and text, so each can be traced at the SMSC."""
    return OutgoingSms(message_id=f"{next(_ids):024x}", to=f"+614915{n:05d}", sender="Acme",
                       body=body or f"Message {n}: your code is {OTP}.")


def send_all(provider: SmppProvider, messages: list[OutgoingSms],
             threads: int | None = None) -> list[SendResult | ProviderError]:
    """Send every message from its own thread (at most ``threads``); result or error each.

    The first ``threads`` sends start together, once all their threads run: on a busy
    machine starting threads one by one would otherwise spread them over the test.
    """
    width = min(threads or len(messages), len(messages))
    start = threading.Barrier(width)

    def one(item: tuple[int, OutgoingSms]) -> SendResult | ProviderError:
        index, message = item
        if index < width:  # the first tasks each have a thread of their own
            start.wait(timeout=10)
        try:
            return provider.send(message)
        except ProviderError as error:
            assert OTP not in str(error) and message.body not in str(error)
            return error

    with ThreadPoolExecutor(max_workers=width) as pool:
        return list(pool.map(one, enumerate(messages)))


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.01)


@pytest.fixture
def smsc() -> Iterator[TestSmsc]:
    with TestSmsc() as peer:
        yield peer
        assert peer.errors == []


@pytest.fixture
def make(smsc: TestSmsc) -> Iterator[Callable[..., SmppProvider]]:
    created: list[SmppProvider] = []

    def factory(**options: Any) -> SmppProvider:
        options.setdefault("timeout", 5.0)
        provider = SmppProvider("127.0.0.1", smsc.port, smsc.system_id, smsc.password, **options)
        created.append(provider)
        return provider

    yield factory
    for provider in created:
        provider.close()


def delivered_texts(smsc: TestSmsc) -> list[str]:
    return sorted(m.text for m in smsc.messages)


# -- the window -------------------------------------------------------------------------


def test_a_bind_keeps_up_to_window_submits_outstanding(smsc: TestSmsc, make: Callable[..., SmppProvider]) -> None:
    smsc.answer_delay = 0.05
    provider = make(window=4)
    messages = [sms(n) for n in range(24)]

    results = send_all(provider, messages)

    assert all(isinstance(r, SendResult) and r.provider_message_id for r in results)
    assert len({r.provider_message_id for r in results}) == 24
    assert delivered_texts(smsc) == sorted(m.body for m in messages)
    assert 1 < smsc.max_outstanding <= 4
    assert smsc.connections == 1


def test_window_one_is_one_at_a_time(smsc: TestSmsc, make: Callable[..., SmppProvider]) -> None:
    smsc.answer_delay = 0.02
    provider = make(window=1)

    results = send_all(provider, [sms(n) for n in range(8)])

    assert all(isinstance(r, SendResult) for r in results)
    assert smsc.max_outstanding == 1


def test_binds_open_that_many_sessions_and_share_the_load(
        smsc: TestSmsc, make: Callable[..., SmppProvider]) -> None:
    smsc.answer_delay = 0.05
    provider = make(window=2, binds=3)
    assert provider.max_in_flight == 6
    messages = [sms(n) for n in range(30)]

    results = send_all(provider, messages)

    assert all(isinstance(r, SendResult) for r in results)
    assert delivered_texts(smsc) == sorted(m.body for m in messages)
    assert smsc.connections == 3 and len(smsc.binds) == 3
    per_bind = defaultdict(int)
    for submit in smsc.submits:
        per_bind[submit.connection] += 1
    assert sorted(per_bind) == [0, 1, 2] and min(per_bind.values()) >= 5
    assert 1 < smsc.max_outstanding <= 2


def test_sends_that_come_while_a_bind_is_still_binding_take_only_its_share(
        smsc: TestSmsc, make: Callable[..., SmppProvider]) -> None:
    smsc.answer_delay = 0.02
    held = smsc.hold_bind(0)  # the first session to connect stays unbound until released
    provider = make(window=2, binds=2)
    messages = [sms(n) for n in range(12)]

    with ThreadPoolExecutor(max_workers=12) as pool:
        futures: list[Future[SendResult]] = []

        def finished() -> int:
            return sum(future.done() for future in futures)

        def chosen() -> int:  # sends counted on a bind, or over already
            return sum(state["sends"] for state in provider.binds_state()) + finished()

        def on_the_held_bind() -> int:  # the sends waiting for it (it is the one not bound)
            unbound = [state for state in provider.binds_state() if not state["alive"]]
            return unbound[0]["sends"] if len(unbound) == 1 else -1

        for message in messages:  # one after another, each once the one before chose its bind
            futures.append(pool.submit(provider.send, message))
            wait_until(lambda: chosen() == len(futures))
        wait_until(lambda: on_the_held_bind() + finished() == len(messages))
        waiting = len(messages) - finished()
        held.set()
        results = [future.result() for future in futures]

    assert all(isinstance(r, SendResult) for r in results)
    assert delivered_texts(smsc) == sorted(m.body for m in messages)
    on_held = sum(1 for submit in smsc.submits if submit.connection == 0)
    assert on_held == waiting and 1 <= waiting <= 6  # not every send that came meanwhile
    assert len(smsc.submits) == 12 and smsc.connections == 2


def test_connect_binds_every_session(smsc: TestSmsc, make: Callable[..., SmppProvider]) -> None:
    provider = make(binds=2, enquire_link_interval=0.1)
    provider.connect()

    assert smsc.connections == 2
    assert [state["alive"] for state in provider.binds_state()] == [True, True]
    smsc.wait_for_enquire_links(4)  # each idle session keeps itself alive


def test_each_bind_rebinds_on_its_own(smsc: TestSmsc, make: Callable[..., SmppProvider]) -> None:
    provider = make(binds=2)
    provider.connect()
    smsc.disconnect_all()
    wait_until(lambda: not any(state["alive"] for state in provider.binds_state()))

    results = send_all(provider, [sms(n) for n in range(10)])

    assert all(isinstance(r, SendResult) for r in results)
    assert len(smsc.binds) >= 3  # two at first, then at least one again


@pytest.mark.unit
def test_max_in_flight_is_window_times_binds_from_settings() -> None:
    settings = Settings(database_url="sqlite:///unused.db", secret_key=TEST_SECRET,
                        sms_provider="smpp", smpp_host="127.0.0.1", smpp_system_id="senderid",
                        smpp_password="secret", smpp_window=7, smpp_binds=3)
    provider = build_provider(settings, None, None)  # never bound here
    try:
        assert isinstance(provider, SmppProvider)
        assert max_in_flight(provider) == 21 and provider.window == 7
        assert len(provider.binds_state()) == 3
    finally:
        provider.close()


@pytest.mark.unit
@pytest.mark.parametrize("field", ["smpp_window", "smpp_binds"])
def test_window_and_binds_are_at_least_one(field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(database_url="sqlite:///unused.db", secret_key=TEST_SECRET, **{field: 0})


@pytest.mark.unit
def test_providers_without_a_limit_have_none() -> None:
    class Plain:
        name = "plain"

    assert max_in_flight(Plain()) is None


# -- throttling -------------------------------------------------------------------------


def test_a_throttled_spell_delays_messages_but_loses_none(
        smsc: TestSmsc, make: Callable[..., SmppProvider]) -> None:
    smsc.answer_delay = 0.01
    provider = make(window=5, throttle_limit=10.0, throttle_backoff=0.02, throttle_backoff_max=0.2)
    provider.connect()
    smsc.throttle_for(1.0)
    messages = [sms(n) for n in range(20)]

    results = send_all(provider, messages)

    assert all(isinstance(r, SendResult) for r in results), results
    assert delivered_texts(smsc) == sorted(m.body for m in messages)  # each exactly once
    throttled = [s for s in smsc.submits if s.status == consts.SMPP_ESME_RTHROTTLED]
    assert throttled and len(smsc.submits) == 20 + len(throttled)


def test_a_window_too_big_for_the_smsc_shrinks_instead_of_failing(
        smsc: TestSmsc, make: Callable[..., SmppProvider]) -> None:
    smsc.answer_delay = 0.02
    smsc.max_window = 3  # this SMSC answers ESME_RMSGQFUL past 3 outstanding
    provider = make(window=10, throttle_limit=10.0, throttle_backoff=0.02, throttle_backoff_max=0.2)
    messages = [sms(n) for n in range(60)]

    results = send_all(provider, messages, threads=30)

    assert all(isinstance(r, SendResult) for r in results), results
    assert delivered_texts(smsc) == sorted(m.body for m in messages)
    refused = [s for s in smsc.submits if s.status == consts.SMPP_ESME_RMSGQFUL]
    assert refused  # it did try more than 3
    assert len(refused) < len(messages)  # and backed off instead of hammering
    assert provider.binds_state()[0]["window"] < 10


def test_a_bind_that_stays_throttled_fails_after_the_bound(
        smsc: TestSmsc, make: Callable[..., SmppProvider]) -> None:
    smsc.throttle_for(60)
    provider = make(window=3, throttle_limit=0.3, throttle_backoff=0.02, throttle_backoff_max=0.1)

    results = send_all(provider, [sms(n) for n in range(6)])

    assert all(isinstance(r, TransientError) for r in results), results
    assert all(r.retry_after == 0.1 and "0x00000058" in r.reason and "still throttled" in r.reason
               for r in results)
    assert smsc.messages == []
    smsc.throttle_for(0)
    assert provider.send(sms(99)).provider_message_id  # and it recovers


def test_other_refusals_still_fail_at_once(smsc: TestSmsc, make: Callable[..., SmppProvider]) -> None:
    provider = make()
    smsc.refuse(consts.SMPP_ESME_RSYSERR)

    with pytest.raises(TransientError, match="0x00000008"):
        provider.send(sms(1))
    assert len(smsc.submits) == 1  # not submitted again by the provider: the worker retries


# -- missing responses ------------------------------------------------------------------


def test_a_missing_response_fails_that_send_only(smsc: TestSmsc, make: Callable[..., SmppProvider]) -> None:
    smsc.answer_delay = 0.05
    smsc.ignore(1)  # the first submit_sm is never answered; the SMSC stays responsive
    provider = make(window=4, timeout=2.0)
    first = threading.Thread(target=lambda: errors.append(_try(provider, sms(0))))
    errors: list[ProviderError | None] = []
    first.start()
    smsc.wait_for_submits(1)
    others = send_all(provider, [sms(n) for n in range(1, 9)])
    first.join()

    assert isinstance(errors[0], TransientError) and "no submit_sm_resp within 2s" in errors[0].reason
    assert all(isinstance(r, SendResult) for r in others)
    assert provider.binds_state()[0]["alive"] and len(smsc.binds) == 1  # the bind was kept
    assert provider.send(sms(9)).provider_message_id
    assert provider.binds_state()[0]["in_flight"] == 0  # the lost submit's slot came back


def test_a_silent_smsc_drops_the_bind_and_the_next_send_rebinds(
        smsc: TestSmsc, make: Callable[..., SmppProvider]) -> None:
    provider = make(window=4, timeout=0.5)
    provider.connect()
    smsc.stall(30)  # the SMSC stops answering anything at all

    results = send_all(provider, [sms(n) for n in range(3)])

    assert all(isinstance(r, TransientError) for r in results)
    # the enquire_link sent after the first timeout is not answered either: the bind ends
    wait_until(lambda: not provider.binds_state()[0]["alive"])
    assert provider.send(sms(3)).provider_message_id
    assert len(smsc.binds) == 2


def _try(provider: SmppProvider, message: OutgoingSms) -> ProviderError | None:
    try:
        provider.send(message)
    except ProviderError as error:
        return error
    return None


# -- long messages ----------------------------------------------------------------------


def test_the_parts_of_a_message_stay_on_one_bind_in_order(
        smsc: TestSmsc, make: Callable[..., SmppProvider]) -> None:
    smsc.answer_delay = 0.02
    smsc.auto_receipt = True
    receipts: list[tuple[str, str]] = []
    provider = make(window=3, binds=3, on_receipt=lambda *r: receipts.append(r[:2]))
    messages = [sms(n, body=f"Long notice {n}. " + "x" * 400) for n in range(12)]

    results = send_all(provider, messages)

    assert all(isinstance(r, SendResult) for r in results)
    by_reference: dict[tuple[str, int], list[Any]] = defaultdict(list)
    for submit in smsc.submits:
        by_reference[(submit.destination_addr, submit.short_message[3])].append(submit)
    assert len(by_reference) == 12
    for parts in by_reference.values():
        assert len({p.connection for p in parts}) == 1  # one bind
        assert [p.short_message[5] for p in parts] == [1, 2, 3]  # in order
    assert delivered_texts(smsc) == sorted(m.body for m in messages)
    wait_until(lambda: len(receipts) == 12)
    assert sorted(receipts) == sorted((r.provider_message_id, "delivered") for r in results)
    assert len({s.connection for s in smsc.submits}) == 3


def test_part_receipts_fold_when_they_arrive_on_another_bind(
        smsc: TestSmsc, make: Callable[..., SmppProvider]) -> None:
    receipts: list[tuple[str, str]] = []
    provider = make(binds=2, on_receipt=lambda *r: receipts.append(r[:2]))
    provider.connect()
    result = send_all(provider, [sms(1, body="y" * 400)])[0]
    assert isinstance(result, SendResult)
    part_ids = [s.message_id for s in smsc.submits]
    assert len(part_ids) == 3 and part_ids[0] == result.provider_message_id

    for part_id in part_ids:  # sent on the last bound connection, whichever sent the part
        assert part_id is not None and smsc.send_receipt(part_id, "DELIVRD") == 0

    assert receipts == [(result.provider_message_id, "delivered")]


def test_every_smpp_socket_sends_without_nagle(smsc: TestSmsc) -> None:
    """TCP_NODELAY on each connection to the SMSC, re-binds included: with Nagle, a window's
    second submit_sm waits in the kernel for the answer to the first."""
    seen: list[int] = []

    class Noting(SmppProvider):
        def _new_session(self, sock: socket.socket, name: str) -> Any:
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            return super()._new_session(sock, name)

    provider = Noting("127.0.0.1", smsc.port, smsc.system_id, smsc.password, timeout=5.0, window=2, binds=2)
    try:
        assert all(isinstance(r, SendResult) for r in send_all(provider, [sms(n) for n in range(4)]))
        smsc.disconnect_all()
        # a send that meets the closing connection fails (transiently); the next ones re-bind
        deadline = time.monotonic() + 10
        while not all(isinstance(r, SendResult) for r in send_all(provider, [sms(n) for n in range(4, 8)])):
            assert time.monotonic() < deadline, "the provider did not bind again"
    finally:
        provider.close()
    assert len(seen) >= 3 and all(seen), seen
