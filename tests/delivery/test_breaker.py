"""The circuit breaker in front of the SMS provider, alone and inside the real worker.

The worker, the outbox and the databases are real; the provider is scripted
(tests/support/fake_providers.py) and time is a FrozenClock.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from senderid.clock import FrozenClock
from senderid.delivery.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from senderid.delivery.providers.base import PermanentError, TransientError
from senderid.delivery.worker import Worker
from senderid.domain import outbox
from senderid.domain.context import Context
from senderid.store.tables import outbox as outbox_table
from tests.support.fake_providers import ScriptedProvider, always

# -- the breaker alone -----------------------------------------------------------------------


@pytest.mark.unit
def test_opens_after_n_consecutive_failures_and_half_opens_after_the_cool_off() -> None:
    clock = FrozenClock()
    breaker = CircuitBreaker(clock, failures=3, cool_off=30, max_cool_off=300)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state == CLOSED
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == OPEN
    assert breaker.reopens_at == clock.now() + timedelta(seconds=30)
    assert not breaker.allow()
    clock.advance(29.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.state == HALF_OPEN
    assert breaker.allow()  # the trial
    assert not breaker.allow()  # one at a time
    breaker.record_success()
    assert breaker.state == CLOSED
    assert breaker.allow() and breaker.allow()


@pytest.mark.unit
def test_a_success_resets_the_count() -> None:
    breaker = CircuitBreaker(FrozenClock(), failures=3, cool_off=30)
    for _ in range(10):
        breaker.record_failure()
        breaker.record_failure()
        breaker.record_success()
    assert breaker.state == CLOSED


@pytest.mark.unit
def test_the_cool_off_doubles_while_trials_fail_and_is_capped() -> None:
    clock = FrozenClock()
    breaker = CircuitBreaker(clock, failures=1, cool_off=30, max_cool_off=100)
    breaker.record_failure()
    waits = []
    for _ in range(4):
        wait = (breaker.reopens_at - clock.now()).total_seconds()
        waits.append(wait)
        clock.advance(wait)
        assert breaker.allow()
        breaker.record_failure()
        assert breaker.state == OPEN
    assert waits == [30, 60, 100, 100]
    clock.advance(100)
    assert breaker.allow()
    breaker.record_success()
    breaker.record_failure()  # closed again: the cool-off starts from the base once more
    assert (breaker.reopens_at - clock.now()).total_seconds() == 30


@pytest.mark.unit
def test_on_change_sees_each_transition() -> None:
    clock = FrozenClock()
    seen: list[str] = []
    breaker = CircuitBreaker(clock, failures=1, cool_off=5, on_change=seen.append)
    breaker.record_failure()
    clock.advance(5)
    breaker.allow()
    breaker.record_success()
    assert seen == [OPEN, HALF_OPEN, CLOSED]


# -- inside the worker -----------------------------------------------------------------------


def queue(ctx: Context, n: int) -> list[str]:
    with ctx.db.write() as conn:
        return [
            outbox.enqueue(conn, now=ctx.clock.now(), kind="sms", to=f"+614915701{i:02d}", sender="Acme",
                           body=f"message {i}")
            for i in range(n)
        ]


def rows(ctx: Context) -> dict[str, dict[str, Any]]:
    with ctx.db.read() as conn:
        return {r.id: dict(r._mapping) for r in conn.execute(select(outbox_table))}


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def make_worker(ctx: Context, provider: ScriptedProvider) -> Worker:
    return Worker(ctx.db, ctx.settings, provider, ctx.clock, name="w")


def test_an_open_breaker_puts_claimed_messages_back_without_using_attempts(ctx, clock) -> None:
    ids = queue(ctx, 8)
    provider = always(TransientError("HTTP 503"))
    w = make_worker(ctx, provider)
    opened_before = metric("senderid_provider_breaker_opened_total", provider="fake")
    deferred_before = metric("senderid_sms_deferred_total", provider="fake")

    assert w.run_once() == 8
    assert len(provider.calls) == 5  # SENDERID_DELIVERY_BREAKER_FAILURES
    assert w.breaker.state == OPEN
    reopens = clock.now() + timedelta(seconds=ctx.settings.delivery_breaker_seconds)
    found = rows(ctx)
    tried, spared = ids[:5], ids[5:]
    for message_id in tried:
        assert (found[message_id]["status"], found[message_id]["attempts"]) == ("queued", 1)
        assert found[message_id]["last_error"] == "HTTP 503"
    for message_id in spared:
        row = found[message_id]
        assert (row["status"], row["attempts"], row["last_error"]) == ("queued", 0, None)
        assert row["next_attempt_at"] == reopens
        assert row["lease_until"] is None
    assert metric("senderid_provider_breaker_opened_total", provider="fake") == opened_before + 1
    assert metric("senderid_provider_breaker_state", provider="fake") == 1
    assert metric("senderid_sms_deferred_total", provider="fake") == deferred_before + 3

    # open: nothing is claimed, the provider is left alone, however due the messages are
    clock.advance(ctx.settings.delivery_breaker_seconds - 1)
    assert w.run_once() == 0
    assert len(provider.calls) == 5
    assert {r["status"] for r in rows(ctx).values()} == {"queued"}


def test_a_failed_trial_reopens_for_twice_as_long_and_a_good_one_closes(ctx, clock) -> None:
    ids = queue(ctx, 6)
    provider = ScriptedProvider([TransientError("down")] * 6)  # 5 trip it, the 6th is the trial
    w = make_worker(ctx, provider)
    w.run_once()
    assert w.breaker.state == OPEN

    clock.advance(ctx.settings.delivery_breaker_seconds)
    assert w.breaker.state == HALF_OPEN
    assert w.run_once() == 1  # one message claimed: the trial
    assert len(provider.calls) == 6
    assert w.breaker.state == OPEN
    assert (w.breaker.reopens_at - clock.now()).total_seconds() == 2 * ctx.settings.delivery_breaker_seconds
    assert sum(r["status"] == "queued" for r in rows(ctx).values()) == 6

    clock.advance(2 * ctx.settings.delivery_breaker_seconds)
    assert w.run_once() == 1  # the trial goes through
    assert w.breaker.state == CLOSED
    assert metric("senderid_provider_breaker_state", provider="fake") == 0
    while w.run_once():
        pass
    found = rows(ctx)
    assert {found[i]["status"] for i in ids} == {"sent"}
    assert len(provider.accepted) == 6
    assert sorted(sms.message_id for sms in provider.accepted) == sorted(ids)
    # the spared message was never counted against its attempts
    assert min(found[i]["attempts"] for i in ids) == 1


def test_permanent_errors_do_not_trip_the_breaker(ctx, clock) -> None:
    queue(ctx, 10)
    provider = always(PermanentError("invalid number"))
    w = make_worker(ctx, provider)
    assert w.run_once() == 10
    assert len(provider.calls) == 10
    assert w.breaker.state == CLOSED
    assert {r["status"] for r in rows(ctx).values()} == {"failed"}


def test_a_success_between_failures_keeps_it_closed(ctx, clock) -> None:
    queue(ctx, 10)
    down = TransientError("down")
    provider = ScriptedProvider([down, down, down, down, None, down, down, down, down, None])
    w = make_worker(ctx, provider)
    assert w.run_once() == 10
    assert len(provider.calls) == 10
    assert w.breaker.state == CLOSED


@pytest.mark.parametrize("settings_overrides", [
    {"delivery_breaker_failures": 2, "delivery_breaker_seconds": 10, "delivery_backoff_max_seconds": 25},
])
def test_the_breaker_follows_its_settings(ctx, clock) -> None:
    queue(ctx, 3)
    provider = always(TransientError("down"))
    w = make_worker(ctx, provider)
    w.run_once()
    assert len(provider.calls) == 2
    waits = []
    for _ in range(3):
        wait = (w.breaker.reopens_at - clock.now()).total_seconds()
        waits.append(wait)
        clock.advance(wait)
        w.run_once()
    assert waits == [10, 20, 25]  # doubling, capped at SENDERID_DELIVERY_BACKOFF_MAX_SECONDS


def test_an_otp_that_expires_while_the_breaker_is_open_is_cancelled_not_sent(ctx, clock, customer) -> None:
    from senderid.domain import custom_numbers as cn
    from senderid.domain.types import Actor

    queue(ctx, 5)
    provider = always(TransientError("down"))
    w = make_worker(ctx, provider)
    w.run_once()  # five failures: open
    cn.add(ctx, customer.account, name="Mine", number="+61491570156", actor=Actor("key:test"))
    assert w.run_once() == 0
    clock.advance(ctx.settings.otp_ttl_seconds)
    for _ in range(10):
        clock.advance(max(0.0, (w.breaker.reopens_at - clock.now()).total_seconds()))
        w.run_once()
        [otp_row] = [r for r in rows(ctx).values() if r["kind"] == "otp"]
        if otp_row["status"] != "queued":
            break
    assert otp_row["status"] == "cancelled"
    assert all(sms.message_id != otp_row["id"] for sms in provider.calls)
