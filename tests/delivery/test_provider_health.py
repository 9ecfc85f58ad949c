"""The SMS provider's health as the console sees it, on both databases.

Each worker writes its circuit breaker's state and its last provider error to
``provider_health`` (the breaker lives in the worker's memory; the console runs in
another process); the overview reads it with the oldest waiting SMS and raises a
banner while a provider is failing. The worker is real, the provider scripted,
time a FrozenClock.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from senderid.api.app import create_app
from senderid.delivery.providers.base import TransientError
from senderid.delivery.worker import Worker
from senderid.domain import outbox, overview
from senderid.domain.context import Context
from senderid.store.tables import provider_health
from tests.support.console_support import ADMIN_TOKEN, csrf_of
from tests.support.fake_providers import ScriptedProvider, always


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"admin_token": ADMIN_TOKEN, "worker_poll_seconds": 0.02}


def queue(ctx: Context, n: int) -> list[str]:
    with ctx.db.write() as conn:
        return [
            outbox.enqueue(conn, now=ctx.clock.now(), kind="sms", to=f"+6149157{i:04d}", sender="Acme",
                           body="Your parcel is on its way")
            for i in range(n)
        ]


def rows(ctx: Context) -> list[dict[str, object]]:
    with ctx.db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(provider_health))]


def worker(ctx: Context, provider: ScriptedProvider, name: str = "host:1:1") -> Worker:
    return Worker(ctx.db, ctx.settings, provider, ctx.clock, name=name)


def test_an_open_breaker_and_its_error_are_written_for_the_console(ctx: Context, clock) -> None:
    queue(ctx, 6)
    w = worker(ctx, always(TransientError("HTTP 503 Service Unavailable")))
    opened_at = clock.now()
    w.run_once()
    [row] = rows(ctx)
    assert row["worker"] == "host:1:1" and row["provider"] == "fake"
    assert row["breaker"] == "open" and row["since"] == opened_at
    assert row["reopens_at"] == opened_at + timedelta(seconds=ctx.settings.delivery_breaker_seconds)
    assert (row["last_error"], row["last_error_at"]) == ("HTTP 503 Service Unavailable", opened_at)

    health = overview.provider_health(ctx)
    assert [h.worker for h in health.failing] == ["host:1:1"]
    assert health.failing[0].breaker == "open"
    assert health.last_error is not None and health.last_error.last_error == "HTTP 503 Service Unavailable"
    assert health.waiting == 6 and health.oldest_waiting_at == opened_at

    clock.advance(ctx.settings.delivery_breaker_seconds)  # cool-off over: reads half-open, still failing
    assert [h.breaker for h in overview.provider_health(ctx).failing] == ["half_open"]


def test_a_recovered_provider_closes_the_row_and_keeps_the_last_error(ctx: Context, clock) -> None:
    queue(ctx, 6)
    w = worker(ctx, ScriptedProvider([TransientError("connection refused")] * 5))
    w.run_once()
    failed_at = clock.now()
    clock.advance(ctx.settings.delivery_breaker_seconds)
    w.run_once()  # the trial is accepted
    [row] = rows(ctx)
    assert (row["breaker"], row["since"], row["reopens_at"]) == ("closed", clock.now(), None)
    assert (row["last_error"], row["last_error_at"]) == ("connection refused", failed_at)
    health = overview.provider_health(ctx)
    assert health.failing == [] and health.last_error is not None


def test_successful_batches_write_nothing_more(ctx: Context) -> None:
    queue(ctx, 4)
    w = worker(ctx, ScriptedProvider())
    with ctx.db.count() as counts:
        assert w.run_once() == 4
    assert not any("provider_health" in s for s in counts.statements)
    assert rows(ctx) == []


def test_a_running_worker_has_a_row_until_it_stops(ctx: Context) -> None:
    w = worker(ctx, ScriptedProvider(), name="host:2:1")
    stop = threading.Event()
    thread = threading.Thread(target=w.run, args=(stop,), daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if rows(ctx):
                break
            threading.Event().wait(0.01)
        [row] = rows(ctx)
        assert (row["worker"], row["breaker"], row["last_error"]) == ("host:2:1", "closed", None)
    finally:
        stop.set()
        thread.join(10)
    assert rows(ctx) == []


def test_a_long_silent_worker_is_not_taken_for_a_failing_provider(ctx: Context, clock) -> None:
    queue(ctx, 5)
    worker(ctx, always(TransientError("HTTP 502"))).run_once()
    with ctx.db.write() as conn:  # it died long ago with its breaker open
        conn.execute(update(provider_health).values(updated_at=clock.now() - timedelta(hours=2),
                                                    reopens_at=clock.now() + timedelta(hours=1)))
    [stale] = overview.provider_health(ctx).workers
    assert stale.stale and stale.breaker == "open" and not stale.failing


def test_a_starting_worker_forgets_rows_of_workers_dead_for_a_week(ctx: Context, clock) -> None:
    queue(ctx, 5)
    worker(ctx, always(TransientError("HTTP 502")), name="old:1:1").run_once()
    clock.advance(days=8)
    fresh = worker(ctx, ScriptedProvider(), name="new:1:1")
    with ctx.db.write() as conn:
        fresh.health.start(conn, clock.now())
    assert [r["worker"] for r in rows(ctx)] == ["new:1:1"]


# -- the overview page -------------------------------------------------------------------------


@pytest.fixture
def console(ctx: Context) -> TestClient:
    client = TestClient(create_app(ctx.settings, context=ctx, run_worker=False))
    form = client.get("/console/login")
    client.post("/console/login", data={"csrf": csrf_of(form.text), "token": ADMIN_TOKEN})
    return client


def test_the_overview_shows_the_failing_provider_then_its_recovery(ctx: Context, clock, console: TestClient) -> None:
    page = console.get("/console")
    assert "no worker has reported" in page.text and 'id="provider-failing"' not in page.text

    queue(ctx, 6)
    oldest = clock.now()
    w = worker(ctx, ScriptedProvider([TransientError("HTTP 503 Service Unavailable")] * 6))
    w.run_once()
    clock.advance(minutes=2)
    page = console.get("/console")
    assert 'id="provider-failing"' in page.text
    banner = page.text.split('id="provider-failing"')[1].split("</div>")[0]
    assert "the fake provider keeps failing" in banner  # the provider the failing worker reported
    assert "6 SMS wait" in banner and "2 min ago" in banner
    assert "HTTP 503 Service Unavailable" in banner
    assert oldest.strftime("%Y-%m-%d %H:%M:%S UTC") in banner

    clock.advance(minutes=5)  # past every cool-off: the trial fails, then a good one closes it
    w.run_once()
    clock.advance(minutes=10)
    w.run_once()
    page = console.get("/console")
    assert 'id="provider-failing"' not in page.text
    assert "closed</span> sending" in page.text
    assert "HTTP 503 Service Unavailable" in page.text  # still the last error, with its time
