"""Operators' outbox tools: the domain functions and ``senderid outbox list|stats|retry|purge``.

Real outbox, real worker (scripted provider), both databases; the CLI runs in-process
on the test's FrozenClock.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from senderid import otp
from senderid.delivery import lanes
from senderid.delivery.providers.base import PermanentError, TransientError
from senderid.delivery.worker import Worker
from senderid.domain import audit, outbox
from senderid.domain import custom_numbers as cn
from senderid.domain.context import Context
from senderid.domain.types import CLI, Actor
from senderid.errors import Conflict, NotFound, OtpVerificationFailed
from senderid.store.tables import custom_numbers
from senderid.store.tables import outbox as outbox_table
from tests.support.fake_providers import ScriptedProvider, always
from tests.support.helpers import outbox_row

NUMBER = "+61491570156"
WHO = Actor("key:test", "127.0.0.1")
_CODE = re.compile(r"\b(\d{6})\b")


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"delivery_max_attempts": 2}


def plain(ctx: Context, n: int = 1, body: str = "Your order shipped") -> list[str]:
    with ctx.db.write() as conn:
        return [
            outbox.enqueue(conn, now=ctx.clock.now(), kind="sms", to=f"+614915701{i:02d}", sender="Acme",
                           body=body, account_id=None)
            for i in range(n)
        ]


def run_worker(ctx: Context, provider: ScriptedProvider) -> None:
    worker = Worker(ctx.db, ctx.settings, provider, ctx.clock, name="w")
    while worker.run_once():
        pass


def kill(ctx: Context, provider_error: Exception | None = None) -> None:
    """Run the worker until everything queued is dead (2 attempts) or failed (a 503 unless
    ``provider_error`` says otherwise)."""
    provider = always(provider_error or TransientError("HTTP 503"))
    settings = ctx.settings.model_copy(update={"delivery_breaker_failures": 1000})  # no cool-offs here
    worker = Worker(ctx.db, settings, provider, ctx.clock, name="w")
    for _ in range(ctx.settings.delivery_max_attempts):
        worker.run_once()
        ctx.clock.advance(ctx.settings.delivery_backoff_max_seconds)


def row(ctx: Context, message_id: str) -> dict[str, Any]:
    with ctx.db.read() as conn:
        found = outbox_row(conn, message_id)
    assert found is not None
    return found


def otp_message(ctx: Context, customer, number: str = NUMBER) -> str:
    result = cn.add(ctx, customer.account, name="Mine", number=number, actor=WHO)
    with ctx.db.read() as conn:
        return conn.execute(
            select(outbox_table.c.id).where(outbox_table.c.custom_number_id == result.id)
            .order_by(outbox_table.c.created_at.desc()).limit(1)
        ).scalar_one()


# -- list and stats ---------------------------------------------------------------------------


def test_list_filters_orders_and_never_shows_a_body(ctx, clock) -> None:
    first = plain(ctx, 3)
    kill(ctx)
    later = plain(ctx, 2)
    messages = outbox.list_messages(ctx)
    assert {m.id for m in messages[:2]} == set(later)  # most recently changed first
    assert {m.status for m in messages} == {"dead", "queued"}
    dead = outbox.list_messages(ctx, statuses=["dead"])
    assert {m.id for m in dead} == set(first)
    assert all(m.attempts == 2 and m.last_error and "503" in m.last_error for m in dead)
    assert len(outbox.list_messages(ctx, limit=2)) == 2
    assert not hasattr(messages[0], "body")
    assert messages[0].masked_to.endswith(messages[0].to[-2:]) and "***" in messages[0].masked_to
    assert outbox.counts(ctx) == {"queued": 2, "sending": 0, "sent": 0, "delivered": 0,
                                        "failed": 0, "dead": 3, "cancelled": 0}


# -- retry ------------------------------------------------------------------------------------


def test_retry_queues_a_dead_message_now_with_attempts_reset(ctx, clock) -> None:
    [message_id] = plain(ctx)
    kill(ctx)
    assert (row(ctx, message_id)["status"], row(ctx, message_id)["attempts"]) == ("dead", 2)

    retried = outbox.retry(ctx, message_id, actor=CLI)
    assert (retried.status, retried.attempts, retried.next_attempt_at) == ("queued", 0, clock.now())

    provider = ScriptedProvider()
    run_worker(ctx, provider)
    assert [sms.body for sms in provider.calls] == ["Your order shipped"]
    assert (row(ctx, message_id)["status"], row(ctx, message_id)["attempts"]) == ("sent", 1)
    with ctx.db.read() as conn:
        [event] = audit.events(conn, action="outbox.retried")
    assert event["subject"] == message_id
    assert event["details"] == {"kind": "sms", "previous_status": "dead", "previous_attempts": 2,
                                "fresh_code": False}


def test_retry_takes_a_failed_message_too(ctx) -> None:
    [message_id] = plain(ctx)
    kill(ctx, PermanentError("HTTP 400: sender not allowed"))
    assert row(ctx, message_id)["status"] == "failed"
    assert outbox.retry(ctx, message_id, actor=CLI).status == "queued"


def test_retry_refuses_a_message_to_a_number_that_opted_out(ctx, customer) -> None:
    from senderid.domain import optouts

    with ctx.db.write() as conn:
        message_id = outbox.enqueue(conn, now=ctx.clock.now(), kind="sms", to=NUMBER, sender="",
                                           body="Sale!", account_id=customer.account.id)
    kill(ctx)
    optouts.add(ctx, customer.account.id, NUMBER, source="api", actor=CLI)
    with pytest.raises(Conflict, match="opt-out list"):
        outbox.retry(ctx, message_id, actor=CLI)
    assert row(ctx, message_id)["status"] == "dead"


@pytest.mark.parametrize("status", ["queued", "sent", "cancelled"])
def test_retry_refuses_messages_that_are_not_dead_or_failed(ctx, status: str) -> None:
    [message_id] = plain(ctx)
    if status == "sent":
        run_worker(ctx, ScriptedProvider())
    elif status == "cancelled":
        with ctx.db.write() as conn:
            lanes.claim(conn, now=ctx.clock.now(), worker="w", lease_seconds=30, limit=1)
            outbox.mark_ended(conn, message_id, now=ctx.clock.now(), status="cancelled", error="superseded")
    with pytest.raises(Conflict, match=f"is {status}"):
        outbox.retry(ctx, message_id, actor=CLI)
    with pytest.raises(NotFound):
        outbox.retry(ctx, "0" * 24, actor=CLI)


def test_retrying_a_dead_otp_sends_a_fresh_code_that_verifies(ctx, clock, customer) -> None:
    message_id = otp_message(ctx, customer)
    failing = always(TransientError("HTTP 503"))
    worker = Worker(ctx.db, ctx.settings, failing, clock, name="w")
    worker.run_once()
    clock.advance(ctx.settings.delivery_backoff_max_seconds / 10)
    worker.run_once()
    dead = row(ctx, message_id)
    assert dead["status"] == "dead" and "******" in dead["body"]  # the code is gone
    old_code = _CODE.search(failing.calls[0].body).group(1)
    clock.advance(170)  # 200 s after the code was drawn: 400 s of its 600 left

    outbox.retry(ctx, message_id, actor=CLI)
    provider = ScriptedProvider()
    run_worker(ctx, provider)
    [sms] = provider.calls
    new_code = _CODE.search(sms.body).group(1)
    assert "expires in 7 minutes" in sms.body  # what is left of the first code's 10 minutes
    with ctx.db.read() as conn:
        registration = conn.execute(select(custom_numbers).where(custom_numbers.c.number == NUMBER)).one()
    assert registration.otp_hash == otp.hash_code(ctx.secret, NUMBER, new_code)
    if new_code != old_code:
        with pytest.raises(OtpVerificationFailed):
            cn.verify(ctx, customer.account, name="Mine", number=NUMBER, code=old_code, actor=WHO)
    cn.verify(ctx, customer.account, name="Mine", number=NUMBER, code=new_code, actor=WHO)
    with ctx.db.read() as conn:
        [event] = audit.events(conn, action="outbox.retried")
    assert event["details"]["fresh_code"] is True
    assert new_code not in str(event) and old_code not in str(event)


def test_an_otp_whose_code_expired_is_not_retried(ctx, clock, customer) -> None:
    message_id = otp_message(ctx, customer)
    kill(ctx)
    assert row(ctx, message_id)["status"] == "dead"
    clock.advance(ctx.settings.otp_ttl_seconds)
    with pytest.raises(Conflict, match="expired"):
        outbox.retry(ctx, message_id, actor=CLI)
    assert row(ctx, message_id)["status"] == "dead"


def test_an_otp_replaced_by_a_newer_code_is_not_retried(ctx, clock, customer) -> None:
    first = otp_message(ctx, customer)
    worker = Worker(ctx.db, ctx.settings, always(PermanentError("HTTP 400")), clock, name="w")
    worker.run_once()
    assert row(ctx, first)["status"] == "failed"
    clock.advance(ctx.settings.otp_resend_cooldown_seconds)
    second = otp_message(ctx, customer)
    assert second != first
    with pytest.raises(Conflict, match="no longer"):
        outbox.retry(ctx, first, actor=CLI)


# -- purge ------------------------------------------------------------------------------------


def test_purge_deletes_only_dead_messages_older_than_the_cutoff(ctx, clock) -> None:
    old = plain(ctx, 3)
    kill(ctx)
    clock.advance(days=10)
    recent = plain(ctx, 2)
    kill(ctx)
    [sent] = plain(ctx, 1)
    run_worker(ctx, ScriptedProvider())
    clock.advance(days=25)  # old ones ended 35+ days ago, recent ones 25 days ago

    assert outbox.purge_dead(ctx, older_than_days=30, actor=CLI) == 3
    with ctx.db.read() as conn:
        remaining = {r.id for r in conn.execute(select(outbox_table.c.id))}
    assert remaining == set(recent) | {sent}
    assert set(old).isdisjoint(remaining)
    assert outbox.purge_dead(ctx, older_than_days=30, actor=CLI) == 0
    assert outbox.purge_dead(ctx, older_than_days=0, actor=CLI) == 2
    with ctx.db.read() as conn:
        events = audit.events(conn, action="outbox.purged")
    assert [e["details"] for e in events] == [
        {"status": "dead", "older_than_days": 0, "deleted": 2},
        {"status": "dead", "older_than_days": 30, "deleted": 0},
        {"status": "dead", "older_than_days": 30, "deleted": 3},
    ]


# -- the command line -------------------------------------------------------------------------


@pytest.fixture
def run(run: Callable[..., Any], ctx: Context, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """The CLI (conftest's ``run``) on the test's FrozenClock."""
    monkeypatch.setattr("senderid.runtime.Clock", lambda: ctx.clock)
    return run


def test_cli_list_masks_numbers_and_never_prints_a_body(ctx, customer, run) -> None:
    otp_id = otp_message(ctx, customer)
    [sms_id] = plain(ctx, body="Secret offer 424242")
    kill(ctx)
    with ctx.db.read() as conn:
        bodies = [r.body for r in conn.execute(select(outbox_table.c.body))]

    listing = run("outbox", "list")
    assert listing.exit_code == 0, listing.output
    header, *lines = listing.stdout.splitlines()
    assert header.split()[:6] == ["ID", "KIND", "ACCOUNT", "TO", "STATUS", "ATTEMPTS"]
    assert "PROVIDER MESSAGE ID" in header and "LAST ERROR" in header and "UPDATED" in header
    assert len(lines) == 2 and {otp_id, sms_id} == {line.split()[0] for line in lines}
    assert "+614915***56" in listing.stdout and NUMBER not in listing.stdout
    assert "424242" not in listing.stdout and "Secret offer" not in listing.stdout
    assert all(body not in listing.stdout for body in bodies)
    assert "HTTP 503" in listing.stdout
    assert customer.account.name in listing.stdout and " UTC" in listing.stdout  # names, times with zone

    only_sms = run("outbox", "list", "--status", "dead", "--limit", "1")
    assert only_sms.exit_code == 0 and len(only_sms.stdout.splitlines()) == 2
    assert run("outbox", "list", "--status", "exploded").exit_code == 2
    stats = run("outbox", "stats")
    assert stats.exit_code == 0 and re.search(r"^dead\s+2$", stats.stdout, re.MULTILINE)

    as_json = json.loads(run("outbox", "list", "--json").stdout)
    assert {m["id"] for m in as_json} == {otp_id, sms_id}
    assert "+614915***56" in {m["to"] for m in as_json} and NUMBER not in json.dumps(as_json)
    assert all("***" in m["to"] for m in as_json)
    assert all("body" not in m and m["updated_at"].endswith("Z") for m in as_json)
    assert {m["account"] for m in as_json} <= {customer.account.name, None}
    assert json.loads(run("outbox", "stats", "--json").stdout)["dead"] == 2
    nothing = run("outbox", "list", "--status", "delivered")
    assert nothing.exit_code == 0 and nothing.stdout == "" and "no delivered messages" in nothing.stderr
    assert run("outbox", "list", "--status", "delivered", "--json").stdout == "[]\n"


def test_cli_retry_and_its_refusals(ctx, run) -> None:
    [dead_id, _] = plain(ctx, 2)
    kill(ctx)
    done = run("outbox", "retry", dead_id)
    assert done.exit_code == 0, done.output
    assert f"queued {dead_id}" in done.stderr and done.stdout == ""
    assert row(ctx, dead_id)["status"] == "queued"

    again = run("outbox", "retry", dead_id)
    assert again.exit_code == 1 and "is queued" in again.stderr
    unknown = run("outbox", "retry", "f" * 24)
    assert unknown.exit_code == 1 and "No outbox message" in unknown.stderr
    assert run("outbox", "retry").exit_code == 2


def test_cli_purge_prints_how_many(ctx, clock, run) -> None:
    plain(ctx, 3)
    kill(ctx)
    clock.advance(days=8)
    purged = run("outbox", "purge", "--dead", "--older-than", "7")
    assert purged.exit_code == 0, purged.output
    assert purged.stdout == "3\n"
    assert "purged 3 dead" in purged.stderr
    assert run("outbox", "purge", "--dead", "--older-than", "7").stdout == "0\n"
    assert run("outbox", "purge", "--older-than", "7").exit_code == 2  # say what goes
    assert run("outbox", "purge", "--dead").exit_code == 2
    assert run("outbox", "purge", "--dead", "--older-than", "-1").exit_code == 2
