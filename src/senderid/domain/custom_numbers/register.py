"""Registering a number: the input checks, and add (active at once, or an OTP sent).

A registration and its OTP SMS are written in one transaction (the outbox). Work on one
number is serialised by :meth:`Database.lock`, so the checks and the writes that follow
them see the same state on PostgreSQL too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from senderid import ids, otp
from senderid.domain import audit, outbox
from senderid.domain import events as domain_events
from senderid.domain.context import Context
from senderid.domain.custom_numbers.changes import (
    cancel_other_pending,
    event_data,
    senders_changed,
)
from senderid.domain.custom_numbers.limits import (
    State,
    check_send_limits,
    next_positions,
    read_state,
)
from senderid.domain.custom_numbers.statements import (
    ACTIVE,
    INSERT_REGISTRATION,
    INSERT_SEND,
    NEW_CODE,
    PENDING,
)
from senderid.domain.types import Account, Actor, VerifiedBy
from senderid.errors import (
    InvalidRequest,
    MobileNumberInvalid,
    MobileNumberRequired,
    NameRequired,
    NumberAlreadyExists,
    NumberProtected,
)
from senderid.numbers import InvalidNumber, parse_mobile

MAX_NAME_LENGTH = 100


class AddOutcome(Enum):
    CREATED = "created"  # active at once (account does not require OTP)
    OTP_SENT = "otp_sent"


@dataclass(frozen=True, slots=True)
class AddResult:
    outcome: AddOutcome
    id: str
    number: str


# -- input ---------------------------------------------------------------------------


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def clean_name(value: object, missing: type[Exception]) -> str:
    if not isinstance(value, str) or not value.strip():
        raise missing()
    name = value.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidRequest(f"Name must be at most {MAX_NAME_LENGTH} characters")
    if not name.isprintable():
        raise InvalidRequest("Name must not contain control characters")
    return name


def clean_otp(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**otp.CODE_LENGTH:
        value = f"{value:0{otp.CODE_LENGTH}d}"
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return None


# -- add -----------------------------------------------------------------------------


def clean_input(ctx: Context, name: object, number: object) -> tuple[str, str]:
    """The name and the number (E.164) of an add or a reclaim, or the contract's refusal:
    a missing name, a missing or invalid number."""
    valid_name = clean_name(name, NameRequired)
    if is_blank(number):
        raise MobileNumberRequired()
    try:
        return valid_name, parse_mobile(number, ctx.settings.allowed_regions)
    except InvalidNumber:
        raise MobileNumberInvalid() from None


def add(ctx: Context, account: Account, *, name: object, number: object, actor: Actor) -> AddResult:
    """Register ``number`` for ``account``: at once, or by sending an OTP to it.

    Statements (PostgreSQL; SQLite has no lock statement): the locks, one read of the
    number's state and the sending limits, the registration, the send, the SMS, the
    audit record.
    """
    valid_name, e164 = clean_input(ctx, name, number)
    result: AddResult | None = None
    try:
        with ctx.db.write() as conn:
            now = ctx.clock.now()
            if account.otp_required:
                ctx.db.lock(conn, f"number:{e164}", f"account:{account.id}")
            else:
                ctx.db.lock(conn, f"number:{e164}")
            state = read_state(ctx, conn, account.id, e164, now)
            if state.protected:  # recorded, and refused once the record is committed
                refuse_protected(conn, account, e164, now, actor)
            elif state.active_id is not None:
                raise NumberAlreadyExists()
            elif not account.otp_required:
                result = _create_active(ctx, conn, account, valid_name, e164, state, now, actor)
            else:
                result = send_otp(ctx, conn, account, valid_name, e164, state, now, actor)
    except IntegrityError as error:
        if not _number_taken(error):
            raise  # not the race below: a real fault, for the caller's 500
        # Another transaction activated the number between our check and our write
        # (only possible without the lock); the unique index had the last word.
        raise NumberAlreadyExists() from None
    if result is None:
        raise NumberProtected()
    return result


def refuse_protected(conn: Connection, account: Account, number: str, now: datetime, actor: Actor) -> None:
    """The audit record of an add or reclaim refused because an operator protects the
    number (the caller raises NumberProtected once it is committed; nothing is sent)."""
    audit.record(conn, at=now, actor=actor, action=audit.Action.CUSTOM_NUMBER_PROTECTED_REFUSED,
                 account_id=account.id, number=number)


def _number_taken(error: IntegrityError) -> bool:
    """True when ``error`` is the held-number unique index refusing a second holder."""
    constraint = getattr(getattr(error.orig, "diag", None), "constraint_name", None)
    if constraint is not None:
        return bool(constraint == "uq_custom_numbers_held_number")
    return "custom_numbers.number" in str(error.orig)  # SQLite names the columns


def _create_active(
    ctx: Context, conn: Connection, account: Account, name: str, number: str, state: State,
    now: datetime, actor: Actor,
) -> AddResult:
    registration_id = ids.new_id()
    INSERT_REGISTRATION.run(conn, dict(
        id=registration_id, account_id=account.id, number=number, name=name, status=ACTIVE,
        created_at=now, updated_at=now, verified_at=now, verified_by=VerifiedBy.OPERATOR,
    ))
    entries = [audit.Entry(audit.Action.CUSTOM_NUMBER_CREATED, account.id, registration_id,
                           {"number": number, "otp_required": False})]
    events = [(account.id, "custom_number.verified", event_data(registration_id, number, name, ACTIVE))]
    if state.others_pending:
        cancel_other_pending(conn, number, keep=registration_id, now=now, entries=entries, events=events)
    audit.record_many(conn, at=now, actor=actor, entries=entries)
    domain_events.emit(conn, now=now, events=events)
    senders_changed(ctx, account.id)
    return AddResult(AddOutcome.CREATED, registration_id, number)


def send_otp(
    ctx: Context, conn: Connection, account: Account, name: str, number: str, state: State,
    now: datetime, actor: Actor, *, purpose: str | None = None, registration_id: str | None = None,
) -> AddResult:
    """A new code for the account's registration of ``number`` (a pending one gets a fresh
    code, its queued one cancelled), within the sending limits; the SMS is queued unless
    ``number`` is a test number. ``purpose``: what the code is for (None: an add;
    ``reclaim``; ``reverify``, for ``registration_id``, the account's active or lapsed one)."""
    check_send_limits(ctx, state, now)

    test_code = ctx.settings.test_otp_for(number)
    code = test_code or otp.generate_code()
    expires_at = now + timedelta(seconds=ctx.settings.otp_ttl_seconds)
    otp_fields = dict(
        otp_hash=otp.hash_code(ctx.secret, number, code),
        otp_expires_at=expires_at,
        otp_attempts=0,
        otp_sent_at=now,
        otp_purpose=purpose,
        updated_at=now,
    )
    existing = registration_id or state.pending_id
    if existing is not None:
        action = (audit.Action.CUSTOM_NUMBER_OTP_RESENT if registration_id is None
                  else audit.Action.CUSTOM_NUMBER_OTP_SENT)
        registration_id = existing
        NEW_CODE.run(conn, {"b_id": registration_id, "name": name, **otp_fields})
        outbox.cancel_otps(conn, [registration_id], now)
    else:
        registration_id = ids.new_id()
        INSERT_REGISTRATION.run(conn, dict(
            id=registration_id, account_id=account.id, number=number, name=name,
            status=PENDING, created_at=now, verified_at=None, **otp_fields,
        ))
        action = audit.Action.CUSTOM_NUMBER_OTP_SENT
    INSERT_SEND.run(conn, {"account_id": account.id, "number": number, "created_at": now,
                               **next_positions(state)})
    if test_code is None:
        body, redacted_body = otp.render(ctx.settings.otp_template, code=code, number=number,
                                         valid_seconds=ctx.settings.otp_ttl_seconds)
        outbox.enqueue(
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
        **({} if purpose is None else {"purpose": purpose}),
    )
    return AddResult(AddOutcome.OTP_SENT, registration_id, number)
