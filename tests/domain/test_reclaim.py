"""Reclaim by possession on both databases: a claim won, a claim ended by the holder's
proof, two claimers at once, the holder proving possession at the deadline, a number held
by an account without OTP, and the refusals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from senderid.domain import accounts, messages
from senderid.domain import custom_numbers as cn
from senderid.domain.context import Context
from senderid.domain.types import CLI, Actor
from senderid.errors import (
    ClaimOpen,
    MobileNumberInvalid,
    NameRequired,
    NumberAlreadyExists,
    NumberNotHeldByAnother,
    OtpVerificationFailed,
    ReclaimNeedsOtp,
)
from senderid.store.tables import audit_events, custom_numbers, webhook_events
from tests.support.gateway import CONTACT, post, sms_rows
from tests.support.helpers import latest_code
from tests.support.racers import race

NUMBER = "+61491570156"
WHO = Actor("test")
HOOK = "http://127.0.0.1:9/hook"
DAY = timedelta(days=1)


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"webhook_allow_private": True, "reclaim_grace_days": 1}


def tick(ctx: Context, now=None) -> cn.Ticked:
    return cn.tick(ctx.db, ctx.settings, now or ctx.clock.now(), forget=ctx.senders.forget_senders)


def events(ctx: Context, account_id: str, kind: str) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        payloads = conn.execute(sa.select(webhook_events.c.payload).where(
            webhook_events.c.account_id == account_id, webhook_events.c.type == kind)
            .order_by(webhook_events.c.created_at, webhook_events.c.id)).scalars().all()
    return [p["data"] for p in payloads]


def statuses(ctx: Context) -> dict[str, str]:
    with ctx.db.read() as conn:
        return dict(conn.execute(sa.select(custom_numbers.c.account_id, custom_numbers.c.status)
                                 .where(custom_numbers.c.number == NUMBER)).all())


def own(ctx: Context, customer) -> str:
    cn.add(ctx, customer.account, name="Mine", number=NUMBER, actor=WHO)
    return cn.verify(ctx, customer.account, name="Mine", number=NUMBER, code=latest_code(ctx, NUMBER), actor=WHO)


def claim(ctx: Context, claimer) -> cn.Verified:
    """The claimer asks for a code and types it: the claim is open."""
    result = cn.reclaim(ctx, claimer.account, name="Phone", number="0491 570 156", actor=WHO)
    assert result.outcome is cn.AddOutcome.OTP_SENT
    return cn.verify_number(ctx, claimer.account, name="Phone", number=NUMBER, code=latest_code(ctx, NUMBER),
                            actor=WHO)


def test_a_claim_not_answered_moves_the_number(app_client, ctx: Context, customer, make_customer) -> None:
    holder, claimer = customer, make_customer("Claimer")
    accounts.set_webhook_url(ctx, holder.account.id, HOOK, actor=CLI)
    holder_id = own(ctx, holder)
    ctx.clock.advance(120)
    opened = claim(ctx, claimer)
    decides_at = ctx.clock.now() + DAY
    assert opened.decides_at == decides_at
    assert events(ctx, holder.account.id, "custom_number.reclaim_started") == [
        {"id": holder_id, "number": NUMBER, "decidesAt": "2026-01-02T00:02:00.000Z"}]
    assert {a.account_id for a in _audited(ctx, "custom_number.reclaim_started")} == {
        holder.account.id, claimer.account.id}
    # the holder keeps sending during the grace period; a message scheduled after it is queued
    assert messages.check_sender(ctx, holder.account, NUMBER) is not None
    status, _, [message_id] = post(app_client, holder.headers, message="sale", contacts=[CONTACT], sender=NUMBER,
                                   delay=60 * 24 * 2)
    assert status == 200
    assert messages.check_sender(ctx, claimer.account, NUMBER) is None
    view = cn.get_registration(ctx, claimer.account.id, opened.id)
    assert (view.status, view.decides_at) == ("claiming", decides_at)

    ctx.clock.advance(DAY.total_seconds() - 1)
    assert tick(ctx) == cn.Ticked()
    ctx.clock.advance(1)
    assert tick(ctx).reclaimed == 1
    assert statuses(ctx) == {holder.account.id: "reclaimed", claimer.account.id: "active"}
    assert messages.check_sender(ctx, holder.account, NUMBER) is None
    assert messages.check_sender(ctx, claimer.account, NUMBER) is not None
    [row] = [r for r in sms_rows(ctx) if r.id == message_id]
    assert row.status == "cancelled"
    assert [e["id"] for e in events(ctx, holder.account.id, "custom_number.reclaimed")] == [holder_id]
    view = cn.get_registration(ctx, claimer.account.id, opened.id)
    assert (view.verified_by, view.verified_at) == ("otp", ctx.clock.now())


def test_the_holder_proving_possession_ends_the_claim(ctx: Context, customer, make_customer) -> None:
    holder, claimer = customer, make_customer("Claimer")
    accounts.set_webhook_url(ctx, claimer.account.id, HOOK, actor=CLI)
    holder_id = own(ctx, holder)
    ctx.clock.advance(120)
    opened = claim(ctx, claimer)
    with pytest.raises(ClaimOpen):  # one open claim per number
        cn.reclaim(ctx, make_customer("Third").account, name="x", number=NUMBER, actor=WHO)
    with pytest.raises(NumberAlreadyExists):
        cn.add(ctx, make_customer("Fourth").account, name="x", number=NUMBER, actor=WHO)

    ctx.clock.advance(3600)
    cn.reverify(ctx, holder.account, holder_id, actor=WHO)
    assert cn.verify(ctx, holder.account, name="Mine", number=NUMBER, code=latest_code(ctx, NUMBER),
                     actor=WHO) == holder_id
    assert statuses(ctx)[claimer.account.id] == "cancelled"
    assert events(ctx, claimer.account.id, "custom_number.cancelled") == [
        {"id": opened.id, "number": NUMBER, "status": "cancelled", "reason": "the holder proved possession"}]
    ctx.clock.advance(2 * DAY.total_seconds())
    assert tick(ctx) == cn.Ticked()
    assert statuses(ctx) == {holder.account.id: "active", claimer.account.id: "cancelled"}


def test_two_claimers_at_once_open_one_claim(ctx: Context, customer, make_customer) -> None:
    own(ctx, customer)
    ctx.clock.advance(120)
    claimers = [make_customer("One"), make_customer("Two")]
    codes = []
    for claimer in claimers:
        cn.reclaim(ctx, claimer.account, name="Phone", number=NUMBER, actor=WHO)
        codes.append(latest_code(ctx, NUMBER))
    results = race(ctx, 2, lambda i: cn.verify_number(ctx, claimers[i].account, name="Phone", number=NUMBER,
                                                       code=codes[i], actor=WHO))
    won = [r for r in results if isinstance(r, cn.Verified)]
    lost = [r for r in results if not isinstance(r, cn.Verified)]
    assert len(won) == 1 and len(lost) == 1, results
    assert isinstance(lost[0], ClaimOpen), lost  # the 409: a claim is open
    assert sorted(statuses(ctx).values()) == ["active", "claiming", "pending"]


def test_the_holder_at_the_deadline_either_keeps_it_or_is_too_late(ctx: Context, customer, make_customer) -> None:
    holder, claimer = customer, make_customer("Claimer")
    holder_id = own(ctx, holder)
    ctx.clock.advance(120)
    opened = claim(ctx, claimer)
    ctx.clock.advance(DAY.total_seconds() - 120)
    cn.reverify(ctx, holder.account, holder_id, actor=WHO)
    code = latest_code(ctx, NUMBER)
    ctx.clock.advance(119.999)  # the holder's proof a moment before decidesAt
    deadline = opened.decides_at
    results = race(ctx, 2, lambda i: (
        cn.verify(ctx, holder.account, name="Mine", number=NUMBER, code=code, actor=WHO) if i == 0
        else tick(ctx, deadline)))
    proof, _ticked = results
    if isinstance(proof, str):  # the proof came first: the claim is over, the tick found nothing due
        assert statuses(ctx) == {holder.account.id: "active", claimer.account.id: "cancelled"}
    else:  # the decision came first: the proof is too late
        assert isinstance(proof, OtpVerificationFailed), results
        assert statuses(ctx) == {holder.account.id: "reclaimed", claimer.account.id: "active"}
    with ctx.db.read() as conn:
        held = conn.execute(sa.select(sa.func.count()).select_from(custom_numbers).where(
            custom_numbers.c.number == NUMBER, custom_numbers.c.status == "active")).scalar_one()
    assert held == 1


def test_a_number_held_without_otp_can_be_reclaimed(ctx: Context, no_otp_customer, make_customer) -> None:
    cn.add(ctx, no_otp_customer.account, name="Direct", number=NUMBER, actor=WHO)
    claimer = make_customer("Has the phone")
    claim(ctx, claimer)
    ctx.clock.advance(DAY.total_seconds())
    assert tick(ctx).reclaimed == 1
    assert statuses(ctx) == {no_otp_customer.account.id: "reclaimed", claimer.account.id: "active"}


def test_what_reclaim_refuses(ctx: Context, customer, no_otp_customer, make_customer) -> None:
    claimer = make_customer("Claimer")
    with pytest.raises(NumberNotHeldByAnother):
        cn.reclaim(ctx, claimer.account, name="x", number=NUMBER, actor=WHO)  # nobody holds it
    own(ctx, customer)
    with pytest.raises(NumberNotHeldByAnother):
        cn.reclaim(ctx, customer.account, name="x", number=NUMBER, actor=WHO)  # its own
    with pytest.raises(ReclaimNeedsOtp):
        cn.reclaim(ctx, no_otp_customer.account, name="x", number=NUMBER, actor=WHO)
    with pytest.raises(NameRequired):
        cn.reclaim(ctx, claimer.account, name=" ", number=NUMBER, actor=WHO)
    with pytest.raises(MobileNumberInvalid):
        cn.reclaim(ctx, claimer.account, name="x", number="12345", actor=WHO)
    with ctx.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(custom_numbers)).scalar_one() == 1


def _audited(ctx: Context, action: str) -> list[Any]:
    with ctx.db.read() as conn:
        return conn.execute(sa.select(audit_events).where(audit_events.c.action == action)).all()
