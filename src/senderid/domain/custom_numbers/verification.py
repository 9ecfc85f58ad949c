"""Verifying a number: the OTP of a pending registration checked, the registration activated.

The first account to verify a number wins: its registration becomes ``active`` and every
other account's pending registration of the number is ``cancelled`` in the same UPDATE.
A code sent for a re-verification renews the holder's proof (:mod:`.reverify`); one sent
for a reclaim opens a claim (:mod:`.reclaim`).
Each try is counted before the code is compared (at most ``otp_max_attempts`` per code),
and wrong codes are budgeted per day (:mod:`senderid.domain.otp_guesses`): past the
budget, verify fails even with the right code.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, update
from sqlalchemy.exc import IntegrityError

from senderid import otp
from senderid.domain import audit, otp_guesses
from senderid.domain import events as domain_events
from senderid.domain.context import Context
from senderid.domain.custom_numbers.changes import (
    Verified,
    ended_others,
    event_data,
    senders_changed,
)
from senderid.domain.custom_numbers.reclaim import open_claim
from senderid.domain.custom_numbers.register import clean_name, clean_otp, is_blank
from senderid.domain.custom_numbers.reverify import renew
from senderid.domain.custom_numbers.schedule import after_days, schedule
from senderid.domain.custom_numbers.statements import (
    ACTIVATE,
    ACTIVE,
    ACTIVE_MINE,
    CLAIMING,
    PENDING,
    RECLAIM,
    REVERIFY,
    count_try,
)
from senderid.domain.types import Account, Actor, VerifiedBy
from senderid.errors import (
    ClaimOpen,
    OtpVerificationFailed,
    VerifyNameRequired,
    VerifyNumberRequired,
)
from senderid.numbers import InvalidNumber, parse_mobile
from senderid.store.tables import custom_numbers


def verify(
    ctx: Context, account: Account, *, name: object, number: object, code: object, actor: Actor
) -> str:
    """:func:`verify_number`'s registration id."""
    return verify_number(ctx, account, name=name, number=number, code=code, actor=actor).id


def verify_number(
    ctx: Context, account: Account, *, name: object, number: object, code: object, actor: Actor
) -> Verified:
    """Check the OTP of a pending registration and activate it (or renew a holder's proof,
    or open a claim: what the code was sent for).

    Every failure is the same OtpVerificationFailed, so a caller learns nothing
    about which part was wrong. Statements of a success (PostgreSQL): the number's
    lock, the counted try, the activation (which cancels other accounts' pending
    registrations in the same UPDATE), the audit records, the events.
    """
    valid_name = clean_name(name, VerifyNameRequired)
    if is_blank(number):
        raise VerifyNumberRequired()
    clean_code = clean_otp(code)
    if clean_code is None:
        raise OtpVerificationFailed()
    try:
        e164 = parse_mobile(number, ctx.settings.allowed_regions)
    except InvalidNumber:
        raise OtpVerificationFailed() from None

    verified: Verified | None = None
    try:
        with ctx.db.write() as conn:
            ctx.db.lock(conn, f"number:{e164}")
            verified = _verify_locked(ctx, conn, account, valid_name, e164, clean_code, actor)
    except IntegrityError:
        verified = None
    if verified is None:
        raise OtpVerificationFailed()
    return verified


def _verify_locked(
    ctx: Context, conn: Connection, account: Account, name: str, number: str, code: str, actor: Actor
) -> Verified | None:
    now = ctx.clock.now()
    params = {"b_account_id": account.id, "b_number": number, "b_now": now,
              "b_max_attempts": ctx.settings.otp_max_attempts, "b_day_since": now - otp_guesses.DAY}
    counted = count_try(otp_guesses.limits(ctx.settings)).run(conn, params).first()
    if counted is None:
        return _verify_again(ctx, conn, account, name, number, code, now, actor, params)
    if otp_guesses.used_up(counted, "spent"):
        return None  # past a daily guess budget: not even the right code counts
    if not otp.check_code(ctx.secret, number, code, counted.otp_hash):
        otp_guesses.record_wrong(conn, account.id, number, now)
        audit.record(
            conn, at=now, actor=actor, action=audit.Action.CUSTOM_NUMBER_OTP_FAILED, account_id=account.id,
            subject=counted.id, number=number, attempts=counted.otp_attempts,
        )
        return None
    if counted.otp_purpose == REVERIFY and counted.status != PENDING:
        return renew(ctx, conn, account, name, number, counted, now, actor)
    if counted.claim_id is not None:
        if counted.otp_purpose == RECLAIM:
            raise ClaimOpen()
        return None  # the number is being claimed: nobody else may take it meanwhile
    if counted.taken is not None:
        if counted.otp_purpose == RECLAIM:
            return open_claim(ctx, conn, account, name, number, counted, now, actor)
        return None  # another account holds it already

    # Activate ours and cancel every other pending registration of the number, at once.
    plan = schedule(now, after_days(ctx.settings, account.reverify_after_days), None, now,
                    ctx.settings.reverify_notice_days)
    rows = ACTIVATE.run(conn, {"b_id": counted.id, "b_number": number, "b_name": name, "b_now": now,
                                   "b_verified_by": VerifiedBy.OTP, "b_after": plan.after_days,
                                   "b_reverify_by": plan.reverify_by, "b_due": plan.due_at}).all()
    entries = [audit.Entry(audit.Action.CUSTOM_NUMBER_VERIFIED, account.id, counted.id, {"number": number})]
    events: list[domain_events.Event] = [
        (account.id, "custom_number.verified", event_data(counted.id, number, name, ACTIVE))]
    others = [(r.id, r.account_id) for r in rows if r.id != counted.id]
    ended_others(conn, number, others, now, entries, events)
    audit.record_many(conn, at=now, actor=actor, entries=entries)
    domain_events.emit(conn, now=now, events=events)
    senders_changed(ctx, account.id)
    return Verified(counted.id)


def _verify_again(
    ctx: Context, conn: Connection, account: Account, name: str, number: str, code: str,
    now: datetime, actor: Actor, params: dict[str, object],
) -> Verified | None:
    """No try to count: a repeated, successful verify (a client retrying) answers the same,
    with no new state; anything else (no registration, expired, out of tries) fails."""
    row = ACTIVE_MINE.run(conn, params).first()
    if row is None or not otp.check_code(ctx.secret, number, code, row.otp_hash):
        return None
    if row.status == CLAIMING:
        return Verified(row.id, row.decides_at)  # the claim it opened, as first answered
    if row.name != name:
        conn.execute(
            update(custom_numbers).where(custom_numbers.c.id == row.id).values(name=name, updated_at=now)
        )
        audit.record(
            conn, at=now, actor=actor, action=audit.Action.CUSTOM_NUMBER_RENAMED, account_id=account.id,
            subject=row.id, number=number, name=name,
        )
    return Verified(row.id)
