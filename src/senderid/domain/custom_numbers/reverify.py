"""Proving possession again: a new code for the account's active or lapsed registration,
and the renewal its right code brings.

``POST /api/v1/customNumber/{id}/reverify`` sends a code to the number under the same
sending limits, guess budget and audit as an add (:func:`.register.send_otp`); the row
keeps its status while the code is out (``otp_purpose`` ``reverify``). ``verifyCustomNumber``
with that code renews ``verified_at`` and the schedule (:mod:`.schedule`); a lapsed number
is active again, and an open claim against it ends: the claimer's registration is
``cancelled`` ("the holder proved possession"). A proof that comes once a claim's
``decidesAt`` has passed is too late: the claim has won.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from senderid.domain import audit
from senderid.domain import events as domain_events
from senderid.domain.context import Context
from senderid.domain.custom_numbers.changes import Verified, event_data, senders_changed
from senderid.domain.custom_numbers.limits import read_state
from senderid.domain.custom_numbers.register import AddResult, send_otp
from senderid.domain.custom_numbers.schedule import after_days, schedule
from senderid.domain.custom_numbers.statements import ACTIVE, CANCELLED, CLAIMING, HELD, LAPSED, REVERIFY
from senderid.domain.types import Account, Actor, VerifiedBy
from senderid.errors import Conflict, NotFound
from senderid.store.coltypes import constant
from senderid.store.tables import custom_numbers

HOLDER_PROVED = "the holder proved possession"


def reverify(ctx: Context, account: Account, registration_id: str, *, actor: Actor) -> AddResult:
    """Send a new code to the number of the account's active or lapsed registration."""
    with ctx.db.write() as conn:
        row = _owned(conn, account.id, registration_id)
        ctx.db.lock(conn, f"number:{row.number}", f"account:{account.id}")
        row = _owned(conn, account.id, registration_id)  # as it is now that we hold the lock
        if row.status not in HELD:
            raise Conflict(f"Only an active or lapsed registration can prove possession again; this one is "
                           f"{row.status}")
        now = ctx.clock.now()
        state = read_state(ctx, conn, account.id, row.number, now)
        return send_otp(ctx, conn, account, row.name, row.number, state, now, actor, purpose=REVERIFY,
                        registration_id=row.id)


def _owned(conn: Connection, account_id: str, registration_id: str) -> Any:
    row = conn.execute(select(custom_numbers).where(
        custom_numbers.c.id == registration_id, custom_numbers.c.account_id == account_id)).first()
    if row is None:
        raise NotFound(f"No custom number with id {registration_id} in your account")
    return row


def renew(ctx: Context, conn: Connection, account: Account, name: str, number: str, counted: Any,
          now: datetime, actor: Actor) -> Verified | None:
    """The holder's right code: its proof renewed, an open claim ended. None when a claim's
    decision time has passed (the claim has won)."""
    if counted.claim_id is not None and counted.claim_decides_at <= now:
        return None
    plan = schedule(now, after_days(ctx.settings, account.reverify_after_days), None, now,
                    ctx.settings.reverify_notice_days)
    conn.execute(update(custom_numbers).where(custom_numbers.c.id == counted.id).values(
        status=ACTIVE, name=name, verified_at=now, verified_by=VerifiedBy.OTP, otp_purpose=None, updated_at=now,
        **plan.values()))
    entries = [audit.Entry(audit.Action.CUSTOM_NUMBER_REVERIFIED, account.id, counted.id,
                           {"number": number, "previous_status": counted.status})]
    events: list[domain_events.Event] = [
        (account.id, "custom_number.verified", event_data(counted.id, number, name, ACTIVE))]
    if counted.claim_id is not None:
        claim = conn.execute(
            update(custom_numbers)
            .where(custom_numbers.c.id == counted.claim_id, custom_numbers.c.status == constant(CLAIMING))
            .values(status=CANCELLED, ended_at=now, updated_at=now, due_at=None, otp_hash=None)
            .returning(custom_numbers.c.account_id)
        ).first()
        if claim is not None:
            entries.append(audit.Entry(audit.Action.CUSTOM_NUMBER_CANCELLED, claim.account_id, counted.claim_id,
                                       {"number": number, "reason": HOLDER_PROVED}))
            events.append((claim.account_id, "custom_number.cancelled",
                           {**event_data(counted.claim_id, number, None, CANCELLED), "reason": HOLDER_PROVED}))
    audit.record_many(conn, at=now, actor=actor, entries=entries)
    domain_events.emit(conn, now=now, events=events)
    if counted.status == LAPSED:
        senders_changed(ctx, account.id)  # a sender again
    return Verified(counted.id)
