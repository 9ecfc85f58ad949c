"""Operators' view of the outbox: list messages, count them, retry a dead or failed one
(dead | failed -> queued), purge old dead ones; and the queue's depth for the metrics.

Used by ``senderid outbox ...``, the console's messages page and the queue gauges.
Nothing here returns or records a message body (it may hold an OTP).

Retrying an OTP SMS draws a **fresh code**: once an OTP SMS ends, the code in its
body is blanked out (only its HMAC is kept, on the registration), so the old text
cannot be sent again. The registration must still be pending with this message's
code as its current one (no newer code was sent since) and the code must not have
expired; the fresh code replaces the old one and keeps its expiry, so a retry never
extends how long a registration can be verified.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, case, delete, func, select, update

from senderid import ids, numbers, otp
from senderid.domain import audit
from senderid.domain.context import Context
from senderid.domain.outbox import history
from senderid.domain.outbox.claims import lane_of
from senderid.domain.outbox.statements import DEAD, FAILED, OTP, QUEUED, SCHEDULED, SENDING, SMS, STATUSES
from senderid.domain.types import Actor, CustomNumberStatus
from senderid.errors import Conflict, InvalidRequest, NotFound
from senderid.store.coltypes import UTCDateTime
from senderid.store.tables import custom_numbers, optouts, outbox

RETRYABLE = (DEAD, FAILED)
MAX_LIST = 1000
MAX_PAGE = 200


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One outbox row as an operator sees it: everything but the body."""

    id: str
    kind: str  # otp | sms
    account_id: str | None
    to: str  # E.164
    sender: str
    status: str
    attempts: int
    provider: str | None
    provider_message_id: str | None
    last_error: str | None
    next_attempt_at: datetime
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None

    @property
    def masked_to(self) -> str:
        return numbers.mask(self.to)


_COLUMNS = (
    outbox.c.id, outbox.c.kind, outbox.c.account_id, outbox.c.to_number, outbox.c.sender,
    outbox.c.status, outbox.c.attempts, outbox.c.provider, outbox.c.provider_message_id,
    outbox.c.last_error, outbox.c.next_attempt_at, outbox.c.expires_at, outbox.c.created_at,
    outbox.c.updated_at, outbox.c.sent_at,
)


def _message(row: Row[Any]) -> OutboxMessage:
    return OutboxMessage(*row)


def list_messages(
    ctx: Context, *, statuses: list[str] | tuple[str, ...] | None = None, limit: int = 50
) -> list[OutboxMessage]:
    """Messages, most recently changed first, optionally only in some statuses."""
    unknown = set(statuses or ()) - set(STATUSES)
    if unknown:
        raise InvalidRequest(f"Unknown status {sorted(unknown)[0]!r}; choose from {', '.join(STATUSES)}")
    if not 1 <= limit <= MAX_LIST:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LIST}")
    query = select(*_COLUMNS).order_by(outbox.c.updated_at.desc(), outbox.c.id.desc()).limit(limit)
    if statuses:
        query = query.where(outbox.c.status.in_(list(statuses)))
    with ctx.db.read() as conn:
        return [_message(row) for row in conn.execute(query)]


def page(
    ctx: Context,
    *,
    status: str | None = None,
    account_id: str | None = None,
    message_id: str | None = None,
    to: str | None = None,
    custom_string: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[OutboxMessage], int]:
    """One page of the outbox, newest first, and the total (the console's list and search).

    ``message_id`` finds one message (its primary key); ``to`` is a number in any accepted
    form (``0491 570 156``), on ``(to_number, sent_at)`` or, with an account,
    ``(account_id, to_number, created_at)``; ``custom_string`` is exact, on
    ``(account_id, custom_string, created_at)`` with an account (over every account it reads
    the outbox through). A malformed id or number is a 400 naming it.
    """
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise InvalidRequest(f"limit is 1 to {MAX_PAGE} and offset is 0 or more")
    where = []
    if status:
        if status not in STATUSES:
            raise InvalidRequest(f"status must be one of {', '.join(STATUSES)}")
        where.append(outbox.c.status == status)
    if account_id:
        where.append(outbox.c.account_id == account_id)
    if message_id:
        if not ids.is_id(message_id.lower()):
            raise InvalidRequest(f"MessageId {message_id[:40]!r} is not a message id: 24 hex digits")
        where.append(outbox.c.id == message_id.lower())
    if to:
        try:
            where.append(outbox.c.to_number == numbers.parse_mobile(to))
        except numbers.InvalidNumber:
            raise InvalidRequest(f"{to[:40]!r} is not a mobile number: use any accepted form, such as "
                                 "0491 570 157, 61491570157 or +61491570157") from None
    if custom_string:
        where.append(outbox.c.custom_string == custom_string)
    query = select(*_COLUMNS).where(*where).order_by(outbox.c.created_at.desc(), outbox.c.id.desc())
    with ctx.db.read() as conn:
        total = conn.execute(select(func.count()).select_from(outbox).where(*where)).scalar_one()
        rows = conn.execute(query.limit(limit).offset(offset)).all()
    return [_message(row) for row in rows], total


def get_message(ctx: Context, message_id: str) -> OutboxMessage:
    with ctx.db.read() as conn:
        row = conn.execute(select(*_COLUMNS).where(outbox.c.id == message_id)).first()
    if row is None:
        raise NotFound(f"No outbox message with id {message_id}")
    return _message(row)


def counts(ctx: Context) -> dict[str, int]:
    """How many messages are in each status (every status, zeros included)."""
    with ctx.db.read() as conn:
        return status_counts(conn)


def status_counts(conn: Connection, statuses: tuple[str, ...] = STATUSES) -> dict[str, int]:
    """:func:`counts` inside a transaction the caller holds, for some statuses only if asked."""
    query = select(outbox.c.status, func.count()).group_by(outbox.c.status)
    if statuses != STATUSES:
        query = query.where(outbox.c.status.in_(list(statuses)))
    found: dict[str, int] = {status: count for status, count in conn.execute(query).all()}
    return {status: int(found.get(status, 0)) for status in statuses}


def retry(ctx: Context, message_id: str, *, actor: Actor) -> OutboxMessage:
    """Queue a dead or failed message again, due now, with its attempts reset.

    Refused (Conflict) for any other status, and for an OTP whose code expired or
    is no longer the registration's current one. An OTP gets a fresh code (see above).
    """
    with ctx.db.write() as conn:
        number = conn.execute(select(outbox.c.to_number).where(outbox.c.id == message_id)).scalar()
        if number is None:
            raise NotFound(f"No outbox message with id {message_id}")
        ctx.db.lock(conn, f"number:{number}")  # first, as add and verify do (an OTP may change)
        row = _locked(conn, message_id)
        if row.status not in RETRYABLE:
            raise Conflict(f"Only a dead or failed message can be retried; {message_id} is {row.status}")
        if row.kind == SMS and row.account_id is not None and conn.execute(
                select(optouts.c.number).where(optouts.c.account_id == row.account_id,
                                               optouts.c.number == row.to_number)).first():
            raise Conflict(f"{message_id} goes to a number on its account's opt-out list; nothing to retry")
        if row.kind != OTP and row.blanked:
            raise Conflict(f"The text of {message_id} is no longer kept (it ended more than "
                           "SENDERID_MESSAGE_BODY_RETENTION_DAYS ago); nothing to retry")
        now = ctx.clock.now()
        if row.kind == OTP:
            result = conn.execute(_REQUEUE_WITH_TEXT, {"r_id": message_id, "r_now": now,
                                                       **_fresh_otp(ctx, conn, row, now)})
        else:
            result = conn.execute(_REQUEUE, {"r_id": message_id, "r_now": now})
        if result.rowcount != 1:  # pragma: no cover - the row is locked above
            raise Conflict(f"{message_id} changed meanwhile; try again")
        history.write(conn, [history.row(message_id, row.account_id, QUEUED, now,
                                         detail=f"retried by an operator (was {row.status})")])
        audit.record(
            conn, at=now, actor=actor, action=audit.Action.OUTBOX_RETRIED, account_id=row.account_id,
            subject=message_id, kind=row.kind, previous_status=row.status,
            previous_attempts=row.attempts, fresh_code=row.kind == OTP,
        )
    ctx.on_enqueue()
    return get_message(ctx, message_id)


def purge_dead(ctx: Context, *, older_than_days: int, actor: Actor) -> int:
    """Delete dead messages that ended more than ``older_than_days`` days ago. Returns how many."""
    if older_than_days < 0:
        raise InvalidRequest("older_than_days must be 0 or more")
    with ctx.db.write() as conn:
        now = ctx.clock.now()
        cutoff = now - timedelta(days=older_than_days)
        purged = list(conn.execute(_PURGE_DEAD, {"r_cutoff": cutoff}).scalars())
        history.forget(conn, purged)
        deleted = len(purged)
        audit.record(
            conn, at=now, actor=actor, action=audit.Action.OUTBOX_PURGED, status=DEAD,
            older_than_days=older_than_days, deleted=deleted,
        )
    return int(deleted)


def queue_depth(conn: Connection, now: datetime) -> list[tuple[str, str, int, float | None]]:
    """``(status, lane, count, age of the oldest in seconds)`` of the messages still to
    deliver (queued, sending), of the scheduled ones (``scheduled``: queued with their due
    time ahead, counted apart from the queued ones) and of the dead ones: what the queue
    metrics show. A queued message's age counts from when it was due (its scheduled time, or
    its queueing), so a message scheduled for next week is not a week old when it comes due."""
    scheduled = and_(outbox.c.status == QUEUED, outbox.c.scheduled_at > bindparam("r_now", type_=UTCDateTime()))
    state = case((scheduled, SCHEDULED), else_=outbox.c.status).label("state")
    rows = conn.execute(
        select(state, outbox.c.kind, outbox.c.account_id.is_(None).label("no_account"),
               func.count(), func.min(func.coalesce(outbox.c.scheduled_at, outbox.c.created_at)))
        .where(outbox.c.status.in_([QUEUED, SENDING, DEAD]))
        .group_by(state, outbox.c.kind, outbox.c.account_id.is_(None)),
        {"r_now": now},
    ).all()
    return [
        (status, lane_of(kind, None if no_account else "account"), count,
         (now - oldest).total_seconds() if oldest is not None and status != SCHEDULED else None)
        for status, kind, no_account, count, oldest in rows
    ]


# -- the statements, built once ------------------------------------------------------------

_NOW = bindparam("r_now", type_=UTCDateTime())
# dead | failed -> queued, due now, attempts reset (an OTP also gets its fresh text)
_REQUEUE = (
    update(outbox)
    .where(outbox.c.id == bindparam("r_id"), outbox.c.status.in_(RETRYABLE))
    .values(status=QUEUED, attempts=0, next_attempt_at=_NOW, lease_until=None, claimed_by=None,
            provider=None, provider_message_id=None, sent_at=None, updated_at=_NOW)
)
_REQUEUE_WITH_TEXT = _REQUEUE.values(body=bindparam("r_body"), redacted_body=bindparam("r_redacted_body"))
_PURGE_DEAD = delete(outbox).where(outbox.c.status == DEAD,
                                   outbox.c.updated_at < bindparam("r_cutoff", type_=UTCDateTime())
                                   ).returning(outbox.c.id)


# -- internals -----------------------------------------------------------------------------


def _locked(conn: Connection, message_id: str) -> Row[Any]:
    row = conn.execute(
        select(outbox.c.id, outbox.c.kind, outbox.c.account_id, outbox.c.custom_number_id,
               outbox.c.to_number, outbox.c.status, outbox.c.attempts, outbox.c.expires_at,
               (outbox.c.body == "").label("blanked"))
        .where(outbox.c.id == message_id)
        .with_for_update()
    ).first()
    if row is None:
        raise NotFound(f"No outbox message with id {message_id}")
    return row


def _fresh_otp(ctx: Context, conn: Connection, message: Row[Any], now: datetime) -> dict[str, object]:
    """Draw a new code for a retried OTP SMS: the registration's hash, and the message's text
    (the parameters of :data:`_REQUEUE_WITH_TEXT`)."""
    if message.expires_at is None or message.expires_at <= now:
        raise Conflict(
            f"The code of OTP {message.id} has expired; the customer must ask for a new one "
            "(POST /api/v1/customNumber/{id}/resend)"
        )
    registration = conn.execute(
        select(custom_numbers.c.id, custom_numbers.c.number, custom_numbers.c.status,
               custom_numbers.c.otp_expires_at)
        .where(custom_numbers.c.id == message.custom_number_id)
    ).first()
    if (
        registration is None
        or registration.status != CustomNumberStatus.PENDING
        or registration.otp_expires_at != message.expires_at
    ):
        raise Conflict(
            f"OTP {message.id} is no longer the registration's current code "
            "(it was verified, ended, or a newer code was sent); nothing to retry"
        )
    code = otp.generate_code()
    conn.execute(
        update(custom_numbers)
        .where(custom_numbers.c.id == registration.id)
        .values(otp_hash=otp.hash_code(ctx.secret, registration.number, code), updated_at=now)
    )
    body, redacted_body = otp.render(ctx.settings.otp_template, code=code, number=registration.number,
                                     valid_seconds=(message.expires_at - now).total_seconds())
    return {"r_body": body, "r_redacted_body": redacted_body}
