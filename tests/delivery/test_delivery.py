"""The delivery worker against the real outbox (SPEC §3: OTP delivery is never lost).

Retries with backoff, permanent failures, giving up, expired and superseded
OTPs, concurrent workers and expired leases. The provider is a scripted fake
(tests/support/fake_providers.py); the worker and the outbox are real, on both databases.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from senderid import otp
from senderid.delivery import lanes
from senderid.delivery.providers.base import PermanentError, TransientError
from senderid.delivery.worker import Worker, backoff_delay
from senderid.domain import custom_numbers as cn
from senderid.domain import outbox
from senderid.domain.context import Context
from senderid.domain.types import Actor
from senderid.store.tables import outbox as outbox_table
from tests.support.fake_providers import ScriptedProvider, always
from tests.support.helpers import outbox_row, registrations

NUMBER = "+61491570156"
WHO = Actor("key:test", "127.0.0.1")
_CODE = re.compile(r"\b(\d{6})\b")


def queue_otp(ctx: Context, customer, number: str = NUMBER) -> dict[str, Any]:
    """Add a number (an OTP SMS is queued); the queued outbox row."""
    result = cn.add(ctx, customer.account, name="Mine", number=number, actor=WHO)
    with ctx.db.read() as conn:
        row = conn.execute(
            select(outbox_table).where(outbox_table.c.custom_number_id == result.id)
            .order_by(outbox_table.c.created_at.desc()).limit(1)
        ).one()
    return dict(row._mapping)


def message(ctx: Context, message_id: str) -> dict[str, Any]:
    with ctx.db.read() as conn:
        found = outbox_row(conn, message_id)
    assert found is not None
    return found


def all_messages(ctx: Context) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(outbox_table))]


def code_in(body: str) -> str:
    match = _CODE.search(body)
    assert match, body
    return match.group(1)


def worker(ctx: Context, provider: ScriptedProvider, name: str = "w1") -> Worker:
    return Worker(ctx.db, ctx.settings, provider, ctx.clock, name=name)


def assert_wiped(row: dict[str, Any]) -> None:
    assert "******" in row["body"]
    assert _CODE.search(row["body"]) is None, row["body"]


# -- retries ---------------------------------------------------------------------------


def test_transient_failures_are_retried_with_backoff(ctx, clock, customer) -> None:
    queued = queue_otp(ctx, customer)
    provider = ScriptedProvider([TransientError("timeout 1"), TransientError("timeout 2"), TransientError("503")])
    w = worker(ctx, provider)
    base = ctx.settings.delivery_backoff_seconds
    for attempt, error in enumerate(["timeout 1", "timeout 2", "503"], start=1):
        assert w.run_once() == 1
        row = message(ctx, queued["id"])
        assert (row["status"], row["attempts"], row["last_error"]) == ("queued", attempt, error)
        assert row["lease_until"] is None
        delay = (row["next_attempt_at"] - clock.now()).total_seconds()
        ceiling = base * 2 ** (attempt - 1)
        assert ceiling / 2 <= delay <= ceiling, (attempt, delay)
        assert code_in(row["body"]) == code_in(queued["body"])  # still needed: not wiped yet
        # not due yet: nothing happens
        clock.advance(delay / 2)
        assert w.run_once() == 0
        clock.advance((row["next_attempt_at"] - clock.now()).total_seconds())  # exactly due
    assert w.run_once() == 1
    row = message(ctx, queued["id"])
    assert (row["status"], row["attempts"]) == ("sent", 4)
    assert row["last_error"] is None
    assert row["provider"] == "fake"
    assert row["provider_message_id"] == f"fake-{queued['id']}"
    assert row["sent_at"] == clock.now()
    assert_wiped(row)
    # the same text every time: the code was drawn once, when queued
    assert len(provider.calls) == 4
    assert {sms.body for sms in provider.calls} == {queued["body"]}
    code = code_in(provider.calls[0].body)
    assert registrations(ctx, NUMBER)[0]["otp_hash"] == otp.hash_code(ctx.secret, NUMBER, code)
    cn.verify(ctx, customer.account, name="Mine", number=NUMBER, code=code, actor=WHO)
    assert w.run_once() == 0


def test_provider_retry_after_is_respected(ctx, clock, customer) -> None:
    queued = queue_otp(ctx, customer)
    w = worker(ctx, ScriptedProvider([TransientError("throttled", retry_after=120)]))
    w.run_once()
    row = message(ctx, queued["id"])
    assert row["next_attempt_at"] >= clock.now() + timedelta(seconds=120)
    clock.advance(119)
    assert w.run_once() == 0
    clock.advance(1)
    assert w.run_once() == 1
    assert message(ctx, queued["id"])["status"] == "sent"


def test_a_provider_bug_is_retried_not_lost(ctx, clock, customer) -> None:
    queued = queue_otp(ctx, customer)
    w = worker(ctx, ScriptedProvider([RuntimeError("boom with a secret 123456")]))
    assert w.run_once() == 1
    row = message(ctx, queued["id"])
    assert (row["status"], row["last_error"]) == ("queued", "unexpected RuntimeError")
    clock.advance(seconds=ctx.settings.delivery_backoff_seconds)
    assert w.run_once() == 1
    assert message(ctx, queued["id"])["status"] == "sent"


@pytest.mark.unit
def test_backoff_grows_and_is_capped() -> None:
    rng = random.Random(7)
    for attempt in range(1, 30):
        delay = backoff_delay(attempt, 2.0, 300.0, rng)
        ceiling = min(300.0, 2.0 * 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling


def test_permanent_error_fails_without_retry(ctx, clock, customer) -> None:
    queued = queue_otp(ctx, customer)
    provider = always(PermanentError("invalid destination"))
    w = worker(ctx, provider)
    assert w.run_once() == 1
    row = message(ctx, queued["id"])
    assert (row["status"], row["attempts"], row["last_error"]) == ("failed", 1, "invalid destination")
    assert row["lease_until"] is None
    assert_wiped(row)
    clock.advance(hours=2)
    assert w.run_once() == 0
    assert len(provider.calls) == 1


def test_gives_up_after_max_attempts_and_wipes_the_code(ctx, clock, customer) -> None:
    queued = queue_otp(ctx, customer)
    provider = always(TransientError("upstream down"))
    w = worker(ctx, provider)
    max_attempts = ctx.settings.delivery_max_attempts
    assert max_attempts == 8
    # With the default backoff (2 s doubling, 300 s cap) 8 attempts fit in the OTP's 10 minutes
    for attempt in range(1, max_attempts + 1):
        assert w.run_once() == 1, attempt
        row = message(ctx, queued["id"])
        if attempt < max_attempts:
            assert (row["status"], row["attempts"]) == ("queued", attempt)
            # due again, and past the circuit breaker's cool-off once it opened (5 failures)
            due = max(row["next_attempt_at"], w.breaker.reopens_at)
            clock.advance((due - clock.now()).total_seconds())
    row = message(ctx, queued["id"])
    assert (row["status"], row["attempts"]) == ("dead", max_attempts)
    assert row["last_error"] == f"gave up after {max_attempts} attempts: upstream down"
    assert_wiped(row)
    assert len(provider.calls) == max_attempts
    clock.advance(hours=1)
    assert w.run_once() == 0


@pytest.mark.parametrize("settings_overrides", [{"delivery_max_attempts": 3}])
def test_max_attempts_is_a_setting(ctx, clock, customer) -> None:
    queued = queue_otp(ctx, customer)
    provider = always(TransientError("nope"))
    w = worker(ctx, provider)
    for _ in range(3):
        w.run_once()
        clock.advance(60)
    row = message(ctx, queued["id"])
    assert (row["status"], row["attempts"]) == ("dead", 3)
    assert_wiped(row)


def test_plain_sms_keeps_its_body_when_it_dies(ctx, clock) -> None:
    with ctx.db.write() as conn:
        message_id = outbox.enqueue(conn, now=clock.now(), kind="sms", to=NUMBER, sender="Acme", body="Hello")
    w = worker(ctx, always(TransientError("down")))
    for _ in range(ctx.settings.delivery_max_attempts):
        assert w.run_once() == 1
        clock.advance(ctx.settings.delivery_backoff_max_seconds)
    row = message(ctx, message_id)
    assert (row["status"], row["body"]) == ("dead", "Hello")


# -- OTP-specific rules ----------------------------------------------------------------


def test_an_otp_that_expired_before_delivery_is_not_sent(ctx, clock, customer) -> None:
    queued = queue_otp(ctx, customer)
    clock.advance(ctx.settings.otp_ttl_seconds)
    provider = ScriptedProvider()
    assert worker(ctx, provider).run_once() == 1
    row = message(ctx, queued["id"])
    assert row["status"] == "cancelled"
    assert "expired" in row["last_error"]
    assert_wiped(row)
    assert provider.calls == []


def test_an_otp_just_before_expiry_is_still_sent(ctx, clock, customer) -> None:
    queued = queue_otp(ctx, customer)
    clock.advance(ctx.settings.otp_ttl_seconds - 1)
    provider = ScriptedProvider()
    worker(ctx, provider).run_once()
    assert message(ctx, queued["id"])["status"] == "sent"
    assert len(provider.calls) == 1


def test_retries_stop_when_the_otp_expires(ctx, clock, customer) -> None:
    queued = queue_otp(ctx, customer)
    provider = ScriptedProvider([TransientError("down")])
    w = worker(ctx, provider)
    w.run_once()
    clock.advance(ctx.settings.otp_ttl_seconds)
    w.run_once()
    assert message(ctx, queued["id"])["status"] == "cancelled"
    assert len(provider.calls) == 1


def test_re_add_cancels_the_queued_old_otp(ctx, clock, customer) -> None:
    old = queue_otp(ctx, customer)
    clock.advance(ctx.settings.otp_resend_cooldown_seconds)
    new = queue_otp(ctx, customer)
    assert new["id"] != old["id"]
    provider = ScriptedProvider()
    assert worker(ctx, provider).run_once() == 1
    assert [sms.message_id for sms in provider.calls] == [new["id"]]
    code = code_in(provider.calls[0].body)
    assert registrations(ctx, NUMBER)[0]["otp_hash"] == otp.hash_code(ctx.secret, NUMBER, code)
    old_row = message(ctx, old["id"])
    assert (old_row["status"], old_row["last_error"]) == ("cancelled", "superseded")
    assert_wiped(old_row)
    assert message(ctx, new["id"])["status"] == "sent"


def test_a_superseded_otp_whose_worker_died_is_not_sent_later(ctx, clock, customer) -> None:
    """A worker claims the first code's SMS and dies; the user asks again and gets a fresh
    code. When the lease expires, the dead code must not follow the fresh one (SPEC §3:
    the old one stops working, no codes that would confuse the user)."""
    old = queue_otp(ctx, customer)
    with ctx.db.write() as conn:
        [claimed] = lanes.claim(conn, now=clock.now(), worker="crashed", lease_seconds=30, limit=10)
    assert claimed.id == old["id"]
    clock.advance(ctx.settings.otp_resend_cooldown_seconds)
    new = queue_otp(ctx, customer)
    provider = ScriptedProvider()
    w = worker(ctx, provider)
    w.run_once()
    clock.advance(ctx.settings.worker_lease_seconds)
    w.run_once()
    assert [sms.message_id for sms in provider.calls] == [new["id"]], "the superseded code was sent"


def test_a_superseded_otp_that_failed_on_the_wire_is_not_retried(ctx, clock, customer) -> None:
    """The user re-adds while the first SMS is with the provider, which then fails it
    transiently: the retry must not deliver the old, dead code after the fresh one."""
    fresh: dict[str, Any] = {}

    def re_add_meanwhile(sms) -> None:
        if not fresh:
            clock.advance(ctx.settings.otp_resend_cooldown_seconds)
            fresh.update(queue_otp(ctx, customer))

    old = queue_otp(ctx, customer)
    provider = ScriptedProvider([TransientError("timeout")], before_answer=re_add_meanwhile)
    w = worker(ctx, provider)
    w.run_once()  # old: sent to the wire, fresh code queued meanwhile, old fails transiently
    for _ in range(5):
        clock.advance(ctx.settings.delivery_backoff_max_seconds / 4)
        w.run_once()
    delivered = [sms.message_id for sms in provider.accepted]
    assert delivered == [fresh["id"]], "the superseded code was delivered after the fresh one"
    assert message(ctx, old["id"])["status"] == "cancelled"


def test_the_winners_verify_stops_the_losers_queued_otp(ctx, make_customer) -> None:
    a, b = make_customer("A"), make_customer("B")
    queued_b = queue_otp(ctx, b)
    provider = ScriptedProvider()
    worker(ctx, provider).run_once()
    code_b = code_in(provider.calls[0].body)
    queued_a = queue_otp(ctx, a)
    cn.verify(ctx, b.account, name="B", number=NUMBER, code=code_b, actor=WHO)
    assert worker(ctx, provider).run_once() == 0
    assert message(ctx, queued_a["id"])["status"] == "cancelled"
    assert message(ctx, queued_b["id"])["status"] == "sent"


# -- claims, leases, concurrent workers -------------------------------------------------


def queue_plain(ctx: Context, n: int) -> list[str]:
    ids = []
    with ctx.db.write() as conn:
        for i in range(n):
            ids.append(outbox.enqueue(conn, now=ctx.clock.now(), kind="sms", to=f"+614915701{i % 100:02d}",
                                      sender="Acme", body=f"message {i}"))
    return ids


@pytest.mark.parametrize("workers", [2, 4])
@pytest.mark.parametrize("settings_overrides", [{"worker_batch_size": 7}])
def test_concurrent_workers_never_take_the_same_message(ctx, workers: int) -> None:
    queued = queue_plain(ctx, 50)
    provider = ScriptedProvider()
    barrier = threading.Barrier(workers)
    handled: Counter[str] = Counter()
    errors: list[BaseException] = []

    def run(name: str) -> None:
        w = worker(ctx, provider, name=name)
        try:
            barrier.wait(timeout=30)
            while n := w.run_once():
                handled[name] += n
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"w{i}",)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    ids = provider.ids
    duplicates = [i for i, c in Counter(ids).items() if c > 1]
    assert duplicates == []
    assert sorted(ids) == sorted(queued)
    assert sum(handled.values()) == 50
    assert {m["status"] for m in all_messages(ctx)} == {"sent"}
    assert all(m["attempts"] == 1 for m in all_messages(ctx))


def test_claim_on_two_connections_at_once_splits_the_rows(ctx, clock) -> None:
    """Two claims in two write transactions on two connections (two threads): the second
    runs while the first, holding its 6 rows, is still open.

    PostgreSQL: the second claim skips the rows the first holds (SKIP LOCKED) and takes
    the other 4 at once, before the first commits (waiting on those rows instead, it would
    fail on the lock timeout). SQLite has one writer at a time: the second claim waits
    for the first to commit, then takes the 4 left. Either way no row is claimed twice."""
    queued = queue_plain(ctx, 10)
    first_open, second_done = threading.Event(), threading.Event()
    events: list[str] = []
    claimed: dict[str, set[str]] = {}
    errors: list[BaseException] = []
    # PostgreSQL: the first stays open until the second is done; SQLite: the second
    # cannot start before the first ends, so the first stays open a moment and commits
    hold = 0.5 if ctx.db.is_sqlite else 3 * ctx.db.timeout  # past the lock timeout of a second that waits

    def first() -> None:
        try:
            with ctx.db.write() as conn:
                claimed["a"] = {m.id for m in lanes.claim(conn, now=clock.now(), worker="a", lease_seconds=30,
                                                           limit=6)}
                first_open.set()
                second_done.wait(hold)
                events.append("a commits")
        except Exception as exc:  # judged below
            errors.append(exc)
        finally:
            first_open.set()

    def second() -> None:
        try:
            assert first_open.wait(30)
            with ctx.db.write() as conn:
                claimed["b"] = {m.id for m in lanes.claim(conn, now=clock.now(), worker="b", lease_seconds=30,
                                                           limit=10)}
                events.append("b claimed")
        except Exception as exc:  # judged below
            errors.append(exc)
        finally:
            second_done.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert events == (["a commits", "b claimed"] if ctx.db.is_sqlite else ["b claimed", "a commits"])
    assert len(claimed["a"]) == 6 and len(claimed["b"]) == 4
    assert claimed["a"].isdisjoint(claimed["b"])
    assert claimed["a"] | claimed["b"] == set(queued)


def test_an_expired_lease_is_claimed_again(ctx, clock, customer) -> None:
    queued = queue_otp(ctx, customer)
    lease = ctx.settings.worker_lease_seconds
    with ctx.db.write() as conn:
        [claimed] = lanes.claim(conn, now=clock.now(), worker="crashed", lease_seconds=lease, limit=10)
    assert (claimed.id, claimed.attempts) == (queued["id"], 1)
    row = message(ctx, queued["id"])
    assert (row["status"], row["claimed_by"]) == ("sending", "crashed")
    assert row["lease_until"] == clock.now() + timedelta(seconds=lease)
    # ... and that worker never comes back
    provider = ScriptedProvider()
    w = worker(ctx, provider, name="rescuer")
    assert w.run_once() == 0
    clock.advance(lease - 1)
    assert w.run_once() == 0
    clock.advance(1)
    assert w.run_once() == 1
    row = message(ctx, queued["id"])
    assert (row["status"], row["attempts"], row["claimed_by"]) == ("sent", 2, "rescuer")
    assert [sms.body for sms in provider.calls] == [queued["body"]]
    assert_wiped(row)


def test_a_claimed_message_is_not_claimed_twice_within_its_lease(ctx, clock) -> None:
    queue_plain(ctx, 3)
    with ctx.db.write() as conn:
        assert len(lanes.claim(conn, now=clock.now(), worker="a", lease_seconds=30, limit=10)) == 3
    with ctx.db.write() as conn:
        assert lanes.claim(conn, now=clock.now(), worker="b", lease_seconds=30, limit=10) == []


def test_batch_size_limits_a_claim(ctx) -> None:
    queue_plain(ctx, 25)
    w = worker(ctx, ScriptedProvider())
    assert w.run_once() == ctx.settings.worker_batch_size == 20
    assert w.run_once() == 5
    assert w.run_once() == 0


def test_messages_are_claimed_oldest_due_first(ctx, clock) -> None:
    first = queue_plain(ctx, 1)
    clock.advance(1)
    second = queue_plain(ctx, 1)
    provider = ScriptedProvider()
    w = Worker(ctx.db, ctx.settings.model_copy(update={"worker_batch_size": 1}), provider, clock, name="w")
    w.run_once()
    w.run_once()
    assert provider.ids == first + second
