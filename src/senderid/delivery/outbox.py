"""The outbox: every SMS is written here in the transaction that caused it.

Life of a message::

    queued --claim--> sending --provider accepted--> sent (--receipt--> delivered | failed)
                         |--transient error--> queued (later, with backoff) ... --> dead
                         |--permanent error--> failed
    queued --superseded by a newer OTP, or the OTP expired--> cancelled

A claim is a lease: a worker that dies while holding one leaves the message
``sending`` with an expired lease, and the next claim takes it again, so a
crash loses nothing. Once a message leaves ``queued``/``sending`` for good,
an OTP in its body is blanked out (``redacted_body``): codes are not kept at
rest after hand-off.

Delivery receipts (:func:`record_receipt`) move a sent message to delivered or
failed. A receipt can beat the worker's own write of ``sent`` (the SMSC sends it
right after accepting the message, before the worker has recorded the provider's
message id); such an *early* receipt is kept in ``early_receipts`` and applied by
:func:`apply_early_receipts` in the transaction that records the message as sent.
Both sides take the same per-message lock first, so one of them always sees the
other's write.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Update, delete, func, insert, select, text, update

from senderid.delivery import events
from senderid.domain import outbox as domain_outbox
from senderid.delivery.lease import claim_due
from senderid.store.tables import early_receipts, outbox

QUEUED, SENDING, SENT, DELIVERED, FAILED, DEAD, CANCELLED = (
    "queued", "sending", "sent", "delivered", "failed", "dead", "cancelled",
)
STATUSES = (QUEUED, SENDING, SENT, DELIVERED, FAILED, DEAD, CANCELLED)
MAX_ERROR_LENGTH = 500


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


# Enqueueing is the domain's (in the transaction of the change): re-exported for old callers.
enqueue = domain_outbox.enqueue


def cancel_queued_otps(conn: Connection, custom_number_id: str, now: datetime) -> int:
    """Stop OTP SMS of a registration that were not handed off yet (a newer code replaced them).

    That includes one a worker holds (``sending``): if that worker died, its lease
    would otherwise let the dead code be sent after the fresh one; if it is alive
    and the provider accepts the SMS, :func:`mark_sent` still records the truth.
    """
    result = conn.execute(
        _finish(now, CANCELLED, "superseded").where(
            outbox.c.custom_number_id == custom_number_id,
            outbox.c.kind == "otp",
            outbox.c.status.in_([QUEUED, SENDING]),
        )
    )
    return result.rowcount


def claim(
    conn: Connection, *, now: datetime, worker: str, lease_seconds: int, limit: int
) -> list[Claimed]:
    """Take up to ``limit`` due messages (queued, or sending with an expired lease).

    On PostgreSQL the rows are locked with SKIP LOCKED so concurrent workers
    never take the same row; on SQLite the caller's write transaction already
    excludes other writers.
    """
    rows = claim_due(
        conn,
        outbox,
        (outbox.c.id, outbox.c.kind, outbox.c.to_number, outbox.c.sender, outbox.c.body,
         outbox.c.attempts, outbox.c.expires_at, outbox.c.account_id),
        now=now,
        lease_seconds=lease_seconds,
        limit=limit,
        claimed_by=worker,
    )
    return [
        Claimed(row.id, row.kind, row.to_number, row.sender, row.body, row.attempts + 1, row.expires_at,
                row.account_id)
        for row in rows
    ]


def _finish(now: datetime, status: str, error: str | None = None) -> Update:
    """An UPDATE that ends a message: body redacted, lease dropped."""
    return update(outbox).values(
        status=status,
        body=func.coalesce(outbox.c.redacted_body, outbox.c.body),
        lease_until=None,
        last_error=error[:MAX_ERROR_LENGTH] if error else None,
        updated_at=now,
    )


def mark_sent(
    conn: Connection, message_id: str, *, now: datetime, provider: str, provider_message_id: str | None
) -> None:
    """Record the provider's acceptance (then call :func:`apply_early_receipts` in the same
    transaction: the lock taken here keeps a racing receipt from slipping in between)."""
    if provider_message_id:
        _lock_receipts(conn, provider, provider_message_id)
    conn.execute(
        _finish(now, SENT)
        .where(outbox.c.id == message_id, outbox.c.status.in_([SENDING, CANCELLED]))
        .values(provider=provider, provider_message_id=provider_message_id, sent_at=now)
    )


def mark_ended(conn: Connection, message_id: str, *, now: datetime, status: str, error: str) -> None:
    """End a message as failed, dead or cancelled (unless it was cancelled meanwhile)."""
    conn.execute(_finish(now, status, error).where(outbox.c.id == message_id, outbox.c.status == SENDING))


def mark_retry(
    conn: Connection, message_id: str, *, now: datetime, next_attempt_at: datetime, error: str
) -> None:
    conn.execute(
        update(outbox)
        .where(outbox.c.id == message_id, outbox.c.status == SENDING)  # not a cancelled one
        .values(
            status=QUEUED,
            next_attempt_at=next_attempt_at,
            lease_until=None,
            last_error=error[:MAX_ERROR_LENGTH],
            updated_at=now,
        )
    )


def release(conn: Connection, message_id: str, *, now: datetime, next_attempt_at: datetime) -> None:
    """Put a claimed message back, unsent, without counting the attempt (the circuit
    breaker is open: the provider was not called)."""
    conn.execute(
        update(outbox)
        .where(outbox.c.id == message_id, outbox.c.status == SENDING)
        .values(
            status=QUEUED,
            attempts=outbox.c.attempts - 1,  # the claim counted it
            next_attempt_at=next_attempt_at,
            lease_until=None,
            updated_at=now,
        )
    )


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
    _lock_receipts(conn, provider, provider_message_id)
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
    rows = conn.execute(
        select(early_receipts.c.id, early_receipts.c.status)
        .where(early_receipts.c.provider == provider,
               early_receipts.c.provider_message_id == provider_message_id)
        .order_by(early_receipts.c.id)
    ).all()
    for row in rows:
        _apply(conn, provider, provider_message_id, row.status, now)
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
            events.emit(conn, now=now, account_id=row.account_id, type="message.failed",
                        data={"id": row.id, "to": row.to_number, "sender": row.sender, "status": FAILED,
                              "error": f"{provider}: the delivery receipt says the SMS was not delivered"})
    return bool(rows)


def _lock_receipts(conn: Connection, provider: str, provider_message_id: str) -> None:
    """Serialise the receipts and the sent-record of one provider message (PostgreSQL; on
    SQLite a write transaction already excludes every other writer)."""
    if conn.dialect.name != "postgresql":
        return
    key = f"receipt:{provider}:{provider_message_id}".encode()
    digest = int.from_bytes(hashlib.sha256(key).digest()[:8], "big", signed=True)
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": digest})


def get(conn: Connection, message_id: str) -> dict[str, object] | None:
    row = conn.execute(select(outbox).where(outbox.c.id == message_id)).first()
    return None if row is None else dict(row._mapping)
