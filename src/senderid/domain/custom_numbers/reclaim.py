"""Reclaim by possession: an account that has the phone takes a number another account holds.

``POST /api/v1/customNumber/reclaim`` (``name``, ``number``) sends a code to a number
another account holds (active or lapsed), under add's sending limits; the code's
registration is pending with ``otp_purpose`` ``reclaim``. Its right code opens a claim
(:func:`open_claim`): the registration is ``claiming`` until ``decidesAt``
(``SENDERID_RECLAIM_GRACE_DAYS`` later), and the holder is told
(``custom_number.reclaim_started``). The holder keeps sending meanwhile; if it proves
possession first (:mod:`.reverify`) the claim is cancelled, otherwise the worker's tick
(:mod:`.timed`) moves the number within seconds of ``decidesAt``: the holder's registration
ends ``reclaimed`` and the claimer's becomes ``active``.

One claim per number is open at a time (a unique index says so too): a second claimer
gets a 409 until it is decided. A protected number cannot be reclaimed by an account not
allowed it; an account without OTP cannot reclaim at all (a claim is a proof of possession).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from senderid.clock import iso_ms
from senderid.domain import audit
from senderid.domain import events as domain_events
from senderid.domain.context import Context
from senderid.domain.custom_numbers.changes import Verified
from senderid.domain.custom_numbers.limits import read_state
from senderid.domain.custom_numbers.register import AddResult, clean_input, refuse_protected, send_otp
from senderid.domain.custom_numbers.schedule import days
from senderid.domain.custom_numbers.statements import CLAIMING, HELD, RECLAIM, TAKEN
from senderid.domain.types import Account, Actor
from senderid.errors import (
    ClaimOpen,
    NumberNotHeldByAnother,
    NumberProtected,
    ReclaimNeedsOtp,
)
from senderid.store.coltypes import constants
from senderid.store.tables import custom_numbers


def reclaim(ctx: Context, account: Account, *, name: object, number: object, actor: Actor) -> AddResult:
    """Send a code to a number another account holds, to claim it."""
    if not account.otp_required:
        raise ReclaimNeedsOtp()
    valid_name, e164 = clean_input(ctx, name, number)
    result: AddResult | None = None
    with ctx.db.write() as conn:
        now = ctx.clock.now()
        ctx.db.lock(conn, f"number:{e164}", f"account:{account.id}")
        state = read_state(ctx, conn, account.id, e164, now)
        if state.protected:  # recorded, and refused once the record is committed
            refuse_protected(conn, account, e164, now, actor)
        else:
            takers = conn.execute(select(custom_numbers.c.account_id, custom_numbers.c.status).where(
                custom_numbers.c.number == e164, custom_numbers.c.status.in_(constants(TAKEN)))).all()
            if any(t.status == CLAIMING for t in takers):
                raise ClaimOpen()
            if not any(t.account_id != account.id and t.status in HELD for t in takers):
                raise NumberNotHeldByAnother()
            result = send_otp(ctx, conn, account, valid_name, e164, state, now, actor, purpose=RECLAIM)
    if result is None:
        raise NumberProtected()
    return result


def open_claim(ctx: Context, conn: Connection, account: Account, name: str, number: str, counted: Any,
               now: datetime, actor: Actor) -> Verified:
    """The claimer's right code: its registration is ``claiming`` until ``decidesAt``; the
    holder is told and both accounts' audit trails record it."""
    decides_at = now + days(ctx.settings.reclaim_grace_days)
    conn.execute(update(custom_numbers).where(custom_numbers.c.id == counted.id).values(
        status=CLAIMING, name=name, decides_at=decides_at, due_at=decides_at, updated_at=now))
    holder = conn.execute(select(custom_numbers.c.id, custom_numbers.c.account_id)
                          .where(custom_numbers.c.id == counted.taken)).one()
    stamp = iso_ms(decides_at)
    audit.record_many(conn, at=now, actor=actor, entries=[
        audit.Entry(audit.Action.CUSTOM_NUMBER_RECLAIM_STARTED, account.id, counted.id,
                    {"number": number, "holder_account": holder.account_id, "holder_registration": holder.id,
                     "decides_at": stamp}),
        audit.Entry(audit.Action.CUSTOM_NUMBER_RECLAIM_STARTED, holder.account_id, holder.id,
                    {"number": number, "claimer_account": account.id, "claim": counted.id, "decides_at": stamp}),
    ])
    domain_events.emit(conn, now=now, events=[
        (holder.account_id, "custom_number.reclaim_started", {"id": holder.id, "number": number,
                                                              "decidesAt": stamp})])
    return Verified(counted.id, decides_at)
