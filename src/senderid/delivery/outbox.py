"""The delivery side of the outbox: claims, outcomes and receipts.

Every SMS is written to the outbox in the transaction that caused it, by
:mod:`senderid.domain.outbox`; the worker takes it from here. Life of a message::

    queued --claim--> sending --provider accepted--> sent (--receipt--> delivered | failed)
                         |--transient error--> queued (later, with backoff) ... --> dead
                         |--permanent error--> failed
    queued | sending --a newer code, or the registration ended--> cancelled
                        (an OTP: domain.queued.OtpsOf; one a live worker still hands over
                        is recorded as sent all the same)
    sending --an OTP that expired before it was handed over (the worker)--> cancelled
    queued --cancelled by the account, the contact opted out, the sender was removed--> cancelled
    sending (just claimed) --its sender is no longer its account's--> cancelled (never sent)

A claim (:func:`claim`, which takes its rows through :mod:`.lanes`) is a lease: a
worker that dies while holding one leaves the message ``sending`` with an expired
lease, and the next claim takes it again, so a crash loses nothing. The worker
records what became of its claims in batches (:func:`record`). Once a message
leaves ``queued``/``sending`` for good, an OTP in its body is blanked out
(``redacted_body``): codes are not kept at rest after hand-off.

Delivery receipts (:func:`record_receipt`) move a sent message to delivered or
failed. A receipt can beat the worker's own write of ``sent`` (the SMSC sends it
right after accepting the message, before the worker has recorded the provider's
message id); such an *early* receipt is kept in ``early_receipts`` and applied by
:func:`apply_early_receipts` in the transaction that records the message as sent.
Both sides take the same per-message lock first, so one of them always sees the
other's write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, delete, func, insert, or_, select, text, update

from senderid.delivery import lanes
from senderid.delivery.lease import MAX_ERROR_LENGTH
from senderid.domain import events, queued
from senderid.domain.types import OutboxStatus
from senderid.store.db import lock_key
from senderid.store.tables import early_receipts, outbox

QUEUED, SENDING, SENT, DELIVERED, FAILED, DEAD, CANCELLED = OutboxStatus
STATUSES = tuple(OutboxStatus)


@dataclass(frozen=True, slots=True)
class Claimed:
    id: str
    kind: str
    to: str
    sender: str
    body: str
    attempts: int  # including this one
    expires_at: datetime | None
    account_id: str | None = None
    acma_registered: bool | None = None  # told in message.sent (SENDERID_UNREGISTERED_ALPHA)





def claim(
    conn: Connection, *, now: datetime, worker: str, lease_seconds: int, limit: int,
    cursor: lanes.FairCursor | None = None, shared_sender: str = "",
) -> list[Claimed]:
    """Take up to ``limit`` due messages (queued, or sending with an expired lease): OTP
    first, then bulk SMS shared fairly between accounts (see :mod:`.lanes`).

    A gateway message whose sender its account no longer holds (``shared_sender``: what
    the shared sender goes out as) is cancelled here, in the claim's transaction, and not
    returned: it never reaches a provider (:func:`senderid.domain.queued.refuse_claimed`).

    On PostgreSQL the rows are locked with SKIP LOCKED so concurrent workers
    never take the same row; on SQLite the caller's write transaction already
    excludes other writers.
    """
    rows = lanes.claim(conn, now=now, worker=worker, lease_seconds=lease_seconds, limit=limit, cursor=cursor,
                       shared_sender=shared_sender)
    refused = [row.id for row in rows if not row.sender_allowed]
    if refused:
        queued.refuse_claimed(conn, now=now, message_ids=refused, worker=worker)
    return [
        Claimed(row.id, row.kind, row.to_number, row.sender, row.body, row.attempts, row.expires_at,
                row.account_id, row.acma_registered)
        for row in rows if row.sender_allowed
    ]


# -- outcomes, recorded in batches ----------------------------------------------------------
# Each kind of outcome is one executemany statement, whatever the batch size; the
# worker records every outcome its window produced since the last record in one
# transaction.

@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one claimed message."""

    message: Claimed
    status: str  # SENT, QUEUED (try again later), FAILED, DEAD, CANCELLED, or DEFERRED
    error: str | None = None
    next_attempt_at: datetime | None = None  # QUEUED and DEFERRED
    provider_message_id: str | None = None  # SENT


DEFERRED = "deferred"  # put back unsent, the attempt not counted (the circuit breaker is open)

# Ending a message blanks an OTP out of its body and drops the lease.
_REDACTED = update(outbox).values(body=func.coalesce(outbox.c.redacted_body, outbox.c.body), lease_until=None)
_SENT = _REDACTED.where(
    outbox.c.id == bindparam("b_id"), or_(outbox.c.status == SENDING, outbox.c.status == CANCELLED)
).values(
    status=SENT, last_error=None, provider=bindparam("b_provider"),
    provider_message_id=bindparam("b_provider_message_id"), sent_at=bindparam("b_now"),
    updated_at=bindparam("b_now"),
)
_ENDED = _REDACTED.where(outbox.c.id == bindparam("b_id"), outbox.c.status == SENDING).values(
    status=bindparam("b_status"), last_error=bindparam("b_error"), updated_at=bindparam("b_now"),
)
_RETRY = (
    update(outbox)
    .where(outbox.c.id == bindparam("b_id"), outbox.c.status == SENDING)  # not a cancelled one
    .values(status=QUEUED, next_attempt_at=bindparam("b_next"), lease_until=None,
            last_error=bindparam("b_error"), updated_at=bindparam("b_now"))
)
_RELEASE = (
    update(outbox)
    .where(outbox.c.id == bindparam("b_id"), outbox.c.status == SENDING)
    .values(status=QUEUED, attempts=outbox.c.attempts - 1,  # the claim counted it
            next_attempt_at=bindparam("b_next"), lease_until=None, updated_at=bindparam("b_now"))
)


def record(conn: Connection, outcomes: list[Outcome], *, now: datetime, provider: str) -> int:
    """Record a batch of outcomes (and the account webhook events they cause); returns how
    many webhook events were queued."""
    sent = [o for o in outcomes if o.status == SENT]
    if sent:
        mark_sent_many(conn, [(o.message.id, o.provider_message_id) for o in sent], now=now, provider=provider)
    ended = [o for o in outcomes if o.status in (FAILED, DEAD, CANCELLED)]
    if ended:
        conn.execute(_ENDED, [{"b_id": o.message.id, "b_status": o.status, "b_error": _error(o.error),
                               "b_now": now} for o in ended])
    retry = [o for o in outcomes if o.status == QUEUED]
    if retry:
        conn.execute(_RETRY, [{"b_id": o.message.id, "b_next": o.next_attempt_at, "b_error": _error(o.error),
                               "b_now": now} for o in retry])
    deferred = [o for o in outcomes if o.status == DEFERRED]
    if deferred:
        conn.execute(_RELEASE, [{"b_id": o.message.id, "b_next": o.next_attempt_at, "b_now": now}
                                for o in deferred])
    told = [
        (o.message.account_id, "message.sent" if o.status == SENT else "message.failed",
         {"id": o.message.id, "to": o.message.to, "sender": o.message.sender,
          **({} if o.status == SENT else {"status": o.status, "error": o.error or ""}),
          **({"acmaRegistered": o.message.acma_registered}
             if o.status == SENT and o.message.acma_registered is not None else {})})
        for o in sent + [o for o in ended if o.status != CANCELLED]
        if o.message.kind == "sms" and o.message.account_id is not None  # gateway messages only
    ]
    if not told:
        return 0
    return events.emit(conn, now=now, events=told)  # type: ignore[arg-type]


def _error(error: str | None) -> str | None:
    return error[:MAX_ERROR_LENGTH] if error else None


def mark_sent_many(
    conn: Connection, sent: list[tuple[str, str | None]], *, now: datetime, provider: str
) -> None:
    """Record the provider's acceptance of ``(message id, provider message id)`` pairs, and
    apply the receipts that came before (the lock taken first keeps a racing receipt from
    slipping in between)."""
    provider_ids = sorted({pid for _, pid in sent if pid})
    _lock_receipts(conn, provider, provider_ids)
    conn.execute(_SENT, [{"b_id": mid, "b_provider": provider, "b_provider_message_id": pid, "b_now": now}
                         for mid, pid in sent])
    if provider_ids:
        _apply_early_receipts(conn, provider, provider_ids, now)


def mark_sent(
    conn: Connection, message_id: str, *, now: datetime, provider: str, provider_message_id: str | None
) -> None:
    """Record the provider's acceptance of one message (then call :func:`apply_early_receipts`
    in the same transaction: the lock taken here keeps a racing receipt from slipping in)."""
    _lock_receipts(conn, provider, [provider_message_id] if provider_message_id else [])
    conn.execute(_SENT, {"b_id": message_id, "b_provider": provider,
                         "b_provider_message_id": provider_message_id, "b_now": now})


def mark_ended(conn: Connection, message_id: str, *, now: datetime, status: str, error: str) -> None:
    """End a message as failed, dead or cancelled (unless it was cancelled meanwhile)."""
    conn.execute(_ENDED, {"b_id": message_id, "b_status": status, "b_error": _error(error), "b_now": now})


# -- delivery receipts ---------------------------------------------------------------------

RECEIPT_STATUSES = (SENT, DELIVERED, FAILED)  # what a receipt says; also where it finds a message
EARLY_RECEIPT_TTL = timedelta(days=1)  # an early receipt no message claimed by then is dropped


def record_receipt(
    conn: Connection, *, provider: str, provider_message_id: str, status: str, now: datetime
) -> bool:
    """A delivery receipt: sent -> delivered or failed. True when a message matched.

    A ``sent`` receipt (still on its way) never moves a delivered or failed message
    back. A final one (``delivered``, ``failed``) that matches nothing yet is kept as an
    early receipt for :func:`apply_early_receipts`. A gateway message that fails this
    way tells its account's webhook (``message.failed``).
    """
    if status not in RECEIPT_STATUSES:
        raise ValueError(f"unknown receipt status {status!r}")
    _lock_receipts(conn, provider, [provider_message_id])
    matched = _apply(conn, provider, provider_message_id, status, now)
    if not matched and status != SENT:
        conn.execute(delete(early_receipts).where(early_receipts.c.received_at < now - EARLY_RECEIPT_TTL))
        conn.execute(
            insert(early_receipts).values(
                provider=provider, provider_message_id=provider_message_id, status=status, received_at=now,
            )
        )
    return matched


def apply_early_receipts(conn: Connection, *, provider: str, provider_message_id: str, now: datetime) -> int:
    """Apply (and forget) the receipts that came before the message was recorded as sent.

    Call it in the transaction of :func:`mark_sent`, after it. Returns how many applied.
    """
    return _apply_early_receipts(conn, provider, [provider_message_id], now)


def _apply_early_receipts(conn: Connection, provider: str, provider_message_ids: list[str], now: datetime) -> int:
    rows = conn.execute(
        select(early_receipts.c.id, early_receipts.c.provider_message_id, early_receipts.c.status)
        .where(early_receipts.c.provider == provider,
               early_receipts.c.provider_message_id.in_(provider_message_ids))
        .order_by(early_receipts.c.id)
    ).all()
    for row in rows:
        _apply(conn, provider, row.provider_message_id, row.status, now)
    if rows:
        conn.execute(delete(early_receipts).where(early_receipts.c.id.in_([row.id for row in rows])))
    return len(rows)


def _apply(conn: Connection, provider: str, provider_message_id: str, status: str, now: datetime) -> bool:
    rows = conn.execute(
        select(outbox.c.id, outbox.c.kind, outbox.c.account_id, outbox.c.to_number, outbox.c.sender,
               outbox.c.status)
        .where(outbox.c.provider_message_id == provider_message_id, outbox.c.provider == provider,
               outbox.c.status.in_(RECEIPT_STATUSES))
    ).all()
    for row in rows:
        if status == SENT or row.status == status:
            continue  # nothing new (and "on its way" never undoes a final word)
        conn.execute(update(outbox).where(outbox.c.id == row.id).values(status=status, updated_at=now))
        if status == FAILED and row.kind == "sms" and row.account_id is not None:
            events.emit(conn, now=now, events=[(row.account_id, "message.failed", {
                "id": row.id, "to": row.to_number, "sender": row.sender, "status": FAILED,
                "error": f"{provider}: the delivery receipt says the SMS was not delivered"})])
    return bool(rows)


_LOCK_MANY = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k")


def _lock_receipts(conn: Connection, provider: str, provider_message_ids: list[str]) -> None:
    """Serialise the receipts and the sent-record of provider messages (PostgreSQL, one
    statement, keys in order so two batches never deadlock; on SQLite a write transaction
    already excludes every other writer)."""
    if conn.dialect.name != "postgresql" or not provider_message_ids:
        return
    keys = sorted(lock_key(f"receipt:{provider}:{pid}") for pid in provider_message_ids)
    conn.execute(_LOCK_MANY, {"keys": keys})


def queue_depth(conn: Connection, now: datetime) -> list[tuple[str, str, int, float | None]]:
    """``(status, lane, count, age of the oldest in seconds)`` of the messages still to
    deliver (queued, sending) and of the dead ones: what the queue metrics show."""
    rows = conn.execute(
        select(outbox.c.status, outbox.c.kind, outbox.c.account_id.is_(None).label("no_account"),
               func.count(), func.min(outbox.c.created_at))
        .where(outbox.c.status.in_([QUEUED, SENDING, DEAD]))
        .group_by(outbox.c.status, outbox.c.kind, outbox.c.account_id.is_(None))
    ).all()
    return [
        (status, lanes.lane_of(kind, None if no_account else "account"), count,
         (now - oldest).total_seconds() if oldest is not None else None)
        for status, kind, no_account, count, oldest in rows
    ]
