"""Re-verification on the controllable clock: the notice, the lapse (no longer a sender, its
queued messages cancelled), the hold, the release; proving possession again; no number
lapses at once when its schedule is first computed or the setting shortens; numbers
activated without OTP never lapse by time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from senderid.domain import accounts, messages
from senderid.domain import custom_numbers as cn
from senderid.domain.context import Context
from senderid.domain.types import CLI, Actor
from senderid.errors import Conflict, NotFound, NumberAlreadyExists
from senderid.store.tables import audit_events, custom_numbers, webhook_events
from tests.support.gateway import CONTACT, post, sms_rows
from tests.support.helpers import latest_code

NUMBER = "+61491570156"
WHO = Actor("test")
HOOK = "http://127.0.0.1:9/hook"  # never delivered here: the events are read from the table
DAY = timedelta(days=1)


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"webhook_allow_private": True, "reverify_after_days": 10, "reverify_notice_days": 2,
            "lapsed_hold_days": 3}


def tick(ctx: Context) -> cn.Ticked:
    return cn.tick(ctx.db, ctx.settings, ctx.clock.now(), forget=ctx.senders.forget_senders)


def events(ctx: Context, account_id: str, kind: str) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        payloads = conn.execute(sa.select(webhook_events.c.payload).where(
            webhook_events.c.account_id == account_id, webhook_events.c.type == kind)
            .order_by(webhook_events.c.created_at, webhook_events.c.id)).scalars().all()
    return [p["data"] for p in payloads]


def audited(ctx: Context, action: str) -> list[Any]:
    with ctx.db.read() as conn:
        return conn.execute(sa.select(audit_events).where(audit_events.c.action == action)
                            .order_by(audit_events.c.id)).all()


def own(ctx: Context, customer, number: str = NUMBER) -> str:
    """Register and verify ``number`` for the customer by OTP; its registration id."""
    cn.add(ctx, customer.account, name="Mine", number=number, actor=WHO)
    return cn.verify(ctx, customer.account, name="Mine", number=number, code=latest_code(ctx, number), actor=WHO)


def at(ctx: Context, when) -> None:
    ctx.clock.advance((when - ctx.clock.now()).total_seconds())


def test_notice_then_lapse_then_release(app_client, ctx: Context, customer, make_customer) -> None:
    accounts.set_webhook_url(ctx, customer.account.id, HOOK, actor=CLI)
    t0 = ctx.clock.now()
    registration_id = own(ctx, customer)
    view = cn.get_registration(ctx, customer.account.id, registration_id)
    assert (view.verified_by, view.reverify_by) == ("otp", t0 + 10 * DAY)

    at(ctx, t0 + 8 * DAY - timedelta(seconds=1))
    assert tick(ctx) == cn.Ticked()  # nothing due yet
    assert events(ctx, customer.account.id, "custom_number.reverify_due") == []
    at(ctx, t0 + 8 * DAY)
    assert tick(ctx).noticed == 1
    assert tick(ctx) == cn.Ticked()  # one notice, not one a tick
    assert events(ctx, customer.account.id, "custom_number.reverify_due") == [
        {"id": registration_id, "number": NUMBER, "lapsesAt": "2026-01-11T00:00:00.000Z"}]

    # still a sender until the moment: a message scheduled from it is queued
    status, _, [message_id] = post(app_client, customer.headers, message="sale", contacts=[CONTACT], sender=NUMBER,
                                   delay=60 * 24 * 5)
    assert status == 200
    assert messages.check_sender(ctx, customer.account, NUMBER) is not None

    at(ctx, t0 + 10 * DAY - timedelta(seconds=1))
    assert tick(ctx) == cn.Ticked()
    at(ctx, t0 + 10 * DAY)
    assert tick(ctx).lapsed == 1
    assert cn.get_registration(ctx, customer.account.id, registration_id).status == "lapsed"
    assert messages.check_sender(ctx, customer.account, NUMBER) is None
    r = app_client.get("/api/v1/senderId/check", params={"sender": NUMBER}, headers=customer.headers)
    assert (r.status_code, r.json()["message"], r.json()["data"]["allowed"]) == (200, "Sender not allowed", False)
    [row] = [r for r in sms_rows(ctx) if r.id == message_id]
    assert (row.status, row.last_error) == ("cancelled", "sender no longer allowed")
    [lapsed] = audited(ctx, "custom_number.lapsed")
    assert (lapsed.actor, lapsed.details["cancelled"]) == ("system", 1)
    assert [e["id"] for e in events(ctx, customer.account.id, "custom_number.lapsed")] == [registration_id]

    # held: nobody else may add it, the list shows it lapsed
    rival = make_customer("Rival")
    with pytest.raises(NumberAlreadyExists):
        cn.add(ctx, rival.account, name="x", number=NUMBER, actor=WHO)
    assert [i.status for i in cn.list_registrations(ctx, customer.account.id, status="lapsed")[0]] == ["lapsed"]

    at(ctx, t0 + 13 * DAY - timedelta(seconds=1))
    assert tick(ctx) == cn.Ticked()
    at(ctx, t0 + 13 * DAY)
    assert tick(ctx).released == 1
    view = cn.get_registration(ctx, customer.account.id, registration_id)
    assert (view.status, view.ended_at) == ("released", ctx.clock.now())
    assert cn.add(ctx, rival.account, name="x", number=NUMBER, actor=WHO).outcome is cn.AddOutcome.OTP_SENT


def test_proving_possession_again_renews_and_revives(app_client, ctx: Context, customer, make_customer) -> None:
    t0 = ctx.clock.now()
    registration_id = own(ctx, customer)
    at(ctx, t0 + 8 * DAY)
    tick(ctx)
    at(ctx, t0 + 10 * DAY)
    assert tick(ctx).lapsed == 1

    result = cn.reverify(ctx, customer.account, registration_id, actor=WHO)
    assert (result.outcome, result.id) == (cn.AddOutcome.OTP_SENT, registration_id)
    assert cn.get_registration(ctx, customer.account.id, registration_id).status == "lapsed"  # until proven
    code = latest_code(ctx, NUMBER)
    assert cn.verify(ctx, customer.account, name="Mine", number=NUMBER, code=code, actor=WHO) == registration_id
    view = cn.get_registration(ctx, customer.account.id, registration_id)
    now = ctx.clock.now()
    assert (view.status, view.verified_at, view.reverify_by) == ("active", now, now + 10 * DAY)
    assert messages.check_sender(ctx, customer.account, NUMBER) is not None
    # the same verify again (a client's retry) answers the same, with no new state
    assert cn.verify(ctx, customer.account, name="Mine", number=NUMBER, code=code, actor=WHO) == registration_id
    assert len(audited(ctx, "custom_number.reverified")) == 1
    [sent] = [a for a in audited(ctx, "custom_number.otp_sent") if a.details.get("purpose") == "reverify"]
    assert sent.subject == registration_id

    # an active one may prove possession too; the sending limits are add's
    with pytest.raises(Exception, match="moments ago"):
        cn.reverify(ctx, customer.account, registration_id, actor=WHO)
    ctx.clock.advance(61)
    cn.reverify(ctx, customer.account, registration_id, actor=WHO)
    with pytest.raises(NotFound):
        cn.reverify(ctx, make_customer("Other").account, registration_id, actor=WHO)
    cn.delete(ctx, customer.account, registration_id, actor=WHO)
    with pytest.raises(Conflict):
        cn.reverify(ctx, customer.account, registration_id, actor=WHO)


def _as_before_upgrade(ctx: Context, registration_id: str, verified_at) -> None:
    """The row as migration 0013 leaves a number verified long ago: no schedule yet."""
    with ctx.db.write() as conn:
        conn.execute(sa.update(custom_numbers).where(custom_numbers.c.id == registration_id).values(
            verified_at=verified_at, reverify_after_days=None, reverify_by=None, reverify_noticed_at=None,
            due_at=None))


def test_an_upgrade_never_lapses_a_number_at_once(ctx: Context, customer) -> None:
    accounts.set_webhook_url(ctx, customer.account.id, HOOK, actor=CLI)
    registration_id = own(ctx, customer)
    now = ctx.clock.now()
    _as_before_upgrade(ctx, registration_id, now - 400 * DAY)  # proven 400 days ago; the setting says 10
    assert cn.reconcile(ctx.db, ctx.settings, now) == 1
    assert cn.reconcile(ctx.db, ctx.settings, now) == 0  # computed once
    assert tick(ctx) == cn.Ticked(noticed=1)  # the notice, now, and the full notice period
    assert events(ctx, customer.account.id, "custom_number.reverify_due") == [
        {"id": registration_id, "number": NUMBER, "lapsesAt": "2026-01-03T00:00:00.000Z"}]
    assert cn.get_registration(ctx, customer.account.id, registration_id).status == "active"
    ctx.clock.advance(2 * 86400 - 1)
    assert tick(ctx) == cn.Ticked()
    ctx.clock.advance(1)
    assert tick(ctx).lapsed == 1


def test_a_shorter_setting_gives_the_full_notice_too(ctx: Context, customer) -> None:
    registration_id = own(ctx, customer)
    ctx.clock.advance(6 * 86400)
    assert tick(ctx) == cn.Ticked()
    # the account's own period is now 5 days: 6 days old, it is overdue, yet gets 2 days' notice
    accounts.set_reverify_after_days(ctx, customer.account.id, 5, actor=CLI)
    assert tick(ctx) == cn.Ticked(noticed=1)
    view = cn.get_registration(ctx, customer.account.id, registration_id)
    assert view.reverify_by == ctx.clock.now() + 2 * DAY
    # 0: never; an account's own value back to the setting's brings the schedule back
    accounts.set_reverify_after_days(ctx, customer.account.id, 0, actor=CLI)
    assert cn.get_registration(ctx, customer.account.id, registration_id).reverify_by is None
    ctx.clock.advance(100 * 86400)
    assert tick(ctx) == cn.Ticked()
    accounts.set_reverify_after_days(ctx, customer.account.id, None, actor=CLI)
    assert tick(ctx) == cn.Ticked(noticed=1)


def test_numbers_activated_without_otp_never_lapse(ctx: Context, no_otp_customer) -> None:
    result = cn.add(ctx, no_otp_customer.account, name="Direct", number=NUMBER, actor=WHO)
    view = cn.get_registration(ctx, no_otp_customer.account.id, result.id)
    assert (view.status, view.verified_by, view.reverify_by) == ("active", "operator", None)
    assert cn.reconcile(ctx.db, ctx.settings, ctx.clock.now()) == 0
    ctx.clock.advance(1000 * 86400)
    assert tick(ctx) == cn.Ticked()
    assert cn.get_registration(ctx, no_otp_customer.account.id, result.id).status == "active"
