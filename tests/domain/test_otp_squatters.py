"""Squatters and guessers (SPEC §3, docs/api.md "Sending limits" and "Guess budget"), on a
FrozenClock, on both databases.

* No set of up to five other accounts, each within its own limits, can keep an account
  from getting a code for a number; the phone still gets at most 30 codes an hour.
* Wrong codes are budgeted per day per account and number (10) and per account (200),
  across resends; past a budget verify fails even with the right code and no new code
  is sent (429), until the window moves. Another account's wrong tries never count.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from senderid.domain import custom_numbers as cn
from senderid.domain.context import Context
from senderid.domain.types import Actor
from senderid.errors import OtpVerificationFailed, RateLimited
from senderid.store.tables import dev_inbox, outbox
from tests.support.helpers import deliver_all, latest_code, registrations

NUMBER = "+61491570156"
WHO = Actor("key:test", "127.0.0.1")
COOLDOWN = 60
HOUR = 3600
DAY = 86_400
VERIFY = "/api/v1/customNumber/verifyCustomNumber"
ADD = "/api/v1/customNumber/add"
_CODE = re.compile(r"\b(\d{6})\b")


def add(ctx: Context, customer, number: str = NUMBER) -> cn.AddResult:
    return cn.add(ctx, customer.account, name="Mine", number=number, actor=WHO)


def verify(ctx: Context, customer, code: str, number: str = NUMBER) -> str:
    return cn.verify(ctx, customer.account, name="Mine", number=number, code=code, actor=WHO)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def sent_to(ctx: Context, number: str = NUMBER) -> int:
    with ctx.db.read() as conn:
        return conn.execute(select(func.count()).select_from(outbox).where(outbox.c.to_number == number)).scalar_one()


def use_whole_allowance(ctx: Context, clock, customers) -> None:
    """Each customer sends its 5 codes of the hour to NUMBER, a cooldown apart."""
    for _ in range(5):
        for customer in customers:
            add(ctx, customer)
        clock.advance(COOLDOWN + 1)


# -- 1. squatters ------------------------------------------------------------------------


def test_five_squatters_using_their_whole_allowance_cannot_lock_the_owner_out(ctx, clock, make_customer) -> None:
    squatters = [make_customer(f"Squatter {i}") for i in range(5)]
    owner = make_customer("Owner")
    use_whole_allowance(ctx, clock, squatters)
    assert sent_to(ctx) == 25
    for squatter in squatters:  # each is at the end of its own allowance
        with pytest.raises(RateLimited):
            add(ctx, squatter)
    # the owner gets every code of its own allowance, at once (no waiting on the squatters)
    for i in range(5):
        add(ctx, owner)
        if i < 4:
            clock.advance(COOLDOWN + 1)
    code = latest_code(ctx, NUMBER)
    assert verify(ctx, owner, code)
    statuses = {r["account_id"]: r["status"] for r in registrations(ctx, NUMBER)}
    assert statuses[owner.account.id] == "active"
    assert all(statuses[s.account.id] == "cancelled" for s in squatters)


def codes_received(ctx: Context, registration_id: str) -> list[str]:
    """Deliver what is queued; the codes the phone got for one registration, oldest first."""
    deliver_all(ctx)
    with ctx.db.read() as conn:
        bodies = conn.execute(
            select(dev_inbox.c.body).join(outbox, outbox.c.id == dev_inbox.c.message_id)
            .where(outbox.c.custom_number_id == registration_id).order_by(dev_inbox.c.id)
        ).scalars().all()
    matches = [_CODE.search(body) for body in bodies]
    assert all(matches), "an OTP SMS without a code"
    return [match.group(1) for match in matches if match]


def test_squatters_repeating_every_hour_never_lock_the_owner_out(ctx, clock, make_customer) -> None:
    squatters = [make_customer(f"Squatter {i}") for i in range(5)]
    owner = make_customer("Owner")
    hours = 3
    for hour in range(hours):
        use_whole_allowance(ctx, clock, squatters)
        sent = add(ctx, owner)  # within the squatters' hour, at once
        assert sent.outcome == cn.AddOutcome.OTP_SENT
        codes = codes_received(ctx, sent.id)
        assert len(codes) == hour + 1  # this hour's code reached the phone
        if hour < hours - 1:
            clock.advance(HOUR)
    assert verify(ctx, owner, codes[-1])  # the owner verifies with the code it received
    statuses = {r["account_id"]: r["status"] for r in registrations(ctx, NUMBER)}
    assert statuses[owner.account.id] == "active"
    assert all(statuses[s.account.id] == "cancelled" for s in squatters)


def test_a_phone_gets_at_most_thirty_codes_an_hour_however_many_accounts_ask(ctx, clock, make_customer) -> None:
    customers = [make_customer(f"Account {i}") for i in range(8)]
    accepted = 0
    for _ in range(5):
        for customer in customers:
            try:
                add(ctx, customer)
                accepted += 1
            except RateLimited as refused:
                assert "this number" in refused.message
        clock.advance(COOLDOWN + 1)
    assert accepted == sent_to(ctx) == 30


def test_the_bound_is_a_sliding_hour(ctx, clock, make_customer) -> None:
    customers = [make_customer(f"Account {i}") for i in range(7)]
    use_whole_allowance(ctx, clock, customers[:6])  # 30 codes in 5 × 61 s
    with pytest.raises(RateLimited) as refused:
        add(ctx, customers[6])
    clock.advance(refused.value.retry_after)
    add(ctx, customers[6])  # the oldest code is an hour old: one more may go
    with ctx.db.read() as conn:
        newest_hour = conn.execute(select(func.count()).select_from(outbox).where(
            outbox.c.to_number == NUMBER, outbox.c.created_at > clock.now() - timedelta(hours=1))).scalar_one()
    assert newest_hour <= 30


# -- 2. the guess budget -------------------------------------------------------------------


def spend_wrong_tries(ctx: Context, clock, customer, tries: int, number: str = NUMBER) -> None:
    """``tries`` wrong codes for ``number``, drawing a new code (a resend) every 5 tries."""
    done = 0
    while done < tries:
        clock.advance(COOLDOWN + 1)
        add(ctx, customer, number)
        code = latest_code(ctx, number)
        for _ in range(min(5, tries - done)):
            with pytest.raises(OtpVerificationFailed):
                verify(ctx, customer, wrong(code), number)
            done += 1


@pytest.mark.parametrize("settings_overrides", [{"otp_max_per_account_number_per_hour": 100,
                                                "otp_max_per_number_per_hour": 1000}])
def test_resends_do_not_reset_the_guess_budget(ctx, clock, customer) -> None:
    assert ctx.settings.otp_max_wrong_per_account_number_per_day == 10
    spend_wrong_tries(ctx, clock, customer, 10)
    # no new code is sent: a 429 with the time until the oldest wrong try is a day old
    clock.advance(COOLDOWN + 1)
    before = sent_to(ctx)
    with pytest.raises(RateLimited) as refused:
        add(ctx, customer)
    assert "wrong codes" in refused.value.message
    assert 0 < refused.value.retry_after <= DAY
    assert sent_to(ctx) == before


@pytest.mark.parametrize("settings_overrides", [{"otp_max_per_account_number_per_hour": 100,
                                                "otp_max_per_number_per_hour": 1000}])
def test_past_the_budget_even_the_right_code_fails_until_the_window_moves(ctx, clock, customer) -> None:
    spend_wrong_tries(ctx, clock, customer, 9)
    clock.advance(COOLDOWN + 1)
    add(ctx, customer)  # the 9 wrong tries leave room for a code
    code = latest_code(ctx, NUMBER)
    with pytest.raises(OtpVerificationFailed):
        verify(ctx, customer, wrong(code))  # the 10th wrong try: the budget is used up
    with pytest.raises(OtpVerificationFailed):
        verify(ctx, customer, code)  # the right code, refused
    # a day after the first wrong try the window has room again
    clock.advance(DAY)
    add(ctx, customer)
    assert verify(ctx, customer, latest_code(ctx, NUMBER))


def test_the_refusal_is_the_documented_answer(app_client: TestClient, ctx, clock, customer) -> None:
    headers = customer.headers
    for _ in range(2):
        clock.advance(COOLDOWN + 1)
        assert app_client.post(ADD, json={"name": "Mine", "number": NUMBER}, headers=headers).status_code == 200
        code = latest_code(ctx, NUMBER)
        for _ in range(5):
            r = app_client.post(VERIFY, json={"name": "Mine", "number": NUMBER, "otp": wrong(code)}, headers=headers)
            assert r.status_code == 400
    # 10 wrong tries: the right code of a live registration gets the one documented failure
    clock.advance(COOLDOWN + 1)
    r = app_client.post(ADD, json={"name": "Mine", "number": NUMBER}, headers=headers)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert r.json()["status"] is False and "wrong codes" in r.json()["message"]
    r = app_client.post(VERIFY, json={"name": "Mine", "number": NUMBER, "otp": code}, headers=headers)
    assert (r.status_code, r.json()["message"]) == (400, "OTP verification failed")


@pytest.mark.parametrize("settings_overrides", [{"otp_max_wrong_per_account_per_day": 12,
                                                "otp_max_per_account_number_per_hour": 100}])
def test_the_per_account_budget_spans_numbers(ctx, clock, customer) -> None:
    numbers = [f"+6149157015{i}" for i in range(3)]
    spend_wrong_tries(ctx, clock, customer, 6, numbers[0])
    spend_wrong_tries(ctx, clock, customer, 6, numbers[1])
    clock.advance(COOLDOWN + 1)
    with pytest.raises(RateLimited) as refused:
        add(ctx, customer, numbers[2])  # a number never tried: the account's budget is spent
    assert "from your account" in refused.value.message


def test_a_squatters_wrong_guesses_never_use_the_owners_budget(ctx, clock, make_customer) -> None:
    squatter, owner = make_customer("Squatter"), make_customer("Owner")
    spend_wrong_tries(ctx, clock, squatter, 10)
    with pytest.raises(RateLimited):
        add(ctx, squatter)
    clock.advance(COOLDOWN + 1)
    add(ctx, owner)
    assert verify(ctx, owner, latest_code(ctx, NUMBER))


def test_guess_budget_settings_default_to_the_documented_values(ctx) -> None:
    s = ctx.settings
    assert (s.otp_max_wrong_per_account_number_per_day, s.otp_max_wrong_per_account_per_day) == (10, 200)
    assert (s.otp_max_per_number_per_hour, s.otp_max_per_account_number_per_hour) == (30, 5)


def test_the_server_warns_when_the_number_cap_is_below_six_shares(ctx, caplog: pytest.LogCaptureFixture) -> None:
    from senderid.runtime import warn_about_settings

    with caplog.at_level(logging.WARNING, logger="senderid"):
        warn_about_settings(ctx.settings)
    assert "SENDERID_OTP_MAX_PER_NUMBER_PER_HOUR" not in caplog.text
    with caplog.at_level(logging.WARNING, logger="senderid"):
        warn_about_settings(ctx.settings.model_copy(update={"otp_max_per_number_per_hour": 20}))
    assert "SENDERID_OTP_MAX_PER_NUMBER_PER_HOUR (20)" in caplog.text and "4 other accounts" in caplog.text
