"""Races on the real databases, the racers lined up on a barrier: threads sharing one
Context on PostgreSQL, separate processes on SQLite (tests/support/racers.py).

SPEC §3: a number is active for at most one account, first verify wins, an OTP
dies after 5 wrong tries, and the sending limits hold, however many requests
arrive at once. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from senderid.domain import custom_numbers as cn
from senderid.domain.context import Context
from senderid.domain.types import Actor
from senderid.errors import NumberAlreadyExists, OtpVerificationFailed, RateLimited
from senderid.store.tables import audit_events, custom_numbers, otp_sends, outbox
from tests.support.helpers import latest_code, registrations
from tests.support.racers import race

NUMBER = "+61491570156"
WHO = Actor("key:race", "127.0.0.1")


def kinds(results: list[Any]) -> Counter[str]:
    return Counter(
        r.outcome.value if isinstance(r, cn.AddResult) else type(r).__name__ for r in results
    )


def count(ctx: Context, table, *where) -> int:
    with ctx.db.read() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def active_rows(ctx: Context, number: str = NUMBER) -> list[dict[str, Any]]:
    return [r for r in registrations(ctx, number) if r["status"] == "active"]


def test_one_account_racing_itself_creates_once(ctx, no_otp_customer) -> None:
    results = race(ctx, 20, lambda i: cn.add(ctx, no_otp_customer.account, name=f"n{i}", number=NUMBER, actor=WHO))
    assert kinds(results) == {"created": 1, "NumberAlreadyExists": 19}, kinds(results)
    assert len(active_rows(ctx)) == 1
    assert len(registrations(ctx, NUMBER)) == 1
    assert count(ctx, audit_events, audit_events.c.action == "custom_number.created") == 1


def test_twenty_accounts_racing_for_one_number(ctx, make_customer) -> None:
    accounts = [make_customer(f"Direct {i}", otp_required=False) for i in range(20)]
    results = race(ctx, 20, lambda i: cn.add(ctx, accounts[i].account, name="n", number=NUMBER, actor=WHO))
    assert kinds(results) == {"created": 1, "NumberAlreadyExists": 19}, kinds(results)
    [winner] = active_rows(ctx)
    assert winner["account_id"] == next(
        accounts[i].account.id for i, r in enumerate(results) if isinstance(r, cn.AddResult)
    )
    assert len(registrations(ctx, NUMBER)) == 1


def test_parallel_wrong_guesses_kill_the_code_at_five(ctx, customer) -> None:
    cn.add(ctx, customer.account, name="n", number=NUMBER, actor=WHO)
    code = latest_code(ctx, NUMBER)
    guesses = [f"{(int(code) + 1 + i) % 1_000_000:06d}" for i in range(40)]
    results = race(
        ctx, 40, lambda i: cn.verify(ctx, customer.account, name="n", number=NUMBER, code=guesses[i], actor=WHO)
    )
    assert all(isinstance(r, OtpVerificationFailed) for r in results), kinds(results)
    [row] = registrations(ctx, NUMBER)
    assert (row["status"], row["otp_attempts"]) == ("pending", 5)
    assert count(ctx, audit_events, audit_events.c.action == "custom_number.otp_failed") == 5
    with pytest.raises(OtpVerificationFailed):
        cn.verify(ctx, customer.account, name="n", number=NUMBER, code=code, actor=WHO)
    [row] = registrations(ctx, NUMBER)
    assert (row["status"], row["otp_attempts"]) == ("pending", 5)


def test_parallel_guesses_with_the_right_code_among_them(ctx, customer) -> None:
    """Whatever the order, at most 5 comparisons happen; the right code wins only among them."""
    cn.add(ctx, customer.account, name="n", number=NUMBER, actor=WHO)
    code = latest_code(ctx, NUMBER)
    guesses = [f"{(int(code) + 1 + i) % 1_000_000:06d}" for i in range(39)] + [code]
    results = race(
        ctx, 40, lambda i: cn.verify(ctx, customer.account, name="n", number=NUMBER, code=guesses[i], actor=WHO)
    )
    wins = [r for r in results if isinstance(r, str)]
    assert len(wins) <= 1
    [row] = registrations(ctx, NUMBER)
    assert row["status"] == ("active" if wins else "pending")
    assert row["otp_attempts"] <= 5
    assert count(ctx, audit_events, audit_events.c.action == "custom_number.otp_failed") <= 5


def test_two_accounts_racing_to_verify(ctx, clock, make_customer) -> None:
    a, b = make_customer("A"), make_customer("B")
    winners: Counter[str] = Counter()
    for round_ in range(10):
        number = f"+614915701{round_:02d}"
        cn.add(ctx, a.account, name="A", number=number, actor=WHO)
        code_a = latest_code(ctx, number)
        cn.add(ctx, b.account, name="B", number=number, actor=WHO)
        code_b = latest_code(ctx, number)
        pairs = [(a, code_a), (b, code_b)]
        results = race(ctx, 2, lambda i: cn.verify(ctx, pairs[i][0].account, name="x", number=number,
                                              code=pairs[i][1], actor=WHO))
        ok = [i for i, r in enumerate(results) if isinstance(r, str)]
        assert len(ok) == 1, results
        loser = 1 - ok[0]
        assert isinstance(results[loser], OtpVerificationFailed), results
        by_account = {r["account_id"]: r["status"] for r in registrations(ctx, number)}
        assert by_account == {
            pairs[ok[0]][0].account.id: "active",
            pairs[loser][0].account.id: "cancelled",
        }
        winners["ab"[ok[0]]] += 1
    assert sum(winners.values()) == 10


def test_verify_racing_a_direct_add(ctx, make_customer) -> None:
    """An OTP account verifying while a no-OTP account adds the same number: one active."""
    a = make_customer("A")
    direct = make_customer("Direct", otp_required=False)
    for round_ in range(10):
        number = f"+614915702{round_:02d}"
        cn.add(ctx, a.account, name="A", number=number, actor=WHO)
        code = latest_code(ctx, number)
        calls = [
            lambda: cn.verify(ctx, a.account, name="A", number=number, code=code, actor=WHO),
            lambda: cn.add(ctx, direct.account, name="D", number=number, actor=WHO),
        ]
        results = race(ctx, 2, lambda i: calls[i]())
        [active] = active_rows(ctx, number)
        if isinstance(results[0], str):  # the verify won
            assert isinstance(results[1], NumberAlreadyExists), results
            assert active["account_id"] == a.account.id
        else:
            assert isinstance(results[0], OtpVerificationFailed), results
            assert isinstance(results[1], cn.AddResult), results
            assert active["account_id"] == direct.account.id
            assert {r["status"] for r in registrations(ctx, number)} == {"active", "cancelled"}


def test_verify_racing_a_resend_of_the_same_account(ctx, clock, customer) -> None:
    """Verify with the current code while a resend replaces it: exactly one of them happens."""
    for round_ in range(10):
        number = f"+614915705{round_:02d}"
        cn.add(ctx, customer.account, name="n", number=number, actor=WHO)
        code = latest_code(ctx, number)
        clock.advance(ctx.settings.otp_resend_cooldown_seconds)
        calls = [
            lambda: cn.verify(ctx, customer.account, name="n", number=number, code=code, actor=WHO),
            lambda: cn.add(ctx, customer.account, name="n", number=number, actor=WHO),
        ]
        verified, resent = race(ctx, 2, lambda i: calls[i]())
        [row] = registrations(ctx, number)
        if isinstance(verified, str):
            assert isinstance(resent, NumberAlreadyExists), resent
            assert row["status"] == "active"
        else:
            assert isinstance(verified, OtpVerificationFailed), verified
            assert isinstance(resent, cn.AddResult), resent
            assert row["status"] == "pending"
            assert count(ctx, outbox, outbox.c.to_number == number, outbox.c.status == "queued") == 1


# -- sending limits under load ---------------------------------------------------------


def test_parallel_adds_respect_the_cooldown(ctx, customer) -> None:
    results = race(ctx, 20, lambda i: cn.add(ctx, customer.account, name="n", number=NUMBER, actor=WHO))
    assert kinds(results) == {"otp_sent": 1, "RateLimited": 19}, kinds(results)
    assert count(ctx, outbox) == 1
    assert count(ctx, otp_sends) == 1
    assert len(registrations(ctx, NUMBER)) == 1


@pytest.mark.parametrize("settings_overrides", [{"otp_resend_cooldown_seconds": 0}])
def test_parallel_adds_respect_the_hourly_limit(ctx, customer) -> None:
    results = race(ctx, 20, lambda i: cn.add(ctx, customer.account, name="n", number=NUMBER, actor=WHO))
    assert kinds(results) == {"otp_sent": 5, "RateLimited": 15}, kinds(results)
    assert count(ctx, outbox) == 5
    # every send but the newest was superseded: one code is live, one SMS still queued
    assert count(ctx, outbox, outbox.c.status == "queued") == 1
    assert len(registrations(ctx, NUMBER)) == 1


def test_parallel_accounts_respect_the_per_number_limit(ctx, make_customer) -> None:
    accounts = [make_customer(f"A{i}") for i in range(35)]
    results = race(ctx, 35, lambda i: cn.add(ctx, accounts[i].account, name="n", number=NUMBER, actor=WHO))
    assert kinds(results) == {"otp_sent": 30, "RateLimited": 5}, kinds(results)
    assert count(ctx, outbox, outbox.c.to_number == NUMBER) == 30
    assert count(ctx, custom_numbers, custom_numbers.c.status == "pending") == 30


@pytest.mark.parametrize("settings_overrides", [{"otp_max_per_account_per_hour": 3}])
def test_parallel_numbers_respect_the_per_account_limit(ctx, customer) -> None:
    numbers = [f"+614915703{i:02d}" for i in range(12)]
    results = race(ctx, 12, lambda i: cn.add(ctx, customer.account, name="n", number=numbers[i], actor=WHO))
    assert kinds(results) == {"otp_sent": 3, "RateLimited": 9}, kinds(results)
    assert count(ctx, outbox) == 3
    assert count(ctx, otp_sends) == 3


def test_rate_limited_is_the_only_refusal(ctx, customer) -> None:
    """No database error (deadlock, unique violation, lock timeout) leaks out of a race."""
    numbers = [f"+614915704{i % 4:02d}" for i in range(24)]
    results = race(ctx, 24, lambda i: cn.add(ctx, customer.account, name="n", number=numbers[i], actor=WHO))
    assert set(kinds(results)) <= {"otp_sent", "RateLimited"}, kinds(results)
    assert kinds(results)["otp_sent"] == 4
    assert all(isinstance(r, (cn.AddResult, RateLimited)) for r in results)


def test_racers_are_processes_on_sqlite_and_threads_on_postgresql(ctx) -> None:
    """On SQLite a racer in this process would queue on the Database's writer lock."""
    import os
    import threading

    results = race(ctx, 3, lambda i: (os.getpid(), threading.get_ident(), i))
    assert [i for _pid, _thread, i in results] == [0, 1, 2]
    pids = {pid for pid, _thread, _i in results}
    if ctx.db.is_sqlite:
        assert len(pids) == 3 and os.getpid() not in pids
    else:
        assert pids == {os.getpid()} and len({t for _pid, t, _i in results}) == 3
    refused = race(ctx, 1, lambda i: (_ for _ in ()).throw(RateLimited("Slow down", 7)))
    assert isinstance(refused[0], RateLimited) and refused[0].retry_after == 7
