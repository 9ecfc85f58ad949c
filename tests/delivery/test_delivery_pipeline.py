"""The delivery pipeline: a window of sends in flight, claims by lane (OTP first, a fair
share per account), outcomes recorded in batches, and the provider's shared rate cap.

The worker, the outbox and the database are real (both databases); the provider is a
scripted fake that can take its time, so the window can be seen filling.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event, select

from senderid.delivery import lanes
from senderid.delivery.providers.base import OutgoingSms, TransientError
from senderid.delivery.worker import Worker
from senderid.domain import outbox
from senderid.domain.context import Context
from senderid.runtime import unwatch_queue, watch_queue
from senderid.store.tables import outbox as outbox_table
from tests.support.fake_providers import ScriptedProvider, always


def queue_bulk(ctx: Context, account_id: str | None, n: int, *, prefix: str = "bulk") -> list[str]:
    with ctx.db.write() as conn:
        return [
            outbox.enqueue(conn, now=ctx.clock.now(), kind="sms", to=f"+614915702{i % 100:02d}", sender="",
                           body=f"{prefix} {i}", account_id=account_id)  # the shared sender: any account's
            for i in range(n)
        ]


def queue_otp_row(ctx: Context, account_id: str = "acct-otp") -> str:
    with ctx.db.write() as conn:
        return outbox.enqueue(conn, now=ctx.clock.now(), kind="otp", to="+61491570156", sender="",
                              body="Your code is 123456", account_id=account_id,
                              expires_at=ctx.clock.now() + timedelta(minutes=10))


def statuses(ctx: Context) -> Counter[str]:
    with ctx.db.read() as conn:
        return Counter(conn.execute(select(outbox_table.c.status)).scalars())


class SlowProvider(ScriptedProvider):
    """Takes ``seconds`` per send and remembers how many sends it had at once."""

    def __init__(self, seconds: float, **kwargs: Any) -> None:
        super().__init__(before_answer=self._wait, **kwargs)
        self.seconds = seconds
        self._now = 0
        self.most_at_once = 0
        self._count_lock = threading.Lock()

    def _wait(self, sms: OutgoingSms) -> None:
        with self._count_lock:
            self._now += 1
            self.most_at_once = max(self.most_at_once, self._now)
        time.sleep(self.seconds)
        with self._count_lock:
            self._now -= 1


def run_until(worker: Worker, done: Any, timeout: float = 30) -> None:
    """Run ``worker.run`` in a thread until ``done()`` holds, then stop it; fail when
    ``done()`` did not hold within ``timeout`` seconds."""
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + timeout
    reached = False
    try:
        while not (reached := bool(done())) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        worker.wake()
        thread.join(30)
    assert not thread.is_alive()
    assert reached, f"the worker did not get there in {timeout:g} s"


# -- the window --------------------------------------------------------------------------


@pytest.mark.parametrize("settings_overrides", [{"delivery_concurrency": 8}])
def test_the_worker_keeps_a_window_of_sends_in_flight(ctx) -> None:
    ids = queue_bulk(ctx, "acct-a", 60)
    provider = SlowProvider(0.05)
    w = Worker(ctx.db, ctx.settings, provider, ctx.clock, name="w")
    assert w.window == 8
    run_until(w, lambda: statuses(ctx)["sent"] == 60)
    assert statuses(ctx) == {"sent": 60}
    assert 1 < provider.most_at_once <= 8
    assert sorted(provider.ids) == sorted(ids)  # each handed over once
    with ctx.db.read() as conn:
        assert set(conn.execute(select(outbox_table.c.attempts)).scalars()) == {1}


@pytest.mark.parametrize("settings_overrides", [{"delivery_concurrency": 64}])
def test_a_provider_s_own_limit_caps_the_window(ctx) -> None:
    provider = ScriptedProvider()
    provider.max_in_flight = 10
    assert Worker(ctx.db, ctx.settings, provider, ctx.clock, name="w").window == 10


@pytest.mark.parametrize("settings_overrides", [{"delivery_concurrency": 16}])
def test_stopping_lets_the_sends_in_flight_finish_and_records_them(ctx) -> None:
    queue_bulk(ctx, "acct-a", 16)
    provider = SlowProvider(0.3)
    w = Worker(ctx.db, ctx.settings, provider, ctx.clock, name="w")
    run_until(w, lambda: provider.most_at_once >= 16)  # stop with the whole window on the wire
    assert statuses(ctx) == {"sent": 16}
    assert len(provider.calls) == 16


@pytest.mark.parametrize("settings_overrides", [{"delivery_concurrency": 8, "delivery_breaker_failures": 3}])
def test_an_open_breaker_stops_the_window_and_puts_the_rest_back(ctx) -> None:
    queue_bulk(ctx, "acct-a", 40)
    provider = always(TransientError("HTTP 503"))
    w = Worker(ctx.db, ctx.settings, provider, ctx.clock, name="w")
    run_until(w, lambda: w.breaker.state == "open" and statuses(ctx)["sending"] == 0, timeout=10)
    # only what was already on the wire when the breaker opened went to the provider
    assert 3 <= len(provider.calls) <= 8
    found = statuses(ctx)
    assert found == {"queued": 40}
    with ctx.db.read() as conn:
        attempts = Counter(conn.execute(select(outbox_table.c.attempts)).scalars())
    assert attempts[1] == len(provider.calls) and attempts[0] == 40 - len(provider.calls)


@pytest.mark.parametrize("workers", [2])
@pytest.mark.parametrize("settings_overrides", [{"delivery_concurrency": 8}])
def test_two_concurrent_loops_never_hand_over_the_same_message(ctx, workers: int) -> None:
    ids = queue_bulk(ctx, "acct-a", 100) + queue_bulk(ctx, "acct-b", 50)
    provider = SlowProvider(0.01)
    stops = [threading.Event() for _ in range(workers)]
    threads = [
        threading.Thread(target=Worker(ctx.db, ctx.settings, provider, ctx.clock, name=f"w{i}").run, args=(stop,))
        for i, stop in enumerate(stops)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while statuses(ctx)["sent"] < len(ids) and time.monotonic() < deadline:
        time.sleep(0.05)
    for stop in stops:
        stop.set()
    for thread in threads:
        thread.join(30)
    assert statuses(ctx) == {"sent": len(ids)}
    assert sorted(provider.ids) == sorted(ids)


# -- lanes -------------------------------------------------------------------------------


def claim(ctx: Context, limit: int, cursor: lanes.FairCursor | None = None) -> list[outbox.Claimed]:
    with ctx.db.write() as conn:
        return lanes.claim(conn, now=ctx.clock.now(), worker="w", lease_seconds=30, limit=limit, cursor=cursor)


def test_an_otp_is_claimed_before_the_bulk_queued_ahead_of_it(ctx, clock) -> None:
    queue_bulk(ctx, "acct-a", 500)
    clock.advance(1)
    otp_id = queue_otp_row(ctx)
    first = claim(ctx, 5)
    assert first[0].id == otp_id
    assert [m.kind for m in first] == ["otp", "sms", "sms", "sms", "sms"]


def test_one_account_s_burst_does_not_starve_another_account(ctx, clock) -> None:
    a = queue_bulk(ctx, "acct-a", 300, prefix="a")
    clock.advance(1)
    b = queue_bulk(ctx, "acct-b", 3, prefix="b")
    taken = claim(ctx, 10)
    assert len(taken) == 8  # 5 of A's share; B had only 3 of its 5
    assert {m.id for m in taken if m.account_id == "acct-b"} == set(b)
    assert [m.id for m in taken if m.account_id == "acct-a"] == a[:5]  # oldest first within an account


def test_with_more_accounts_than_slots_each_gets_its_turn(ctx) -> None:
    for i in range(7):
        queue_bulk(ctx, f"acct-{i}", 3, prefix=f"m{i}")
    cursor = lanes.FairCursor()
    served: list[str] = []
    for _ in range(4):
        served += [m.account_id for m in claim(ctx, 2, cursor)]
    assert set(served) == {f"acct-{i}" for i in range(7)}
    assert max(Counter(served).values()) <= 2


def test_messages_of_no_account_are_in_the_priority_lane(ctx) -> None:
    queue_bulk(ctx, "acct-a", 20)
    system = queue_bulk(ctx, None, 2, prefix="system")
    assert {m.id for m in claim(ctx, 3)} >= set(system)


@pytest.mark.unit
def test_shares_split_the_slots_evenly() -> None:
    assert lanes.shares(10, 3) == [4, 3, 3]
    assert lanes.shares(2, 2) == [1, 1]
    assert sum(lanes.shares(64, 7)) == 64


# -- outcomes in batches -------------------------------------------------------------------


def count_statements(ctx: Context, work: Any) -> int:
    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.split(None, 1)[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK"):
            seen.append(statement)

    event.listen(ctx.db.engine, "before_cursor_execute", before)
    try:
        work()
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", before)
    return len(seen)


@pytest.mark.parametrize("size", [2, 40])
def test_recording_a_batch_costs_the_same_statements_whatever_its_size(ctx, size: int) -> None:
    queue_bulk(ctx, "acct-a", size)
    taken = claim(ctx, size)
    half = size // 2
    outcomes = [outbox.Outcome(m, outbox.SENT, provider_message_id=f"p{m.id}") for m in taken[:half]] + [
        outbox.Outcome(m, outbox.QUEUED, "HTTP 503", next_attempt_at=ctx.clock.now()) for m in taken[half:]
    ]

    def record() -> None:
        with ctx.db.write() as conn:
            outbox.record(conn, outcomes, now=ctx.clock.now(), provider="fake")

    # sent (receipt lock on PostgreSQL, update, early receipts), webhook URLs of the
    # accounts, retries, the history rows of every outcome (one executemany): the same few
    # statements for 2 outcomes or for 40
    assert count_statements(ctx, record) <= (6 if ctx.db.dialect == "postgresql" else 5)
    assert statuses(ctx) == {"sent": half, "queued": size - half}


# -- the provider's rate cap -----------------------------------------------------------------


@pytest.mark.parametrize("settings_overrides", [{"provider_max_per_second": 20}])
def test_the_rate_cap_is_shared_by_every_worker(ctx, clock) -> None:
    queue_bulk(ctx, "acct-a", 100)
    provider = ScriptedProvider()
    first = Worker(ctx.db, ctx.settings, provider, clock, name="w1")
    second = Worker(ctx.db, ctx.settings, provider, clock, name="w2")
    # 20 per second, the bucket holding a tenth of a second: 2 now, whichever worker asks
    assert first.run_once() == 2
    assert second.run_once() == 0
    assert first.run_once() == 0
    sent = 2
    for _ in range(10):  # one second, a tenth at a time, alternating workers
        clock.advance(0.1)
        sent += first.run_once() + second.run_once()
    assert sent == 22  # 2 up front + 20 per second
    assert len(provider.calls) == 22


@pytest.mark.parametrize("settings_overrides", [{"provider_max_per_second": 10}])
def test_the_rate_cap_counts_sms_parts(ctx, clock) -> None:
    with ctx.db.write() as conn:
        for _ in range(3):
            outbox.enqueue(conn, now=clock.now(), kind="sms", to="+61491570157", sender="",
                           body="x" * 300, account_id="acct-a")  # 2 parts each (GSM-7, 153 per part)
    w = Worker(ctx.db, ctx.settings, ScriptedProvider(), clock, name="w")
    assert w.run_once() == 1  # one token: one message claimed, which used two
    clock.advance(0.1)  # one token back: the bucket is at 0 now, still owing
    assert w.run_once() == 0
    clock.advance(0.1)
    assert w.run_once() == 1


# -- operators see the queue ----------------------------------------------------------------


@pytest.mark.parametrize("settings_overrides", [{"metrics_enabled": True}])
def test_the_queue_metrics_show_depth_by_status_and_lane_and_the_oldest_age(ctx, clock) -> None:
    queue_bulk(ctx, "acct-a", 4)
    queue_otp_row(ctx)
    clock.advance(30)
    queue_bulk(ctx, "acct-b", 1)
    claim(ctx, 1)  # the OTP: sending
    watch_queue(ctx)
    try:
        value = REGISTRY.get_sample_value
        assert value("senderid_outbox_messages", {"status": "queued", "lane": "bulk"}) == 5
        assert value("senderid_outbox_messages", {"status": "sending", "lane": "priority"}) == 1
        assert value("senderid_outbox_messages", {"status": "queued", "lane": "priority"}) == 0
        assert value("senderid_outbox_oldest_queued_seconds", {"lane": "bulk"}) == 30
        assert value("senderid_outbox_oldest_queued_seconds", {"lane": "priority"}) == 0
    finally:
        unwatch_queue()


@pytest.mark.parametrize("settings_overrides", [{"metrics_enabled": True}])
def test_scheduled_messages_are_counted_apart_from_waiting_ones(ctx, clock) -> None:
    """Ten messages for next week are scheduled, not waiting: the oldest-queued gauge stays at 0
    until they come due, and then counts from their due time, not from their queueing."""
    with ctx.db.write() as conn:
        outbox.enqueue_many(conn, now=clock.now(), kind="sms", messages=[
            outbox.Message(to=f"+6149157020{i}", sender="", body="later", account_id="acct-a",
                           due_at=clock.now() + timedelta(days=7)) for i in range(10)])
    clock.advance(60)
    queue_bulk(ctx, None, 1)  # waiting, in the priority lane
    clock.advance(5)
    watch_queue(ctx)
    try:
        value = REGISTRY.get_sample_value
        assert value("senderid_outbox_messages", {"status": "scheduled", "lane": "bulk"}) == 10
        assert value("senderid_outbox_messages", {"status": "queued", "lane": "bulk"}) == 0
        assert value("senderid_outbox_oldest_queued_seconds", {"lane": "bulk"}) == 0
        assert value("senderid_outbox_oldest_queued_seconds", {"lane": "priority"}) == 5
        clock.advance(7 * 86400 - 65 + 20)  # due 20 s ago
        assert value("senderid_outbox_messages", {"status": "scheduled", "lane": "bulk"}) == 0
        assert value("senderid_outbox_messages", {"status": "queued", "lane": "bulk"}) == 10
        assert value("senderid_outbox_oldest_queued_seconds", {"lane": "bulk"}) == 20
        assert value("senderid_outbox_oldest_queued_seconds", {"lane": "priority"}) == 7 * 86400 - 40
    finally:
        unwatch_queue()


class GatedProvider(ScriptedProvider):
    """Answers a send only when the test lets it (:meth:`answer`), one at a time: the
    test decides when a slot of the window frees."""

    def __init__(self) -> None:
        super().__init__(before_answer=self._wait)
        self._permits = threading.Semaphore(0)

    def _wait(self, sms: OutgoingSms) -> None:
        if not self._permits.acquire(timeout=60):
            raise TransientError("the test never let this send answer")

    def answer(self, n: int = 1) -> None:
        for _ in range(n):
            self._permits.release()


def wait_for(done: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"not reached in {timeout:g} s"
        time.sleep(0.005)


def claimed_ids(ctx: Context) -> set[str]:
    with ctx.db.read() as conn:
        return set(conn.execute(select(outbox_table.c.id).where(outbox_table.c.status == "sending")).scalars())


@pytest.mark.parametrize("settings_overrides", [{"delivery_concurrency": 4}])
def test_an_otp_overtakes_the_bulk_the_loop_already_holds(ctx) -> None:
    """An OTP queued while the loop has its window of bulk on the wire and as much again
    claimed and held ready is taken at the loop's next claim and handed over at the next
    free slot: ahead of the bulk it still holds, and of every message claimed after it.

    The provider answers one send at a time, when the test says so: each step is exact."""
    queue_bulk(ctx, "acct-a", 400)
    provider = GatedProvider()
    w = Worker(ctx.db, ctx.settings, provider, ctx.clock, name="w")
    stop = threading.Event()
    thread = threading.Thread(target=w.run, args=(stop,))
    thread.start()
    try:
        # the window on the wire, as much again held ready: the loop has no room to claim
        wait_for(lambda: len(provider.calls) == w.window and len(claimed_ids(ctx)) == 2 * w.window)
        held = claimed_ids(ctx) - set(provider.ids)
        assert len(held) == w.window
        otp_id = queue_otp_row(ctx)
        w.wake()  # what a commit that queued something does
        before = len(provider.calls)
        for _ in range(2 * w.window):  # one answer at a time, each freeing one slot
            if otp_id in provider.ids:
                break
            handed = len(provider.calls)
            provider.answer()
            wait_for(lambda: len(provider.calls) > handed)  # noqa: B023 - used at once
        order = provider.ids
    finally:
        stop.set()
        provider.answer(4 * w.window)
        w.wake()
        thread.join(30)
    assert not thread.is_alive()
    assert otp_id in order, "the OTP waited behind more than twice the window of bulk"
    ahead = order[before:order.index(otp_id)]
    # only bulk the loop already held went first (those handed over while it waited for room
    # to claim), never a message claimed after the OTP was queued; some it held went after
    assert set(ahead) <= held, (ahead, held)
    assert len(ahead) < len(held), ahead
    assert statuses(ctx)["queued"] > 0  # bulk was still waiting: the OTP did not wait for it
