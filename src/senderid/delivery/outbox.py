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
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Update, and_, func, insert, or_, select, update

from senderid import ids
from senderid.store.tables import outbox

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


def enqueue(
    conn: Connection,
    *,
    now: datetime,
    kind: str,
    to: str,
    sender: str,
    body: str,
    redacted_body: str | None = None,
    account_id: str | None = None,
    custom_number_id: str | None = None,
    expires_at: datetime | None = None,
) -> str:
    message_id = ids.new_id()
    conn.execute(
        insert(outbox).values(
            id=message_id,
            kind=kind,
            account_id=account_id,
            custom_number_id=custom_number_id,
            to_number=to,
            sender=sender,
            body=body,
            redacted_body=redacted_body,
            status=QUEUED,
            attempts=0,
            next_attempt_at=now,
            expires_at=expires_at,
            created_at=now,
            updated_at=now,
        )
    )
    return message_id


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
    due = or_(
        and_(outbox.c.status == QUEUED, outbox.c.next_attempt_at <= now),
        and_(outbox.c.status == SENDING, outbox.c.lease_until <= now),
    )
    rows = conn.execute(
        select(outbox.c.id, outbox.c.kind, outbox.c.to_number, outbox.c.sender, outbox.c.body,
               outbox.c.attempts, outbox.c.expires_at, outbox.c.account_id)
        .where(due)
        .order_by(outbox.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return []
    conn.execute(
        update(outbox)
        .where(outbox.c.id.in_([row.id for row in rows]))
        .values(
            status=SENDING,
            attempts=outbox.c.attempts + 1,
            lease_until=now + timedelta(seconds=lease_seconds),
            claimed_by=worker,
            updated_at=now,
        )
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


def record_receipt(
    conn: Connection, *, provider: str, provider_message_id: str, status: str, now: datetime
) -> bool:
    """A delivery receipt: sent -> delivered or failed. True when a message matched."""
    result = conn.execute(
        update(outbox)
        .where(
            outbox.c.provider == provider,
            outbox.c.provider_message_id == provider_message_id,
            outbox.c.status.in_([SENT, DELIVERED, FAILED]),
        )
        .values(status=status, updated_at=now)
    )
    return result.rowcount > 0


def get(conn: Connection, message_id: str) -> dict[str, object] | None:
    row = conn.execute(select(outbox).where(outbox.c.id == message_id)).first()
    return None if row is None else dict(row._mapping)
