"""SPEC §3: the OTP and its rules, on a FrozenClock (no sleeping for time rules).

Lifetime, wrong tries, resend cooldown, hourly sending limits, retry-safe
verify, first-verify-wins, OTP never at rest in plain text, fixed test codes,
accounts without OTP, and the audit trail of every state change.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from senderid import otp
from senderid.domain import custom_numbers as cn
from senderid.domain.context import Context
from senderid.domain.types import Actor
from senderid.errors import NumberAlreadyExists, OtpVerificationFailed, RateLimited
from senderid.store.tables import audit_events, otp_sends, outbox
from tests.support.helpers import latest_code, registrations

NUMBER = "+61491570156"
OTHER = "+61491570157"
WHO = Actor("key:test", "127.0.0.1")
TTL = 600
COOLDOWN = 60
ADD = "/api/v1/customNumber/add"
VERIFY = "/api/v1/customNumber/verifyCustomNumber"


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def add(ctx: Context, customer, number: str = NUMBER, name: str = "Mine") -> cn.AddResult:
    return cn.add(ctx, customer.account, name=name, number=number, actor=WHO)


def verify(ctx: Context, customer, code: str, number: str = NUMBER, name: str = "Mine") -> str:
    return cn.verify(ctx, customer.account, name=name, number=number, code=code, actor=WHO)


def add_and_get_code(ctx: Context, customer, number: str = NUMBER, name: str = "Mine") -> str:
    result = add(ctx, customer, number, name)
    assert result.outcome is cn.AddOutcome.OTP_SENT
    return latest_code(ctx, number)


def row_of(ctx: Context, customer, number: str = NUMBER) -> dict[str, Any]:
    rows = [r for r in registrations(ctx, number) if r["account_id"] == customer.account.id]
    assert rows, "no registration"
    return rows[-1]


def count(ctx: Context, table, *where) -> int:
    with ctx.db.read() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


# -- lifetime ------------------------------------------------------------------------


def test_otp_works_just_before_it_expires(ctx, clock, customer) -> None:
    code = add_and_get_code(ctx, customer)
    clock.advance(TTL - 1)
    verify(ctx, customer, code)
    assert row_of(ctx, customer)["status"] == "active"


@pytest.mark.parametrize("after", [TTL, TTL + 1, 3600])
def test_otp_fails_once_expired(ctx, clock, customer, after: int) -> None:
    code = add_and_get_code(ctx, customer)
    clock.advance(after)
    with pytest.raises(OtpVerificationFailed):
        verify(ctx, customer, code)
    row = row_of(ctx, customer)
    assert row["status"] == "pending"
    assert row["otp_attempts"] == 0  # an expired code is not a try


def test_expiry_is_ttl_after_sending(ctx, clock, customer) -> None:
    assert ctx.settings.otp_ttl_seconds == TTL
    add(ctx, customer)
    assert row_of(ctx, customer)["otp_expires_at"] == clock.now() + timedelta(seconds=TTL)


@pytest.mark.parametrize("settings_overrides", [{"otp_ttl_seconds": 120}])
def test_shorter_ttl_setting(ctx, clock, customer) -> None:
    code = add_and_get_code(ctx, customer)
    clock.advance(121)
    with pytest.raises(OtpVerificationFailed):
        verify(ctx, customer, code)
    # and the SMS says so
    with ctx.db.read() as conn:
        body = conn.execute(select(outbox.c.body)).scalar_one()
    assert "expires in 2 minutes" in body


# -- wrong tries -----------------------------------------------------------------------


def test_five_wrong_tries_kill_the_code(ctx, customer) -> None:
    code = add_and_get_code(ctx, customer)
    for _ in range(5):
        with pytest.raises(OtpVerificationFailed):
            verify(ctx, customer, wrong(code))
    assert row_of(ctx, customer)["otp_attempts"] == 5
    with pytest.raises(OtpVerificationFailed):
        verify(ctx, customer, code)
    # Further tries change nothing
    with pytest.raises(OtpVerificationFailed):
        verify(ctx, customer, wrong(code))
    row = row_of(ctx, customer)
    assert (row["status"], row["otp_attempts"]) == ("pending", 5)


def test_four_wrong_tries_still_leave_the_right_one(ctx, customer) -> None:
    code = add_and_get_code(ctx, customer)
    for _ in range(4):
        with pytest.raises(OtpVerificationFailed):
            verify(ctx, customer, wrong(code))
    verify(ctx, customer, code)
    assert row_of(ctx, customer)["status"] == "active"


@pytest.mark.parametrize("garbage", ["12345", "1234567", "abcdef", "12 345", "١٢٣٤٥٦", "０１２３４５"])
def test_malformed_codes_count_as_wrong_tries(ctx, customer, garbage: str) -> None:
    add_and_get_code(ctx, customer)
    with pytest.raises(OtpVerificationFailed):
        verify(ctx, customer, garbage)
    assert row_of(ctx, customer)["otp_attempts"] == 1


def test_wrong_tries_are_counted_per_code(ctx, clock, customer) -> None:
    first = add_and_get_code(ctx, customer)
    for _ in range(4):
        with pytest.raises(OtpVerificationFailed):
            verify(ctx, customer, wrong(first))
    clock.advance(COOLDOWN + 1)
    second = add_and_get_code(ctx, customer)
    assert row_of(ctx, customer)["otp_attempts"] == 0
    for _ in range(4):
        with pytest.raises(OtpVerificationFailed):
            verify(ctx, customer, wrong(second))
    verify(ctx, customer, second)
    assert row_of(ctx, customer)["status"] == "active"


def test_a_resend_revives_a_dead_registration(ctx, clock, customer) -> None:
    first = add_and_get_code(ctx, customer)
    for _ in range(5):
        with pytest.raises(OtpVerificationFailed):
            verify(ctx, customer, wrong(first))
    clock.advance(COOLDOWN + 1)
    second = add_and_get_code(ctx, customer)
    verify(ctx, customer, second)
    assert row_of(ctx, customer)["status"] == "active"


# -- resend cooldown -------------------------------------------------------------------


def test_resend_cooldown_is_a_429_with_retry_after(app_client: TestClient, ctx, clock, customer) -> None:
    body = {"name": "Mine", "number": NUMBER}
    assert app_client.post(ADD, json=body, headers=customer.headers).status_code == 200
    clock.advance(20)
    r = app_client.post(ADD, json=body, headers=customer.headers)
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "40"
    payload = r.json()
    assert payload["status"] is False
    assert payload["show_message"] == 1
    assert payload["data"] == {}
    assert payload["error"] == {"error": payload["message"]}
    assert "40 seconds" in payload["message"]
    for key, value in {"app_type": "web", "app_version": "1.0", "maintainence": 0, "message_type": "toast",
                       "is_enc": False, "invalid_token": 0}.items():
        assert payload[key] == value
    clock.advance(39)
    r = app_client.post(ADD, json=body, headers=customer.headers)
    assert (r.status_code, r.headers["Retry-After"]) == (429, "1")
    clock.advance(1)
    assert app_client.post(ADD, json=body, headers=customer.headers).status_code == 200
    assert count(ctx, outbox) == 2


def test_cooldown_keeps_the_current_code_working(ctx, clock, customer) -> None:
    code = add_and_get_code(ctx, customer)
    clock.advance(30)
    with pytest.raises(RateLimited) as refused:
        add(ctx, customer)
    assert refused.value.retry_after == 30
    verify(ctx, customer, code)


def test_cooldown_is_per_account_and_number(ctx, make_customer) -> None:
    a, b = make_customer("A"), make_customer("B")
    add(ctx, a, NUMBER)
    add(ctx, a, OTHER)  # another number of the same account
    add(ctx, b, NUMBER)  # another account, same number
    assert count(ctx, outbox) == 3


def test_re_adding_a_pending_number_sends_a_fresh_code(ctx, clock, customer) -> None:
    old = add_and_get_code(ctx, customer, name="Old name")
    old_row = row_of(ctx, customer)
    clock.advance(COOLDOWN)
    new = add_and_get_code(ctx, customer, name="New name")
    if new == old:  # one chance in a million
        pytest.skip("the fresh code happened to equal the old one")
    new_row = row_of(ctx, customer)
    assert new_row["id"] == old_row["id"]  # the same registration, a new code
    assert new_row["otp_hash"] != old_row["otp_hash"]
    assert new_row["otp_expires_at"] > old_row["otp_expires_at"]
    assert len(registrations(ctx, NUMBER)) == 1
    with pytest.raises(OtpVerificationFailed):
        verify(ctx, customer, old)
    verify(ctx, customer, new, name="Verified name")
    assert row_of(ctx, customer)["name"] == "Verified name"


def test_resend_extends_the_lifetime(ctx, clock, customer) -> None:
    add_and_get_code(ctx, customer)
    clock.advance(TTL - 10)
    new = add_and_get_code(ctx, customer)
    clock.advance(TTL - 10)  # the first code would be long dead
    verify(ctx, customer, new)


# -- hourly limits ---------------------------------------------------------------------


def test_five_per_account_and_number_per_hour(app_client: TestClient, ctx, clock, customer) -> None:
    start = clock.now()
    for _ in range(5):
        add(ctx, customer)
        clock.advance(COOLDOWN + 1)
    with pytest.raises(RateLimited) as refused:
        add(ctx, customer)
    elapsed = int((clock.now() - start).total_seconds())  # 305
    assert refused.value.retry_after == 3600 - elapsed
    # the API says the same, with the header
    r = app_client.post(ADD, json={"name": "Mine", "number": NUMBER}, headers=customer.headers)
    assert (r.status_code, r.headers["Retry-After"]) == (429, str(3600 - elapsed))
    assert "last hour" in r.json()["message"]
    # the window slides: one second early is still refused, on time is fine
    clock.advance(3600 - elapsed - 1)
    with pytest.raises(RateLimited) as refused:
        add(ctx, customer)
    assert refused.value.retry_after == 1
    clock.advance(1)
    add(ctx, customer)
    assert count(ctx, outbox) == 6
    assert count(ctx, otp_sends) == 6


def test_retry_after_is_the_longest_wait_that_applies(ctx, clock, customer) -> None:
    """When the cooldown and an hourly limit both refuse, waiting out only the cooldown
    would just earn another 429: Retry-After must be the time a retry can succeed."""
    for i in range(5):
        if i:
            clock.advance(COOLDOWN + 1)
        add(ctx, customer)  # at 0, 61, 122, 183, 244 s
    clock.advance(10)  # 254 s: in the cooldown, and the hour is used up
    with pytest.raises(RateLimited) as refused:
        add(ctx, customer)
    assert refused.value.retry_after == 3600 - 254


def test_thirty_per_number_per_hour_across_accounts(ctx, clock, make_customer) -> None:
    accounts = [make_customer(f"Account {i}") for i in range(31)]
    for customer in accounts[:30]:
        add(ctx, customer)
    clock.advance(10)
    with pytest.raises(RateLimited) as refused:
        add(ctx, accounts[30])
    assert refused.value.retry_after == 3600 - 10
    assert "this number" in refused.value.message
    # the other numbers of that account are not affected
    add(ctx, accounts[30], OTHER)
    assert count(ctx, outbox, outbox.c.to_number == NUMBER) == 30
    clock.advance(3600 - 10)
    add(ctx, accounts[30])
    assert count(ctx, outbox, outbox.c.to_number == NUMBER) == 31


def test_thirty_per_number_counts_resends_of_several_accounts(ctx, clock, make_customer) -> None:
    accounts = [make_customer(f"Account {i}") for i in range(7)]
    for _ in range(5):
        for customer in accounts[:6]:
            add(ctx, customer)
        clock.advance(COOLDOWN + 1)
    assert count(ctx, outbox) == 30
    with pytest.raises(RateLimited):
        add(ctx, accounts[6])
    assert count(ctx, outbox) == 30


@pytest.mark.parametrize("settings_overrides", [{"otp_max_per_account_per_hour": 3}])
def test_per_account_limit(ctx, clock, make_customer) -> None:
    assert ctx.settings.otp_max_per_account_per_hour == 3
    customer, other = make_customer("A"), make_customer("B")
    numbers = [f"+6149157015{i}" for i in range(5)]
    for number in numbers[:3]:
        add(ctx, customer, number)
    clock.advance(100)
    with pytest.raises(RateLimited) as refused:
        add(ctx, customer, numbers[3])
    assert refused.value.retry_after == 3500
    assert "account" in refused.value.message
    add(ctx, other, numbers[3])  # another account is not affected
    clock.advance(3500)
    add(ctx, customer, numbers[4])
    assert count(ctx, outbox, outbox.c.account_id == customer.account.id) == 4


def test_a_squatter_cannot_lock_the_owner_out(ctx, clock, make_customer) -> None:
    squatter, owner = make_customer("Squatter"), make_customer("Owner")
    add(ctx, squatter)
    add(ctx, owner)  # the squatter's cooldown is not the owner's
    for _ in range(4):
        clock.advance(COOLDOWN + 1)
        add(ctx, squatter)
    clock.advance(COOLDOWN + 1)
    with pytest.raises(RateLimited):
        add(ctx, squatter)
    # the owner still gets a code, and wins
    code = add_and_get_code(ctx, owner)
    verify(ctx, owner, code)
    assert row_of(ctx, owner)["status"] == "active"
    assert row_of(ctx, squatter)["status"] == "cancelled"


def test_refused_sends_are_not_counted(ctx, clock, customer) -> None:
    add(ctx, customer)
    for _ in range(10):
        clock.advance(5)
        with pytest.raises(RateLimited):
            add(ctx, customer)
    assert count(ctx, otp_sends) == 1
    clock.advance(COOLDOWN)
    add(ctx, customer)
    assert count(ctx, otp_sends) == 2


# -- verify ----------------------------------------------------------------------------


def test_verify_is_retry_safe_within_the_lifetime(app_client: TestClient, ctx, clock, customer) -> None:
    code = add_and_get_code(ctx, customer)
    first = verify(ctx, customer, code)
    clock.advance(60)
    assert verify(ctx, customer, code) == first
    body = {"name": "Mine", "number": "0491 570 156", "otp": code}
    r = app_client.post(VERIFY, json=body, headers=customer.headers)
    assert (r.status_code, r.json()["message"]) == (200, "OTP Verified Successfully!")
    with pytest.raises(OtpVerificationFailed):
        verify(ctx, customer, wrong(code))  # the retry is not a way around the code
    clock.advance(TTL - 60)
    with pytest.raises(OtpVerificationFailed):
        verify(ctx, customer, code)
    r = app_client.post(VERIFY, json=body, headers=customer.headers)
    assert (r.status_code, r.json()["message"]) == (400, "OTP verification failed")
    rows = registrations(ctx, NUMBER)
    assert [(r["status"], r["id"]) for r in rows] == [("active", first)]  # and still active


def test_verify_sets_the_name(ctx, customer) -> None:
    code = add_and_get_code(ctx, customer, name="Added as")
    verify(ctx, customer, code, name="  Verified as  ")
    assert row_of(ctx, customer)["name"] == "Verified as"


def test_verify_takes_any_accepted_number_form(ctx, customer) -> None:
    code = add_and_get_code(ctx, customer)
    verify(ctx, customer, code, number="0491 570 156")
    assert row_of(ctx, customer)["status"] == "active"


def test_verify_accepts_the_code_as_a_json_integer(app_client: TestClient, ctx, customer) -> None:
    code = add_and_get_code(ctx, customer)
    r = app_client.post(VERIFY, json={"name": "n", "number": NUMBER, "otp": int(code)}, headers=customer.headers)
    assert r.status_code == 200


def test_another_accounts_code_does_not_verify(ctx, make_customer) -> None:
    a, b = make_customer("A"), make_customer("B")
    code_a = add_and_get_code(ctx, a)
    with pytest.raises(OtpVerificationFailed):
        verify(ctx, b, code_a)  # b has no registration


def test_first_verify_wins(ctx, make_customer) -> None:
    a, b = make_customer("A"), make_customer("B")
    code_a = add_and_get_code(ctx, a)
    code_b = add_and_get_code(ctx, b)
    assert [r["status"] for r in registrations(ctx, NUMBER)] == ["pending", "pending"]
    verify(ctx, b, code_b)
    row_a = row_of(ctx, a)
    assert row_a["status"] == "cancelled"
    assert row_a["ended_at"] is not None
    assert row_a["otp_hash"] is None
    assert row_of(ctx, b)["status"] == "active"
    with pytest.raises(OtpVerificationFailed):
        verify(ctx, a, code_a)
    with pytest.raises(NumberAlreadyExists):
        add(ctx, a)
    with pytest.raises(NumberAlreadyExists):
        add(ctx, b)  # active for the same account: the same documented answer
    assert row_of(ctx, a)["status"] == "cancelled"


def test_activation_cancels_the_losers_queued_sms(ctx, make_customer) -> None:
    a, b = make_customer("A"), make_customer("B")
    code_b = add_and_get_code(ctx, b)
    add(ctx, a)  # A's SMS is still queued
    verify(ctx, b, code_b)
    with ctx.db.read() as conn:
        status = conn.execute(
            select(outbox.c.status).where(outbox.c.account_id == a.account.id)
        ).scalar_one()
    assert status == "cancelled"


# -- the code at rest ------------------------------------------------------------------


def test_otp_is_never_stored_in_plain_text(ctx, customer) -> None:
    add(ctx, customer)
    with ctx.db.read() as conn:
        queued_body = conn.execute(select(outbox.c.body)).scalar_one()
    code = latest_code(ctx, NUMBER)  # delivers it
    assert code in queued_body  # (the queued SMS needs it until hand-off)
    row = row_of(ctx, customer)
    assert row["otp_hash"] != code
    assert row["otp_hash"] == otp.hash_code(ctx.secret, NUMBER, code)
    assert code not in json.dumps({k: str(v) for k, v in row.items() if k != "otp_hash"})
    with ctx.db.read() as conn:
        message = dict(conn.execute(select(outbox)).one()._mapping)
    assert message["status"] == "sent"
    assert code not in message["body"]
    assert message["body"] == (
        f"Your senderid code is ******. It registers {NUMBER} as an SMS sender. It expires in 10 minutes."
    )
    assert code not in (message["last_error"] or "")


def test_superseded_sms_body_is_wiped(ctx, clock, customer) -> None:
    add(ctx, customer)
    with ctx.db.read() as conn:
        first_body = conn.execute(select(outbox.c.body)).scalar_one()
    clock.advance(COOLDOWN)
    add(ctx, customer)  # cancels the first SMS before it was sent
    with ctx.db.read() as conn:
        rows = conn.execute(select(outbox.c.status, outbox.c.body).order_by(outbox.c.created_at)).all()
    assert rows[0].status == "cancelled"
    assert "******" in rows[0].body and rows[0].body != first_body


def test_otp_sms_reads_like_the_spec(ctx, customer) -> None:
    add(ctx, customer)
    code = latest_code(ctx, NUMBER)
    from senderid.delivery.providers.devinbox import list_messages

    [message] = list_messages(ctx.db)
    assert message["body"] == (
        f"Your senderid code is {code}. It registers {NUMBER} as an SMS sender. It expires in 10 minutes."
    )
    assert ctx.settings.otp_sender == ""  # the provider's default sender, which the inbox shows as:
    assert message["sender"] == "senderid"


# -- fixed test codes ------------------------------------------------------------------


@pytest.mark.parametrize("settings_overrides", [{"test_otps": "+61491570156:123456,+6140*:111111"}])
def test_test_otps_give_the_fixed_code_and_send_nothing(ctx, customer) -> None:
    assert add(ctx, customer, NUMBER).outcome is cn.AddOutcome.OTP_SENT
    assert add(ctx, customer, "0400 000 000").outcome is cn.AddOutcome.OTP_SENT
    assert count(ctx, outbox) == 0
    verify(ctx, customer, "123456", NUMBER)
    verify(ctx, customer, "111111", "+61400000000")
    assert row_of(ctx, customer, NUMBER)["status"] == "active"
    assert row_of(ctx, customer, "+61400000000")["status"] == "active"
    # a number that matches no pattern gets a real code, by SMS
    add(ctx, customer, OTHER)
    assert count(ctx, outbox) == 1
    code = latest_code(ctx, OTHER)
    verify(ctx, customer, code, OTHER)


@pytest.mark.parametrize("settings_overrides", [{"test_otps": "+61491570156:123456"}])
def test_test_otps_still_count_wrong_tries(ctx, customer) -> None:
    add(ctx, customer)
    for _ in range(5):
        with pytest.raises(OtpVerificationFailed):
            verify(ctx, customer, "654321")
    with pytest.raises(OtpVerificationFailed):
        verify(ctx, customer, "123456")


@pytest.mark.unit
@pytest.mark.parametrize("bad", [
    "+61491570156:12345",  # 5 digits
    "+61491570156:12345a",
    "0491570156:123456",  # not E.164
    "+61491570156",  # no code
    "+61*4:123456",  # * only at the end
])
def test_test_otps_setting_is_checked_at_start(bad: str) -> None:
    from pydantic import ValidationError

    from senderid.settings import Settings

    with pytest.raises(ValidationError):
        Settings(test_otps=bad, secret_key="s" * 40)


def test_test_otps_default_is_empty(ctx) -> None:
    assert ctx.settings.test_otps == {}
    assert ctx.settings.test_otp_for(NUMBER) is None


@pytest.mark.unit
def test_codes_are_six_ascii_digits_and_vary() -> None:
    codes = [otp.generate_code() for _ in range(2000)]
    assert all(otp.looks_like_code(c) for c in codes)
    assert len(set(codes)) > 1900
    assert {c[0] for c in codes} == set("0123456789")  # leading zeros kept


# -- accounts without OTP --------------------------------------------------------------


def test_no_otp_account_creates_active_at_once(ctx, clock, no_otp_customer) -> None:
    result = add(ctx, no_otp_customer)
    assert result.outcome is cn.AddOutcome.CREATED
    row = row_of(ctx, no_otp_customer)
    assert row["status"] == "active"
    assert row["verified_at"] == clock.now()
    assert row["otp_hash"] is None
    assert count(ctx, outbox) == 0
    assert count(ctx, otp_sends) == 0
    with pytest.raises(NumberAlreadyExists):
        add(ctx, no_otp_customer)


def test_no_otp_account_still_obeys_the_global_rule(ctx, customer, no_otp_customer, make_customer) -> None:
    code = add_and_get_code(ctx, customer)  # pending for an OTP account
    add(ctx, no_otp_customer)  # active at once for another
    assert row_of(ctx, customer)["status"] == "cancelled"
    with pytest.raises(OtpVerificationFailed):
        verify(ctx, customer, code)
    with pytest.raises(NumberAlreadyExists):
        add(ctx, make_customer("Third", otp_required=False))
    assert sorted(r["status"] for r in registrations(ctx, NUMBER)) == ["active", "cancelled"]


# -- audit -----------------------------------------------------------------------------


def audit_rows(ctx: Context) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(audit_events).order_by(audit_events.c.id))]


def test_every_state_change_is_audited_without_codes_or_keys(
    app_client: TestClient, ctx, clock, make_customer
) -> None:
    a, b = make_customer("A"), make_customer("B")
    direct = make_customer("Direct", otp_required=False)
    codes: list[str] = []

    r = app_client.post(ADD, json={"name": "A", "number": NUMBER}, headers=a.headers)  # otp_sent
    assert r.status_code == 200
    codes.append(latest_code(ctx, NUMBER))
    clock.advance(COOLDOWN)
    r = app_client.post(ADD, json={"name": "A", "number": NUMBER}, headers=a.headers)  # otp_resent
    codes.append(latest_code(ctx, NUMBER))
    r = app_client.post(ADD, json={"name": "B", "number": NUMBER}, headers=b.headers)  # otp_sent
    codes.append(latest_code(ctx, NUMBER))
    r = app_client.post(VERIFY, json={"name": "A", "number": NUMBER, "otp": wrong(codes[1])},
                        headers=a.headers)  # otp_failed
    assert r.status_code == 400
    r = app_client.post(VERIFY, json={"name": "B", "number": NUMBER, "otp": codes[2]},
                        headers=b.headers)  # verified + A cancelled
    assert r.status_code == 200
    r = app_client.post(ADD, json={"name": "D", "number": OTHER}, headers=direct.headers)  # created
    assert r.status_code == 200

    rows = audit_rows(ctx)
    actions = [(row["action"], row["account_id"]) for row in rows if row["action"].startswith("custom_number.")]
    assert actions == [
        ("custom_number.otp_sent", a.account.id),
        ("custom_number.otp_resent", a.account.id),
        ("custom_number.otp_sent", b.account.id),
        ("custom_number.otp_failed", a.account.id),
        ("custom_number.verified", b.account.id),
        ("custom_number.cancelled", a.account.id),
        ("custom_number.created", direct.account.id),
    ]
    assert {row["action"] for row in rows} >= {"account.created", "key.created"}
    by_key = {c.account.id: c for c in (a, b, direct)}
    for row in rows:
        assert row["at"] is not None
        if row["action"].startswith("custom_number."):
            assert row["actor"].startswith("key:"), row
            assert row["actor"] != f"key:{by_key[row['account_id']].key}"
            assert row["ip"], row  # from which IP
            assert row["subject"], row
    text = json.dumps([{k: str(v) for k, v in row.items()} for row in rows])
    for code in codes:
        assert code not in text
    for customer in (a, b, direct):
        assert customer.key not in text
        assert customer.key[len("sid_"):] not in text


def test_audit_records_the_actor_and_ip(ctx, clock, customer) -> None:
    add(ctx, customer)
    [row] = [r for r in audit_rows(ctx) if r["action"] == "custom_number.otp_sent"]
    assert (row["actor"], row["ip"], row["at"]) == ("key:test", "127.0.0.1", clock.now())
    assert row["details"]["number"] == NUMBER


def test_renaming_by_a_repeated_verify_is_audited(ctx, clock, customer) -> None:
    """SPEC §3: every state change writes an audit event; a name change is one."""
    code = add_and_get_code(ctx, customer)
    verify(ctx, customer, code, name="First")
    before = len(audit_rows(ctx))
    clock.advance(5)
    verify(ctx, customer, code, name="Second")  # retry-safe verify, with a new name
    assert row_of(ctx, customer)["name"] == "Second"
    assert len(audit_rows(ctx)) > before, "the name changed without an audit event"


def test_nothing_changes_and_nothing_is_audited_on_refusals(ctx, clock, customer, no_otp_customer) -> None:
    add(ctx, no_otp_customer)
    before = audit_rows(ctx)
    with pytest.raises(NumberAlreadyExists):
        add(ctx, customer)
    with pytest.raises(OtpVerificationFailed):
        verify(ctx, customer, "123456")
    assert audit_rows(ctx) == before


@pytest.mark.unit
def test_the_otp_text_is_rendered_in_one_place() -> None:
    body, redacted = otp.render("Your code {code} for {number}, valid {minutes} min", code="123456",
                                number="+61491570156", valid_seconds=61)
    assert body == "Your code 123456 for +61491570156, valid 2 min"
    assert redacted == "Your code ****** for +61491570156, valid 2 min"
    assert otp.render("{minutes}", code="1", number="2", valid_seconds=5) == ("1", "1")  # at least a minute
    from tests.e2e.test_structure import PACKAGE

    assert ".format(code=" in (PACKAGE / "otp.py").read_text()
    assert not [p for p in PACKAGE.rglob("*.py") if p.name != "otp.py" and ".format(code=" in p.read_text()]
