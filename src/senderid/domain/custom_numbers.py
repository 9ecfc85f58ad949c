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
  another account's allowance for the same number, and the per-number cap is
  six accounts' allowances (docs/api.md says why that stops a squatter);
* wrong codes are budgeted per day (:mod:`senderid.domain.otp_guesses`): past the
  budget, verify fails and no new code is sent;
* a registration and its OTP SMS are written in one transaction (the outbox).

Work on one number is serialised by :meth:`Database.lock`, so the checks and
the writes that follow them see the same state on PostgreSQL too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from enum import Enum
from typing import Any

from sqlalchemy import (
    Connection,
    String,
    Select,
    bindparam,
    case,
    func,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy.exc import IntegrityError

from senderid import ids, otp
from senderid.domain import audit, otp_guesses, queued
from senderid.domain import events as domain_events
from senderid.domain import outbox as domain_outbox
from senderid.domain.context import Context
from senderid.domain.types import Account, Actor, CustomNumberStatus, Registration
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

PENDING, EXPIRED, ACTIVE, CANCELLED, DELETED = CustomNumberStatus  # EXPIRED: derived, never stored
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
    """Register ``number`` for ``account``: at once, or by sending an OTP to it.

    Statements (PostgreSQL; SQLite has no lock statement): the locks, one read of the
    number's state and the sending limits, the registration, the send, the SMS, the
    audit record.
    """
    clean_name = _clean_name(name, NameRequired)
    if _is_blank(number):
        raise MobileNumberRequired()
    try:
        e164 = parse_mobile(number, ctx.settings.allowed_regions)
    except InvalidNumber:
        raise MobileNumberInvalid() from None

    try:
        with ctx.db.write() as conn:
            now = ctx.clock.now()
            if account.otp_required:
                ctx.db.lock(conn, f"number:{e164}", f"account:{account.id}")
            else:
                ctx.db.lock(conn, f"number:{e164}")
            state = _state(ctx, conn, account.id, e164, now)
            if state.active_id is not None:
                raise NumberAlreadyExists()
            if not account.otp_required:
                result = _create_active(ctx, conn, account, clean_name, e164, state, now, actor)
            else:
                result = _send_otp(ctx, conn, account, clean_name, e164, state, now, actor)
    except IntegrityError as error:
        if not _number_taken(error):
            raise  # not the race below: a real fault, for the caller's 500
        # Another transaction activated the number between our check and our write
        # (only possible without the lock); the unique index had the last word.
        raise NumberAlreadyExists() from None
    return result


def _number_taken(error: IntegrityError) -> bool:
    """True when ``error`` is the active-number unique index refusing a second holder."""
    constraint = getattr(getattr(error.orig, "diag", None), "constraint_name", None)
    if constraint is not None:
        return constraint == "uq_custom_numbers_active_number"
    return "custom_numbers.number" in str(error.orig)  # SQLite names the columns


@dataclass(frozen=True, slots=True)
class _State:
    """What add and resend need to know about a number, read in one statement."""

    active_id: str | None  # the registration that holds the number, any account
    pending_id: str | None  # this account's pending registration of it
    others_pending: bool  # other accounts have pending registrations of it
    last_send: datetime | None  # this account's last OTP SMS to it
    nth_newest: tuple[datetime | None, ...]  # per window of _WINDOWS: the limit-th send in the hour
    positions: tuple[int, ...]  # per window: the position of the newest send in its scope (0: none)
    guesses_used_up: list[tuple[datetime, str]]  # daily guess budgets used up: (frees at, message)


def _state(ctx: Context, conn: Connection, account_id: str, number: str, now: datetime) -> _State:
    s = ctx.settings
    limits = tuple(getattr(s, setting) for setting, _column, _message in _WINDOWS)
    row = conn.execute(
        _state_query(limits, otp_guesses.limits(s)),
        {"account_id": account_id, "number": number, "since": now - HOUR,
         "day_since": now - otp_guesses.DAY},
    ).one()
    m = row._mapping
    return _State(row.active_id, row.pending_id, row.others_pending is not None, row.last_send,
                  tuple(m[f"nth_{i}"] for i in range(len(_WINDOWS))),
                  tuple(m[f"last_{i}"] or 0 for i in range(len(_WINDOWS))),
                  otp_guesses.used_up(row, "wrong"))


# The windows of the sending limits: setting, the column numbering sends in its scope, message.
_WINDOWS = (
    ("otp_max_per_account_number_per_hour", otp_sends.c.account_number_seq,
     "Too many codes sent to this number for your account in the last hour"),
    ("otp_max_per_number_per_hour", otp_sends.c.number_seq,
     "Too many codes sent to this number in the last hour"),
    ("otp_max_per_account_per_hour", otp_sends.c.account_seq,
     "Your account has sent too many codes in the last hour"),
)
_SCOPES = (
    lambda t: (t.c.account_id == bindparam("account_id")) & (t.c.number == bindparam("number")),
    lambda t: t.c.number == bindparam("number"),
    lambda t: t.c.account_id == bindparam("account_id"),
)


@lru_cache(maxsize=8)
def _state_query(limits: tuple[int, ...], guess_limits: tuple[int, ...]) -> Select:  # type: ignore[type-arg]
    """One SELECT of scalar subqueries, each one or two index lookups whatever the limits:
    the newest send's position in each scope (a max over an index), and the send at
    position newest - limit + 1, if it is inside the hour (a point lookup); and the daily
    guess budgets (:mod:`senderid.domain.otp_guesses`)."""
    number, account_id = bindparam("number"), bindparam("account_id")
    active = select(custom_numbers.c.id).where(
        custom_numbers.c.number == number, custom_numbers.c.status == ACTIVE).limit(1)
    pending = select(custom_numbers.c.id).where(
        custom_numbers.c.account_id == account_id, custom_numbers.c.number == number,
        custom_numbers.c.status == PENDING).limit(1)
    others = select(custom_numbers.c.id).where(
        custom_numbers.c.number == number, custom_numbers.c.status == PENDING,
        custom_numbers.c.account_id != account_id).limit(1)
    last = select(func.max(otp_sends.c.created_at)).where(_SCOPES[0](otp_sends))
    columns = []
    for i, ((_setting, column, _message), limit, scope) in enumerate(zip(_WINDOWS, limits, _SCOPES, strict=True)):
        newest = select(func.max(column)).where(scope(otp_sends)).scalar_subquery()
        alias = otp_sends.alias(f"w{i}")
        nth = select(alias.c.created_at).where(
            scope(alias), alias.c[column.name] == newest - (limit - 1),
            alias.c.created_at > bindparam("since", type_=UTCDateTime),
        ).limit(1).scalar_subquery()
        columns += [_as_time(nth).label(f"nth_{i}"), newest.label(f"last_{i}")]
    return select(
        active.scalar_subquery().label("active_id"),
        pending.scalar_subquery().label("pending_id"),
        others.scalar_subquery().label("others_pending"),
        _as_time(last.scalar_subquery()).label("last_send"),
        *columns,
        *otp_guesses.nth_failures(guess_limits, account_id, number,
                                  bindparam("day_since", type_=UTCDateTime), "wrong"),
    )


def _as_time(expression):  # type: ignore[no-untyped-def]
    """Read a subquery's value back as an aware UTC datetime."""
    return type_coerce(expression, UTCDateTime)


# Built once: the writes of add bind values into these.
_INSERT_REGISTRATION = insert(custom_numbers)
_INSERT_SEND = insert(otp_sends)
_NEW_CODE = update(custom_numbers).where(custom_numbers.c.id == bindparam("b_id"))


def _create_active(
    ctx: Context, conn: Connection, account: Account, name: str, number: str, state: _State,
    now: datetime, actor: Actor,
) -> AddResult:
    registration_id = ids.new_id()
    conn.execute(_INSERT_REGISTRATION, dict(
        id=registration_id, account_id=account.id, number=number, name=name, status=ACTIVE,
        created_at=now, updated_at=now, verified_at=now,
    ))
    entries = [audit.Entry(audit.Action.CUSTOM_NUMBER_CREATED, account.id, registration_id,
                           {"number": number, "otp_required": False})]
    events = [(account.id, "custom_number.verified", _event_data(registration_id, number, name, ACTIVE))]
    if state.others_pending:
        _cancel_other_pending(conn, number, keep=registration_id, now=now, entries=entries, events=events)
    audit.record_many(conn, at=now, actor=actor, entries=entries)
    domain_events.emit(conn, now=now, events=events)
    _senders_changed(ctx, account.id)
    return AddResult(AddOutcome.CREATED, registration_id, number)


def _senders_changed(ctx: Context, account_id: str) -> None:
    """This process forgets the account's senders once the change commits (the others
    hear of it from the database)."""
    ctx.db.after_commit(lambda: ctx.senders.forget_senders(account_id))


def _send_otp(
    ctx: Context, conn: Connection, account: Account, name: str, number: str, state: _State,
    now: datetime, actor: Actor,
) -> AddResult:
    _check_send_limits(ctx, state, now)

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
    if state.pending_id is not None:
        registration_id = state.pending_id
        conn.execute(_NEW_CODE, {"b_id": registration_id, "name": name, **otp_fields})
        domain_outbox.cancel_otps(conn, [registration_id], now)
        action = audit.Action.CUSTOM_NUMBER_OTP_RESENT
    else:
        registration_id = ids.new_id()
        conn.execute(_INSERT_REGISTRATION, dict(
            id=registration_id, account_id=account.id, number=number, name=name,
            status=PENDING, created_at=now, verified_at=None, **otp_fields,
        ))
        action = audit.Action.CUSTOM_NUMBER_OTP_SENT
    positions = {column.name: position + 1
                 for (_setting, column, _message), position in zip(_WINDOWS, state.positions, strict=True)}
    conn.execute(_INSERT_SEND, {"account_id": account.id, "number": number, "created_at": now, **positions})
    if test_code is None:
        body, redacted_body = otp.render(ctx.settings.otp_template, code=code, number=number,
                                         valid_seconds=ctx.settings.otp_ttl_seconds)
        domain_outbox.enqueue(
            conn,
            now=now,
            kind="otp",
            to=number,
            sender=ctx.settings.otp_sender,
            body=body,
            redacted_body=redacted_body,
            account_id=account.id,
            custom_number_id=registration_id,
            expires_at=expires_at,
        )
        ctx.db.after_commit(ctx.on_enqueue)
    audit.record(
        conn, at=now, actor=actor, action=action, account_id=account.id,
        subject=registration_id, number=number, test_number=test_code is not None,
    )
    return AddResult(AddOutcome.OTP_SENT, registration_id, number)


def _check_send_limits(ctx: Context, state: _State, now: datetime) -> None:
    """Raise RateLimited when another OTP SMS would break a sending limit.

    When several limits refuse, the answer names the one that lasts longest and
    Retry-After is when a retry can succeed (waiting out a shorter one would only
    earn another 429).
    """
    s = ctx.settings
    refusals: list[tuple[int, str]] = []
    if state.last_send is not None:
        wait = math.ceil(
            (state.last_send + timedelta(seconds=s.otp_resend_cooldown_seconds) - now).total_seconds())
        if wait > 0:
            refusals.append((wait, f"A code was sent to this number moments ago; wait {wait} seconds "
                                   "before asking for another"))
    for (_setting, _column, message), nth in zip(_WINDOWS, state.nth_newest, strict=True):
        if nth is not None:
            # The window frees up when the oldest of the last `limit` sends is an hour old.
            wait = math.ceil((nth + HOUR - now).total_seconds())
            refusals.append((wait, f"{message}; try again in {wait} seconds"))
    for frees_at, message in state.guesses_used_up:
        wait = math.ceil((frees_at - now).total_seconds())
        refusals.append((wait, f"{message}; no new code can be sent for {wait} seconds"))
    if refusals:
        wait, message = max(refusals)
        raise RateLimited(message, wait)


def _event_data(registration_id: str, number: str, name: str | None, status: str) -> dict[str, object]:
    data: dict[str, object] = {"id": registration_id, "number": number, "status": status}
    if name is not None:
        data["name"] = name
    return data


CANCELLED_REASON = "verified by another account"


def _cancel_other_pending(
    conn: Connection, number: str, *, keep: str, now: datetime,
    entries: list[audit.Entry], events: list[domain_events.Event],
) -> None:
    """The number is now active for one registration: every other pending one ends (one
    UPDATE, then their queued codes in one more); their audit records and events are
    added to ``entries`` and ``events``."""
    others = conn.execute(
        update(custom_numbers)
        .where(custom_numbers.c.number == number, custom_numbers.c.status == PENDING,
               custom_numbers.c.id != keep)
        .values(status=CANCELLED, ended_at=now, updated_at=now, otp_hash=None)
        .returning(custom_numbers.c.id, custom_numbers.c.account_id)
    ).all()
    _ended_others(conn, number, [(o.id, o.account_id) for o in others], now, entries, events)


def _ended_others(
    conn: Connection, number: str, others: list[tuple[str, str]], now: datetime,
    entries: list[audit.Entry], events: list[domain_events.Event],
) -> None:
    if not others:
        return
    domain_outbox.cancel_otps(conn, [other_id for other_id, _ in others], now)
    for other_id, other_account in others:
        entries.append(audit.Entry(audit.Action.CUSTOM_NUMBER_CANCELLED, other_account, other_id,
                                   {"number": number, "reason": CANCELLED_REASON}))
        events.append((other_account, "custom_number.cancelled",
                       {**_event_data(other_id, number, None, CANCELLED), "reason": CANCELLED_REASON}))


# -- management ----------------------------------------------------------------------

READABLE_STATUSES = tuple(CustomNumberStatus)  # what listings show and filter on


def _view(m: Mapping[str, Any], now: datetime) -> Registration:
    """A registration row as shown: a pending one whose code ran out is ``expired``."""
    status = CustomNumberStatus(m["status"])
    if status == PENDING and (m["otp_expires_at"] is None or m["otp_expires_at"] <= now):
        status = EXPIRED
    return Registration(
        id=m["id"], account_id=m["account_id"], name=m["name"], number=m["number"], status=status,
        otp_expires_at=m["otp_expires_at"] if status == PENDING else None, created_at=m["created_at"],
        updated_at=m["updated_at"], verified_at=m["verified_at"], ended_at=m["ended_at"],
    )


def _status_filter(status: str, now: datetime):  # type: ignore[no-untyped-def]
    if status not in READABLE_STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(READABLE_STATUSES)}")
    if status == PENDING:
        return (custom_numbers.c.status == PENDING) & (custom_numbers.c.otp_expires_at > now)
    if status == EXPIRED:
        return (custom_numbers.c.status == PENDING) & (custom_numbers.c.otp_expires_at <= now)
    return custom_numbers.c.status == status


def get_registration(ctx: Context, account_id: str, registration_id: str) -> Registration:
    with ctx.db.read() as conn:
        row = _owned(conn, account_id, registration_id)
    return _view(row._mapping, ctx.clock.now())


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
    return [_view(row._mapping, now) for row in rows], total


def delete(ctx: Context, account: Account, registration_id: str, *, actor: Actor) -> Registration:
    """End a pending or active registration: the number is free for others. Idempotent.

    An active one was a sender of the account: its gateway messages still queued from the
    number are cancelled and refunded in the same transaction (:func:`.queued.sender_removed`)."""
    with ctx.db.write() as conn:
        row = _owned(conn, account.id, registration_id)
        if not ctx.db.is_sqlite:  # SQLite's writer lock already excludes every other writer
            ctx.db.lock(conn, f"number:{row.number}")
            row = _owned(conn, account.id, registration_id)  # as it is now that we hold the lock
        now = ctx.clock.now()
        if row.status == CANCELLED:
            raise Conflict("This registration was cancelled (another account verified the number first)")
        view = dict(row._mapping)
        if row.status != DELETED:
            conn.execute(
                update(custom_numbers)
                .where(custom_numbers.c.id == row.id)
                .values(status=DELETED, ended_at=now, updated_at=now)
            )
            domain_outbox.cancel_otps(conn, [row.id], now)
            # no longer the account's sender: what it still has queued from the number goes too
            held = (queued.sender_removed(conn, now=now, account_id=account.id, sender=row.number)
                    if row.status == ACTIVE else [])
            audit.record(
                conn, at=now, actor=actor, action=audit.Action.CUSTOM_NUMBER_DELETED, account_id=account.id,
                subject=row.id, number=row.number, previous_status=row.status, **queued.audit_details(held),
            )
            domain_events.emit(conn, now=now, events=[
                (account.id, "custom_number.deleted", _event_data(row.id, row.number, row.name, DELETED))])
            if row.status == ACTIVE:
                _senders_changed(ctx, account.id)
            view.update(status=DELETED, ended_at=now, updated_at=now)
    return _view(view, now)


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
        state = _state(ctx, conn, account.id, row.number, now)
        _send_otp(ctx, conn, account, row.name, row.number, state, now, actor)
        view = dict(row._mapping)
        view.update(otp_expires_at=now + timedelta(seconds=ctx.settings.otp_ttl_seconds), updated_at=now)
    return _view(view, now)


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
    about which part was wrong. Statements of a success (PostgreSQL): the number's
    lock, the counted try, the activation (which cancels other accounts' pending
    registrations in the same UPDATE), the audit records, the events.
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


# Count the try before comparing, atomically, in the statement that finds the pending
# registration: parallel guesses can never get more than otp_max_attempts comparisons.
# `taken` says whether another registration holds the number already; `spent_*` whether
# a daily guess budget of the account is used up (then nothing is compared).
_HOLDER = custom_numbers.alias("holder")


@lru_cache(maxsize=8)
def _count_try(guess_limits: tuple[int, ...]):  # type: ignore[no-untyped-def]
    return _COUNT_TRY.returning(*otp_guesses.nth_failures(
        guess_limits, bindparam("b_account_id"), bindparam("b_number"),
        bindparam("b_day_since", type_=UTCDateTime), "spent"))


_COUNT_TRY = (
    update(custom_numbers)
    .where(
        custom_numbers.c.account_id == bindparam("b_account_id"),
        custom_numbers.c.number == bindparam("b_number"),
        custom_numbers.c.status == PENDING,
        custom_numbers.c.otp_attempts < bindparam("b_max_attempts"),
        custom_numbers.c.otp_expires_at > bindparam("b_now", type_=UTCDateTime),
    )
    .values(otp_attempts=custom_numbers.c.otp_attempts + 1)
    .returning(
        custom_numbers.c.id, custom_numbers.c.otp_hash, custom_numbers.c.otp_attempts,
        select(_HOLDER.c.id)
        .where(_HOLDER.c.number == bindparam("b_number"), _HOLDER.c.status == ACTIVE)
        .limit(1)
        .scalar_subquery()
        .label("taken"),
    )
)
_ACTIVE_MINE = select(custom_numbers.c.id, custom_numbers.c.name, custom_numbers.c.otp_hash).where(
    custom_numbers.c.account_id == bindparam("b_account_id"),
    custom_numbers.c.number == bindparam("b_number"),
    custom_numbers.c.status == ACTIVE,
    custom_numbers.c.otp_expires_at > bindparam("b_now", type_=UTCDateTime),
)


_MINE_ROW = custom_numbers.c.id == bindparam("b_id")
_B_NOW = bindparam("b_now", type_=UTCDateTime)
_ACTIVATE = (
    update(custom_numbers)
    .where(custom_numbers.c.number == bindparam("b_number"),
           _MINE_ROW | (custom_numbers.c.status == PENDING))
    .values(
        status=case((_MINE_ROW, ACTIVE), else_=CANCELLED),
        name=case((_MINE_ROW, bindparam("b_name", type_=String)), else_=custom_numbers.c.name),
        verified_at=case((_MINE_ROW, _B_NOW), else_=custom_numbers.c.verified_at),
        ended_at=case((_MINE_ROW, custom_numbers.c.ended_at), else_=_B_NOW),
        otp_hash=case((_MINE_ROW, custom_numbers.c.otp_hash), else_=None),
        updated_at=_B_NOW,
    )
    .returning(custom_numbers.c.id, custom_numbers.c.account_id)
)


def _verify_locked(
    ctx: Context, conn: Connection, account: Account, name: str, number: str, code: str, actor: Actor
) -> str | None:
    now = ctx.clock.now()
    params = {"b_account_id": account.id, "b_number": number, "b_now": now,
              "b_max_attempts": ctx.settings.otp_max_attempts, "b_day_since": now - otp_guesses.DAY}
    counted = conn.execute(_count_try(otp_guesses.limits(ctx.settings)), params).first()
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
    if counted.taken is not None:
        return None  # another account holds it already

    # Activate ours and cancel every other pending registration of the number, at once.
    rows = conn.execute(_ACTIVATE, {"b_id": counted.id, "b_number": number, "b_name": name, "b_now": now}).all()
    entries = [audit.Entry(audit.Action.CUSTOM_NUMBER_VERIFIED, account.id, counted.id, {"number": number})]
    events: list[domain_events.Event] = [
        (account.id, "custom_number.verified", _event_data(counted.id, number, name, ACTIVE))]
    others = [(r.id, r.account_id) for r in rows if r.id != counted.id]
    _ended_others(conn, number, others, now, entries, events)
    audit.record_many(conn, at=now, actor=actor, entries=entries)
    domain_events.emit(conn, now=now, events=events)
    _senders_changed(ctx, account.id)
    return counted.id


def _verify_again(
    ctx: Context, conn: Connection, account: Account, name: str, number: str, code: str,
    now: datetime, actor: Actor, params: dict[str, object],
) -> str | None:
    """No try to count: a repeated, successful verify (a client retrying) answers the same,
    with no new state; anything else (no registration, expired, out of tries) fails."""
    row = conn.execute(_ACTIVE_MINE, params).first()
    if row is None or not otp.check_code(ctx.secret, number, code, row.otp_hash):
        return None
    if row.name != name:
        conn.execute(
            update(custom_numbers).where(custom_numbers.c.id == row.id).values(name=name, updated_at=now)
        )
        audit.record(
            conn, at=now, actor=actor, action=audit.Action.CUSTOM_NUMBER_RENAMED, account_id=account.id,
            subject=row.id, number=number, name=name,
        )
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
) -> tuple[list[Registration], int]:
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
    return [_view(row._mapping, now) for row in rows], total
