"""Custom numbers: register a number as a sender, prove it with an OTP.

The rules (SPEC §3):

* a registration is ``pending`` until its OTP is verified, then ``active``;
  it ends ``cancelled`` (another account verified the number first) or
  ``deleted``;
* a number is active for at most one account (a partial unique index says
  so too); while it is only pending, several accounts may hold a pending
  registration, so nobody can squat a number they do not own: the first to
  verify wins and the others are cancelled in the same transaction;
* OTP SMS are limited per account and number (cooldown and hourly), per
  number across accounts, and per account; one account's sends never use up
  another account's allowance for the same number;
* a registration and its OTP SMS are written in one transaction (the outbox).

Work on one number is serialised by :meth:`Database.lock`, so the checks and
the writes that follow them see the same state on PostgreSQL too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from enum import Enum

from sqlalchemy import Connection, Select, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from senderid import ids, otp
from senderid.delivery import events, outbox
from senderid.domain import audit
from senderid.domain.accounts import Account
from senderid.domain.context import Actor, Context
from senderid.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    MobileNumberInvalid,
    MobileNumberRequired,
    NameRequired,
    NumberAlreadyExists,
    OtpVerificationFailed,
    RateLimited,
    VerifyNameRequired,
    VerifyNumberRequired,
)
from senderid.numbers import InvalidNumber, parse_mobile
from senderid.store.coltypes import UTCDateTime
from senderid.store.tables import custom_numbers, otp_sends

PENDING, ACTIVE, CANCELLED, DELETED = "pending", "active", "cancelled", "deleted"
MAX_NAME_LENGTH = 100
HOUR = timedelta(hours=1)


class AddOutcome(Enum):
    CREATED = "created"  # active at once (account does not require OTP)
    OTP_SENT = "otp_sent"


@dataclass(frozen=True, slots=True)
class AddResult:
    outcome: AddOutcome
    id: str
    number: str


# -- input ---------------------------------------------------------------------------


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _clean_name(value: object, missing: type[Exception]) -> str:
    if not isinstance(value, str) or not value.strip():
        raise missing()
    name = value.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidRequest(f"Name must be at most {MAX_NAME_LENGTH} characters")
    if not name.isprintable():
        raise InvalidRequest("Name must not contain control characters")
    return name


def _clean_otp(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**otp.CODE_LENGTH:
        value = f"{value:0{otp.CODE_LENGTH}d}"
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return None


# -- add -----------------------------------------------------------------------------


def add(ctx: Context, account: Account, *, name: object, number: object, actor: Actor) -> AddResult:
    """Register ``number`` for ``account``: at once, or by sending an OTP to it."""
    clean_name = _clean_name(name, NameRequired)
    if _is_blank(number):
        raise MobileNumberRequired()
    try:
        e164 = parse_mobile(number, ctx.settings.allowed_regions)
    except InvalidNumber:
        raise MobileNumberInvalid() from None

    try:
        with ctx.db.write() as conn:
            ctx.db.lock(conn, f"number:{e164}")
            active = conn.execute(
                select(custom_numbers.c.id).where(
                    custom_numbers.c.number == e164, custom_numbers.c.status == ACTIVE
                )
            ).first()
            if active is not None:
                raise NumberAlreadyExists()
            if not account.otp_required:
                result = _create_active(ctx, conn, account, clean_name, e164, actor)
            else:
                result = _send_otp(ctx, conn, account, clean_name, e164, actor)
    except IntegrityError:
        # Another transaction activated the number between our check and our write
        # (only possible without the lock); the unique index had the last word.
        raise NumberAlreadyExists() from None
    if result.outcome is AddOutcome.OTP_SENT:
        ctx.on_enqueue()
    return result


def _create_active(
    ctx: Context, conn: Connection, account: Account, name: str, number: str, actor: Actor
) -> AddResult:
    now = ctx.clock.now()
    registration_id = ids.new_id()
    conn.execute(
        insert(custom_numbers).values(
            id=registration_id, account_id=account.id, number=number, name=name, status=ACTIVE,
            created_at=now, updated_at=now, verified_at=now,
        )
    )
    audit.record(
        conn, at=now, actor=actor, action="custom_number.created", account_id=account.id,
        subject=registration_id, number=number, otp_required=False,
    )
    events.emit(conn, now=now, account_id=account.id, type="custom_number.verified",
                data=_event_data(registration_id, number, name, ACTIVE))
    _cancel_other_pending(ctx, conn, number, keep=registration_id, now=now, actor=actor)
    return AddResult(AddOutcome.CREATED, registration_id, number)


def _send_otp(
    ctx: Context, conn: Connection, account: Account, name: str, number: str, actor: Actor
) -> AddResult:
    now = ctx.clock.now()
    ctx.db.lock(conn, f"account:{account.id}")
    _check_send_limits(ctx, conn, account.id, number, now)

    test_code = ctx.settings.test_otp_for(number)
    code = test_code or otp.generate_code()
    expires_at = now + timedelta(seconds=ctx.settings.otp_ttl_seconds)
    otp_fields = dict(
        otp_hash=otp.hash_code(ctx.secret, number, code),
        otp_expires_at=expires_at,
        otp_attempts=0,
        otp_sent_at=now,
        updated_at=now,
    )
    pending = conn.execute(
        select(custom_numbers.c.id).where(
            custom_numbers.c.account_id == account.id,
            custom_numbers.c.number == number,
            custom_numbers.c.status == PENDING,
        )
    ).first()
    if pending is not None:
        registration_id = pending.id
        conn.execute(
            update(custom_numbers)
            .where(custom_numbers.c.id == registration_id)
            .values(name=name, **otp_fields)
        )
        outbox.cancel_queued_otps(conn, registration_id, now)
        action = "custom_number.otp_resent"
    else:
        registration_id = ids.new_id()
        conn.execute(
            insert(custom_numbers).values(
                id=registration_id, account_id=account.id, number=number, name=name,
                status=PENDING, created_at=now, **otp_fields,
            )
        )
        action = "custom_number.otp_sent"
    conn.execute(insert(otp_sends).values(account_id=account.id, number=number, created_at=now))
    if test_code is None:
        minutes = math.ceil(ctx.settings.otp_ttl_seconds / 60)
        template = ctx.settings.otp_template
        outbox.enqueue(
            conn,
            now=now,
            kind="otp",
            to=number,
            sender=ctx.settings.otp_sender,
            body=template.format(code=code, number=number, minutes=minutes),
            redacted_body=template.format(code="*" * otp.CODE_LENGTH, number=number, minutes=minutes),
            account_id=account.id,
            custom_number_id=registration_id,
            expires_at=expires_at,
        )
    audit.record(
        conn, at=now, actor=actor, action=action, account_id=account.id,
        subject=registration_id, number=number, test_number=test_code is not None,
    )
    return AddResult(AddOutcome.OTP_SENT, registration_id, number)


_MINE = (otp_sends.c.account_id == bindparam("account_id")) & (otp_sends.c.number == bindparam("number"))
_LAST_SEND = select(func.max(otp_sends.c.created_at)).where(_MINE)
_WINDOWS = (
    ("otp_max_per_account_number_per_hour", _MINE,
     "Too many codes sent to this number for your account in the last hour"),
    ("otp_max_per_number_per_hour", otp_sends.c.number == bindparam("number"),
     "Too many codes sent to this number in the last hour"),
    ("otp_max_per_account_per_hour", otp_sends.c.account_id == bindparam("account_id"),
     "Your account has sent too many codes in the last hour"),
)


@lru_cache(maxsize=32)
def _nth_newest_send(window: int, limit: int) -> Select[tuple[datetime]]:
    """The ``limit``-th newest send inside the hour, if there is one (an index range scan)."""
    where = _WINDOWS[window][1]
    return (
        select(otp_sends.c.created_at)
        .where(where, otp_sends.c.created_at > bindparam("since", type_=UTCDateTime))
        .order_by(otp_sends.c.created_at.desc())
        .limit(1)
        .offset(limit - 1)
    )


def _check_send_limits(ctx: Context, conn: Connection, account_id: str, number: str, now: datetime) -> None:
    """Raise RateLimited when another OTP SMS would break a sending limit.

    When several limits refuse, the answer names the one that lasts longest and
    Retry-After is when a retry can succeed (waiting out a shorter one would only
    earn another 429).
    """
    s = ctx.settings
    params = {"account_id": account_id, "number": number, "since": now - HOUR}
    refusals: list[tuple[int, str]] = []

    last = conn.execute(_LAST_SEND, params).scalar()
    if last is not None:
        wait = math.ceil((last + timedelta(seconds=s.otp_resend_cooldown_seconds) - now).total_seconds())
        if wait > 0:
            refusals.append((wait, f"A code was sent to this number moments ago; wait {wait} seconds "
                                   "before asking for another"))
    for window, (setting, _where, message) in enumerate(_WINDOWS):
        limit = getattr(s, setting)
        nth = conn.execute(_nth_newest_send(window, limit), params).scalar()
        if nth is not None:
            # The window frees up when the oldest of the last `limit` sends is an hour old.
            wait = math.ceil((nth + HOUR - now).total_seconds())
            refusals.append((wait, f"{message}; try again in {wait} seconds"))
    if refusals:
        wait, message = max(refusals)
        raise RateLimited(message, wait)


def _event_data(registration_id: str, number: str, name: str | None, status: str) -> dict[str, object]:
    data: dict[str, object] = {"id": registration_id, "number": number, "status": status}
    if name is not None:
        data["name"] = name
    return data


def _cancel_other_pending(
    ctx: Context, conn: Connection, number: str, *, keep: str, now: datetime, actor: Actor
) -> None:
    """The number is now active for one registration: every other pending one ends."""
    others = conn.execute(
        select(custom_numbers.c.id, custom_numbers.c.account_id).where(
            custom_numbers.c.number == number,
            custom_numbers.c.status == PENDING,
            custom_numbers.c.id != keep,
        )
    ).all()
    for other in others:
        conn.execute(
            update(custom_numbers)
            .where(custom_numbers.c.id == other.id)
            .values(status=CANCELLED, ended_at=now, updated_at=now, otp_hash=None)
        )
        outbox.cancel_queued_otps(conn, other.id, now)
        audit.record(
            conn, at=now, actor=actor, action="custom_number.cancelled",
            account_id=other.account_id, subject=other.id, number=number,
            reason="verified by another account",
        )
        events.emit(conn, now=now, account_id=other.account_id, type="custom_number.cancelled",
                    data={**_event_data(other.id, number, None, CANCELLED),
                          "reason": "verified by another account"})



# -- management ----------------------------------------------------------------------

EXPIRED = "expired"  # a pending registration whose code ran out (derived, never stored)
READABLE_STATUSES = (PENDING, EXPIRED, ACTIVE, CANCELLED, DELETED)


def _view(row: object, now: datetime) -> dict[str, object]:
    m = row._mapping  # type: ignore[attr-defined]
    status = m["status"]
    if status == PENDING and (m["otp_expires_at"] is None or m["otp_expires_at"] <= now):
        status = EXPIRED
    return {
        "id": m["id"],
        "account_id": m["account_id"],
        "name": m["name"],
        "number": m["number"],
        "status": status,
        "otp_expires_at": m["otp_expires_at"] if status == PENDING else None,
        "created_at": m["created_at"],
        "updated_at": m["updated_at"],
        "verified_at": m["verified_at"],
        "ended_at": m["ended_at"],
    }


def _status_filter(status: str, now: datetime):  # type: ignore[no-untyped-def]
    if status not in READABLE_STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(READABLE_STATUSES)}")
    if status == PENDING:
        return (custom_numbers.c.status == PENDING) & (custom_numbers.c.otp_expires_at > now)
    if status == EXPIRED:
        return (custom_numbers.c.status == PENDING) & (custom_numbers.c.otp_expires_at <= now)
    return custom_numbers.c.status == status


def get_registration(ctx: Context, account_id: str, registration_id: str) -> dict[str, object]:
    with ctx.db.read() as conn:
        row = conn.execute(
            select(custom_numbers).where(
                custom_numbers.c.id == registration_id, custom_numbers.c.account_id == account_id
            )
        ).first()
    if row is None:
        raise NotFound(f"No custom number with id {registration_id} in your account")
    return _view(row, ctx.clock.now())


def list_registrations(
    ctx: Context, account_id: str, *, status: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[dict[str, object]], int]:
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
    return [_view(row, now) for row in rows], total


def delete(ctx: Context, account: Account, registration_id: str, *, actor: Actor) -> dict[str, object]:
    """End a pending or active registration: the number is free for others. Idempotent."""
    with ctx.db.write() as conn:
        row = _owned(conn, account.id, registration_id)
        ctx.db.lock(conn, f"number:{row.number}")
        row = _owned(conn, account.id, registration_id)  # as it is now that we hold the lock
        now = ctx.clock.now()
        if row.status == CANCELLED:
            raise Conflict("This registration was cancelled (another account verified the number first)")
        if row.status != DELETED:
            conn.execute(
                update(custom_numbers)
                .where(custom_numbers.c.id == row.id)
                .values(status=DELETED, ended_at=now, updated_at=now)
            )
            outbox.cancel_queued_otps(conn, row.id, now)
            audit.record(
                conn, at=now, actor=actor, action="custom_number.deleted", account_id=account.id,
                subject=row.id, number=row.number, previous_status=row.status,
            )
            events.emit(conn, now=now, account_id=account.id, type="custom_number.deleted",
                        data=_event_data(row.id, row.number, row.name, DELETED))
    return get_registration(ctx, account.id, registration_id)


def resend(ctx: Context, account: Account, registration_id: str, *, actor: Actor) -> dict[str, object]:
    """A fresh code for a pending (or expired) registration; cooldown and limits apply."""
    with ctx.db.write() as conn:
        row = _owned(conn, account.id, registration_id)
        ctx.db.lock(conn, f"number:{row.number}")
        row = _owned(conn, account.id, registration_id)  # as it is now that we hold the lock
        if row.status != PENDING:
            raise Conflict(f"Only a pending registration can get a new code; this one is {row.status}")
        _send_otp(ctx, conn, account, row.name, row.number, actor)
    ctx.on_enqueue()
    return get_registration(ctx, account.id, registration_id)


def _owned(conn: Connection, account_id: str, registration_id: str):  # type: ignore[no-untyped-def]
    row = conn.execute(
        select(custom_numbers).where(
            custom_numbers.c.id == registration_id, custom_numbers.c.account_id == account_id
        )
    ).first()
    if row is None:
        raise NotFound(f"No custom number with id {registration_id} in your account")
    return row


# -- verify --------------------------------------------------------------------------


def verify(
    ctx: Context, account: Account, *, name: object, number: object, code: object, actor: Actor
) -> str:
    """Check the OTP of a pending registration and activate it. Returns its id.

    Every failure is the same OtpVerificationFailed, so a caller learns nothing
    about which part was wrong.
    """
    clean_name = _clean_name(name, VerifyNameRequired)
    if _is_blank(number):
        raise VerifyNumberRequired()
    clean_code = _clean_otp(code)
    if clean_code is None:
        raise OtpVerificationFailed()
    try:
        e164 = parse_mobile(number, ctx.settings.allowed_regions)
    except InvalidNumber:
        raise OtpVerificationFailed() from None

    verified_id: str | None = None
    try:
        with ctx.db.write() as conn:
            ctx.db.lock(conn, f"number:{e164}")
            verified_id = _verify_locked(ctx, conn, account, clean_name, e164, clean_code, actor)
    except IntegrityError:
        verified_id = None
    if verified_id is None:
        raise OtpVerificationFailed()
    return verified_id


def _verify_locked(
    ctx: Context, conn: Connection, account: Account, name: str, number: str, code: str, actor: Actor
) -> str | None:
    now = ctx.clock.now()
    row = conn.execute(
        select(custom_numbers)
        .where(
            custom_numbers.c.account_id == account.id,
            custom_numbers.c.number == number,
            custom_numbers.c.status.in_([PENDING, ACTIVE]),
        )
        .order_by(custom_numbers.c.created_at.desc())
        .limit(1)
    ).first()
    if row is None or row.otp_expires_at is None or row.otp_expires_at <= now:
        return None

    if row.status == ACTIVE:
        # A repeated, successful verify (a client retrying): same answer, no new state.
        if not otp.check_code(ctx.secret, number, code, row.otp_hash):
            return None
        if row.name != name:
            conn.execute(
                update(custom_numbers).where(custom_numbers.c.id == row.id).values(name=name, updated_at=now)
            )
            audit.record(
                conn, at=now, actor=actor, action="custom_number.renamed", account_id=account.id,
                subject=row.id, number=number, name=name,
            )
        return row.id

    # Count the try before comparing, atomically: parallel guesses can never
    # get more than otp_max_attempts comparisons.
    counted = conn.execute(
        update(custom_numbers)
        .where(
            custom_numbers.c.id == row.id,
            custom_numbers.c.status == PENDING,
            custom_numbers.c.otp_attempts < ctx.settings.otp_max_attempts,
        )
        .values(otp_attempts=custom_numbers.c.otp_attempts + 1)
        .returning(custom_numbers.c.otp_attempts)
    ).first()
    if counted is None:
        return None
    if not otp.check_code(ctx.secret, number, code, row.otp_hash):
        audit.record(
            conn, at=now, actor=actor, action="custom_number.otp_failed", account_id=account.id,
            subject=row.id, number=number, attempts=counted.otp_attempts,
        )
        return None

    if conn.execute(
        select(custom_numbers.c.id).where(
            custom_numbers.c.number == number, custom_numbers.c.status == ACTIVE
        )
    ).first() is not None:
        return None  # another account holds it already
    conn.execute(
        update(custom_numbers)
        .where(custom_numbers.c.id == row.id)
        .values(status=ACTIVE, name=name, verified_at=now, updated_at=now)
    )
    audit.record(
        conn, at=now, actor=actor, action="custom_number.verified", account_id=account.id,
        subject=row.id, number=number,
    )
    events.emit(conn, now=now, account_id=account.id, type="custom_number.verified",
                data=_event_data(row.id, number, name, ACTIVE))
    _cancel_other_pending(ctx, conn, number, keep=row.id, now=now, actor=actor)
    return row.id


# -- search across accounts (operators) ------------------------------------------------


def search(
    ctx: Context,
    *,
    number: object = None,
    status: str | None = None,
    account_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, object]], int]:
    """Registrations of every account, for operators: one page (newest first) and the total.

    ``number`` is any accepted input form (``0491 570 156``, ``+61491570156``, ...);
    ``status`` as in :func:`list_registrations`. Read-only.
    """
    now = ctx.clock.now()
    where = []
    if number is not None and not _is_blank(number):
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
    return [_view(row, now) for row in rows], total
