"""Managing registrations: get, list, delete, resend; and search across accounts (operators).

A registration shows as ``expired`` when it is pending and its code ran out (derived,
never stored). Deleting ends a pending or active registration and frees the number for
others; a new code comes with the sending limits of :mod:`senderid.domain.custom_numbers.limits`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, func, select, update

from senderid.domain import audit, outbox
from senderid.domain import events as domain_events
from senderid.domain.context import Context
from senderid.domain.custom_numbers.changes import event_data as _event_data
from senderid.domain.custom_numbers.changes import senders_changed as _senders_changed
from senderid.domain.custom_numbers.limits import read_state
from senderid.domain.custom_numbers.register import is_blank, send_otp
from senderid.domain.custom_numbers.schedule import shown_reverify_by
from senderid.domain.custom_numbers.statements import (
    ACTIVE,
    CANCELLED,
    CLAIMING,
    DELETED,
    EXPIRED,
    LAPSED,
    PENDING,
    RECLAIMED,
    RELEASED,
)
from senderid.domain.types import Account, Actor, CustomNumberStatus, Registration, VerifiedBy
from senderid.errors import Conflict, InvalidRequest, NotFound
from senderid.numbers import InvalidNumber, parse_mobile
from senderid.store.coltypes import constant
from senderid.store.tables import custom_numbers

READABLE_STATUSES = tuple(CustomNumberStatus)  # what listings show and filter on


def _view(m: Mapping[Any, Any], now: datetime, notice_days: float) -> Registration:
    """A registration row as shown: a pending one whose code ran out is ``expired``; an
    active one shows when it lapses (``reverify_by``), a claim when it is decided."""
    status = CustomNumberStatus(m["status"])
    verified_by = m.get("verified_by")
    if status == PENDING and (m["otp_expires_at"] is None or m["otp_expires_at"] <= now):
        status = EXPIRED
    return Registration(
        id=m["id"], account_id=m["account_id"], name=m["name"], number=m["number"], status=status,
        otp_expires_at=m["otp_expires_at"] if status == PENDING else None, created_at=m["created_at"],
        updated_at=m["updated_at"], verified_at=m["verified_at"], ended_at=m["ended_at"],
        verified_by=VerifiedBy(verified_by) if verified_by else None,
        reverify_by=(shown_reverify_by(m.get("reverify_by"), m.get("reverify_noticed_at"), now, notice_days)
                     if status in (ACTIVE, LAPSED) else None),
        decides_at=m.get("decides_at") if status == CLAIMING else None,
    )


def _status_filter(status: str, now: datetime) -> Any:
    if status not in READABLE_STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(READABLE_STATUSES)}")
    if status == PENDING:
        return (custom_numbers.c.status == constant(PENDING)) & (custom_numbers.c.otp_expires_at > now)
    if status == EXPIRED:
        return (custom_numbers.c.status == constant(PENDING)) & (custom_numbers.c.otp_expires_at <= now)
    return custom_numbers.c.status == status


def get_registration(ctx: Context, account_id: str, registration_id: str) -> Registration:
    with ctx.db.read() as conn:
        row = _owned(conn, account_id, registration_id)
    return _view(row._mapping, ctx.clock.now(), ctx.settings.reverify_notice_days)


def list_registrations(
    ctx: Context, account_id: str, *, status: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[Registration], int]:
    """One page, newest first (ties broken by id, so pages are stable), and the total."""
    now = ctx.clock.now()
    where = custom_numbers.c.account_id == account_id
    if status:
        where = where & _status_filter(status, now)
    with ctx.db.read() as conn:
        total = conn.execute(select(func.count()).select_from(custom_numbers).where(where)).scalar_one()
        rows = conn.execute(
            select(custom_numbers)
            .where(where)
            .order_by(custom_numbers.c.created_at.desc(), custom_numbers.c.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
    return [_view(row._mapping, now, ctx.settings.reverify_notice_days) for row in rows], total


def delete(ctx: Context, account: Account, registration_id: str, *, actor: Actor) -> Registration:
    """End a pending, active, lapsed or claiming registration (a claim withdrawn): the
    number is free for others. Idempotent.

    An active one was a sender of the account: its gateway messages still queued from the
    number are cancelled and refunded in the same transaction (:func:`senderid.domain.outbox.sender_removed`)."""
    with ctx.db.write() as conn:
        row = _owned(conn, account.id, registration_id)
        if not ctx.db.is_sqlite:  # SQLite's writer lock already excludes every other writer
            ctx.db.lock(conn, f"number:{row.number}")
            row = _owned(conn, account.id, registration_id)  # as it is now that we hold the lock
        now = ctx.clock.now()
        if row.status == CANCELLED:
            raise Conflict("This registration was cancelled (another account verified the number first)")
        if row.status in (RELEASED, RECLAIMED):
            raise Conflict(f"This registration ended: the number was {row.status}")
        view = dict(row._mapping)
        if row.status != DELETED:
            conn.execute(
                update(custom_numbers)
                .where(custom_numbers.c.id == row.id)
                .values(status=DELETED, ended_at=now, updated_at=now, due_at=None)
            )
            outbox.cancel_otps(conn, [row.id], now)
            # no longer the account's sender: what it still has queued from the number goes too
            held = (outbox.sender_removed(conn, now=now, account_id=account.id, sender=row.number)
                    if row.status == ACTIVE else [])
            audit.record(
                conn, at=now, actor=actor, action=audit.Action.CUSTOM_NUMBER_DELETED, account_id=account.id,
                subject=row.id, number=row.number, previous_status=row.status, **outbox.audit_details(held),
            )
            domain_events.emit(conn, now=now, events=[
                (account.id, "custom_number.deleted", _event_data(row.id, row.number, row.name, DELETED))])
            if row.status == ACTIVE:
                _senders_changed(ctx, account.id)
            view.update(status=DELETED, ended_at=now, updated_at=now)
    return _view(view, now, ctx.settings.reverify_notice_days)


def resend(ctx: Context, account: Account, registration_id: str, *, actor: Actor) -> Registration:
    """A fresh code for a pending (or expired) registration; cooldown and limits apply."""
    with ctx.db.write() as conn:
        row = _owned(conn, account.id, registration_id)
        if not ctx.db.is_sqlite:
            ctx.db.lock(conn, f"number:{row.number}", f"account:{account.id}")
            row = _owned(conn, account.id, registration_id)  # as it is now that we hold the lock
        if row.status != PENDING:
            raise Conflict(f"Only a pending registration can get a new code; this one is {row.status}")
        now = ctx.clock.now()
        state = read_state(ctx, conn, account.id, row.number, now)
        send_otp(ctx, conn, account, row.name, row.number, state, now, actor)
        view = dict(row._mapping)
        view.update(otp_expires_at=now + timedelta(seconds=ctx.settings.otp_ttl_seconds), updated_at=now)
    return _view(view, now, ctx.settings.reverify_notice_days)


def _owned(conn: Connection, account_id: str, registration_id: str) -> Row[Any]:
    row = conn.execute(
        select(custom_numbers).where(
            custom_numbers.c.id == registration_id, custom_numbers.c.account_id == account_id
        )
    ).first()
    if row is None:
        raise NotFound(f"No custom number with id {registration_id} in your account")
    return row


# -- search across accounts (operators) ------------------------------------------------


def search(
    ctx: Context,
    *,
    number: object = None,
    status: str | None = None,
    account_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Registration], int]:
    """Registrations of every account, for operators: one page (newest first) and the total.

    ``number`` is any accepted input form (``0491 570 156``, ``+61491570156``, ...);
    ``status`` as in :func:`list_registrations`. Read-only.
    """
    now = ctx.clock.now()
    where = []
    if number is not None and not is_blank(number):
        try:
            where.append(custom_numbers.c.number == parse_mobile(number, ctx.settings.allowed_regions))
        except InvalidNumber:
            raise InvalidRequest("number is not a valid mobile number") from None
    if status:
        where.append(_status_filter(status, now))
    if account_id is not None:
        where.append(custom_numbers.c.account_id == account_id)
    with ctx.db.read() as conn:
        total = conn.execute(select(func.count()).select_from(custom_numbers).where(*where)).scalar_one()
        rows = conn.execute(
            select(custom_numbers)
            .where(*where)
            .order_by(custom_numbers.c.created_at.desc(), custom_numbers.c.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
    return [_view(row._mapping, now, ctx.settings.reverify_notice_days) for row in rows], total
