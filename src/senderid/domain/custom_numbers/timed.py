"""What happens to registrations with time: the worker's right-of-use tick.

Every second or so the worker calls :func:`tick`, which acts on each registration whose
``due_at`` has come (one indexed query; nothing else when none has):

* an ``active`` number proven by a code, not told yet: its account gets
  ``custom_number.reverify_due`` (``id``, ``number``, ``lapsesAt``), and it lapses no sooner
  than ``SENDERID_REVERIFY_NOTICE_DAYS`` from now;
* an ``active`` number told, whose ``reverify_by`` has come: ``lapsed``. It is no longer a
  sender (the change signal makes every process forget the account's senders; the gateway's
  claim re-checks the tables), and its queued messages are cancelled in the same
  transaction (:func:`senderid.domain.outbox.sender_removed`);
* a ``lapsed`` number held ``SENDERID_LAPSED_HOLD_DAYS``: ``released`` (anyone may add it);
* a ``claiming`` registration whose ``decidesAt`` has come: the holder's registration
  ends ``reclaimed`` (its queued messages cancelled) and the claimer's becomes ``active``.

Each registration is handled in a transaction of its own, under the number's lock, after
reading it again: several workers may tick at once, and a holder proving possession at the
deadline is either before the decision or too late, never both.

:func:`reconcile` (run when a worker starts, and for one account when its own setting
changes) recomputes the schedule of active numbers whose schedule was computed from other
settings (or never: numbers active before re-verification existed), giving each its full
notice period.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from senderid.clock import iso_ms
from senderid.domain import audit, outbox
from senderid.domain import events as domain_events
from senderid.domain.custom_numbers.changes import cancel_other_pending, event_data
from senderid.domain.custom_numbers.schedule import after_days, days, noticed, schedule
from senderid.domain.custom_numbers.statements import ACTIVE, CLAIMING, HELD, LAPSED, RECLAIMED, RELEASED
from senderid.domain.types import SYSTEM, VerifiedBy
from senderid.settings import Settings
from senderid.store.coltypes import UTCDateTime, constant, constants
from senderid.store.db import Database
from senderid.store.tables import accounts, custom_numbers

BATCH = 100
Forget = Callable[[str], None]  # an account whose senders changed (this process's cache)

_DUE = (select(custom_numbers.c.id, custom_numbers.c.number)
        .where(custom_numbers.c.due_at <= bindparam("now", type_=UTCDateTime))
        .order_by(custom_numbers.c.due_at).limit(BATCH))
_OVERRIDE = select(accounts.c.reverify_after_days).where(accounts.c.id == bindparam("account_id"))


@dataclass(frozen=True, slots=True)
class Ticked:
    noticed: int = 0
    lapsed: int = 0
    released: int = 0
    reclaimed: int = 0


def tick(db: Database, settings: Settings, now: datetime, *, forget: Forget | None = None) -> Ticked:
    """Act on every registration whose moment has come (up to :data:`BATCH` per call)."""
    with db.read() as conn:
        due = conn.execute(_DUE, {"now": now}).all()
    done = {"noticed": 0, "lapsed": 0, "released": 0, "reclaimed": 0}
    for row in due:
        with db.write() as conn:
            db.lock(conn, f"number:{row.number}")
            current = conn.execute(select(custom_numbers).where(custom_numbers.c.id == row.id)).first()
            if current is None or current.due_at is None or current.due_at > now:
                continue  # another worker acted on it
            what = _act(db, conn, settings, current, now, forget)
            if what:
                done[what] += 1
    return Ticked(**done)


def _act(db: Database, conn: Connection, settings: Settings, row: Any, now: datetime,
         forget: Forget | None) -> str | None:
    if row.status == ACTIVE and row.verified_by == VerifiedBy.OTP and row.reverify_by is not None:
        if row.reverify_noticed_at is None:
            return _notice(conn, settings, row, now)
        if row.reverify_by <= now:
            return _lapse(db, conn, settings, row, now, forget)
        _set(conn, row.id, due_at=row.reverify_by)
        return None
    if row.status == LAPSED and row.reverify_by is not None:
        releases = row.reverify_by + days(settings.lapsed_hold_days)
        if releases <= now:
            return _release(conn, row, now)
        _set(conn, row.id, due_at=releases)
        return None
    if row.status == CLAIMING and row.decides_at is not None and row.decides_at <= now:
        return _decide(db, conn, settings, row, now, forget)
    _set(conn, row.id, due_at=None)  # nothing is due any more (its status changed)
    return None


def _set(conn: Connection, registration_id: str, **values: Any) -> None:
    conn.execute(update(custom_numbers).where(custom_numbers.c.id == registration_id).values(**values))


def _notice(conn: Connection, settings: Settings, row: Any, now: datetime) -> str:
    lapses = noticed(row.reverify_by, now, settings.reverify_notice_days)
    _set(conn, row.id, reverify_noticed_at=now, reverify_by=lapses, due_at=lapses)
    audit.record(conn, at=now, actor=SYSTEM, action=audit.Action.CUSTOM_NUMBER_REVERIFY_DUE,
                 account_id=row.account_id, subject=row.id, number=row.number, lapses_at=iso_ms(lapses))
    domain_events.emit(conn, now=now, events=[(row.account_id, "custom_number.reverify_due",
                                               {"id": row.id, "number": row.number, "lapsesAt": iso_ms(lapses)})])
    return "noticed"


def _lapse(db: Database, conn: Connection, settings: Settings, row: Any, now: datetime,
           forget: Forget | None) -> str:
    releases = row.reverify_by + days(settings.lapsed_hold_days)
    _set(conn, row.id, status=LAPSED, updated_at=now, due_at=releases)
    held = outbox.sender_removed(conn, now=now, account_id=row.account_id, sender=row.number)
    audit.record(conn, at=now, actor=SYSTEM, action=audit.Action.CUSTOM_NUMBER_LAPSED, account_id=row.account_id,
                 subject=row.id, number=row.number, releases_at=iso_ms(releases), **outbox.audit_details(held))
    domain_events.emit(conn, now=now, events=[(row.account_id, "custom_number.lapsed", {
        **event_data(row.id, row.number, row.name, LAPSED), "releasesAt": iso_ms(releases)})])
    _forget(db, forget, row.account_id)
    return "lapsed"


def _release(conn: Connection, row: Any, now: datetime) -> str:
    _set(conn, row.id, status=RELEASED, ended_at=now, updated_at=now, due_at=None, otp_hash=None,
         otp_purpose=None)
    outbox.cancel_otps(conn, [row.id], now)  # a code asked for, not used in time
    audit.record(conn, at=now, actor=SYSTEM, action=audit.Action.CUSTOM_NUMBER_RELEASED, account_id=row.account_id,
                 subject=row.id, number=row.number)
    domain_events.emit(conn, now=now, events=[(row.account_id, "custom_number.released",
                                               event_data(row.id, row.number, row.name, RELEASED))])
    return "released"


def _decide(db: Database, conn: Connection, settings: Settings, claim: Any, now: datetime,
            forget: Forget | None) -> str:
    """The claim won: the holders' registrations end ``reclaimed``, the claimer's is active."""
    holders = conn.execute(
        select(custom_numbers.c.id, custom_numbers.c.account_id, custom_numbers.c.status, custom_numbers.c.name)
        .where(custom_numbers.c.number == claim.number, custom_numbers.c.status.in_(constants(HELD)))).all()
    entries: list[audit.Entry] = []
    events: list[domain_events.Event] = []
    if holders:
        ids = [h.id for h in holders]
        conn.execute(update(custom_numbers).where(custom_numbers.c.id.in_(ids)).values(
            status=RECLAIMED, ended_at=now, updated_at=now, due_at=None, otp_hash=None, otp_purpose=None))
        outbox.cancel_otps(conn, ids, now)
    for holder in holders:
        held = (outbox.sender_removed(conn, now=now, account_id=holder.account_id, sender=claim.number)
                if holder.status == ACTIVE else [])
        entries.append(audit.Entry(audit.Action.CUSTOM_NUMBER_RECLAIMED, holder.account_id, holder.id,
                                   {"number": claim.number, "previous_status": holder.status,
                                    "claimer_account": claim.account_id, "claim": claim.id,
                                    **outbox.audit_details(held)}))
        events.append((holder.account_id, "custom_number.reclaimed",
                       event_data(holder.id, claim.number, holder.name, RECLAIMED)))
        _forget(db, forget, holder.account_id)
    override = conn.execute(_OVERRIDE, {"account_id": claim.account_id}).scalar()
    plan = schedule(now, after_days(settings, override), None, now, settings.reverify_notice_days)
    _set(conn, claim.id, status=ACTIVE, verified_at=now, verified_by=VerifiedBy.OTP, otp_purpose=None,
         decides_at=None, updated_at=now, **plan.values())
    entries.append(audit.Entry(audit.Action.CUSTOM_NUMBER_VERIFIED, claim.account_id, claim.id,
                               {"number": claim.number, "reclaimed": True}))
    events.append((claim.account_id, "custom_number.verified", event_data(claim.id, claim.number, claim.name, ACTIVE)))
    cancel_other_pending(conn, claim.number, keep=claim.id, now=now, entries=entries, events=events)
    audit.record_many(conn, at=now, actor=SYSTEM, entries=entries)
    domain_events.emit(conn, now=now, events=events)
    _forget(db, forget, claim.account_id)
    return "reclaimed"


def _forget(db: Database, forget: Forget | None, account_id: str) -> None:
    if forget is not None:
        db.after_commit(lambda: forget(account_id))


# -- schedules computed from other settings -------------------------------------------------


def reconcile(db: Database, settings: Settings, now: datetime, *, account_id: str | None = None) -> int:
    """Recompute the schedule of every active number proven by a code whose schedule was
    computed from other days than its account's now (all accounts, or one). Returns how
    many changed. A number overdue gets its notice from the next tick and its full notice
    period from then."""
    effective = func.coalesce(accounts.c.reverify_after_days, settings.reverify_after_days)
    query = (select(custom_numbers.c.id, custom_numbers.c.verified_at, custom_numbers.c.reverify_noticed_at,
                    effective.label("after"))
             .join(accounts, accounts.c.id == custom_numbers.c.account_id)
             .where(custom_numbers.c.status == constant(ACTIVE), custom_numbers.c.verified_by == VerifiedBy.OTP,
                    func.coalesce(custom_numbers.c.reverify_after_days, -1) != effective))
    if account_id is not None:
        query = query.where(custom_numbers.c.account_id == account_id)
    changed = 0
    while True:
        with db.write() as conn:
            rows = conn.execute(query.limit(500)).all()
            for row in rows:
                plan = schedule(row.verified_at, float(row.after), row.reverify_noticed_at, now,
                                settings.reverify_notice_days)
                _set(conn, row.id, **plan.values())
        changed += len(rows)
        if len(rows) < 500:
            return changed
