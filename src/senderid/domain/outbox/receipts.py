"""sent -> delivered | failed: delivery receipts, by the provider's message id.

A receipt can beat the worker's own write of ``sent`` (the SMSC sends it right after
accepting the message, before the worker has recorded the provider's message id); such an
*early* receipt is kept in ``early_receipts`` and applied by :func:`apply_early_receipts`
in the transaction that records the message as sent (:mod:`.outcomes`). Both sides take
the same per-message lock first (:func:`lock_receipts`), so one of them always sees the
other's write.

Each receipt that moves a message writes its history (:mod:`.history`): ``delivered``
(and ``outbox.delivered_at``) or ``failed``, at the receipt's time (:func:`receipt_time`:
the provider's own time when it gives a plausible one, else when the receipt arrived). A
gateway message's account hears ``message.delivered`` (``id``, ``to``, ``sender``,
``deliveredAt``) or ``message.failed``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, delete, insert, select, text, update

from senderid.clock import iso_ms
from senderid.domain import events
from senderid.domain.outbox import history
from senderid.domain.outbox.statements import DELIVERED, FAILED, SENT, SMS
from senderid.store.db import lock_key
from senderid.store.tables import early_receipts, outbox

RECEIPT_STATUSES = (SENT, DELIVERED, FAILED)  # what a receipt says; also where it finds a message
EARLY_RECEIPT_TTL = timedelta(days=1)  # an early receipt no message claimed by then is dropped
# Carriers' receipt times have minute resolution: a message queued at 10:05:30 and
# delivered at 10:05:50 can say 10:05.
PROVIDER_TIME_RESOLUTION = timedelta(minutes=1)

# Built once.
_MATCHING = (
    select(outbox.c.id, outbox.c.kind, outbox.c.account_id, outbox.c.to_number, outbox.c.sender,
           outbox.c.status, outbox.c.created_at)
    .where(outbox.c.provider_message_id == bindparam("r_provider_message_id"),
           outbox.c.provider == bindparam("r_provider"), outbox.c.status.in_(RECEIPT_STATUSES))
)
_RECEIPT = (
    update(outbox)
    .where(outbox.c.id == bindparam("r_id"))
    .values(status=bindparam("r_status"), updated_at=bindparam("r_now"), delivered_at=bindparam("r_delivered"))
)
_LOCK_MANY = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k")


def record_receipt(
    conn: Connection, *, provider: str, provider_message_id: str, status: str, now: datetime,
    provider_at: datetime | None = None,
) -> bool:
    """A delivery receipt: sent -> delivered or failed. True when a message matched.

    ``provider_at``: the provider's own time of the delivery (or failure), when the
    receipt carries one; see :func:`receipt_time`.

    A ``sent`` receipt (still on its way) never moves a delivered or failed message
    back. A final one (``delivered``, ``failed``) that matches nothing yet is kept as an
    early receipt for :func:`apply_early_receipts`. A gateway message that fails this
    way tells its account's webhook (``message.failed``).
    """
    if status not in RECEIPT_STATUSES:
        raise ValueError(f"unknown receipt status {status!r}")
    lock_receipts(conn, provider, [provider_message_id])
    matched = _apply(conn, provider, provider_message_id, status, now, provider_at=provider_at)
    if not matched and status != SENT:
        conn.execute(delete(early_receipts).where(early_receipts.c.received_at < now - EARLY_RECEIPT_TTL))
        conn.execute(
            insert(early_receipts).values(
                provider=provider, provider_message_id=provider_message_id, status=status, received_at=now,
                provider_at=provider_at,
            )
        )
    return matched


def receipt_time(provider_at: datetime | None, *, queued_at: datetime, arrived: datetime) -> datetime:
    """When a receipt says the message was delivered (or failed).

    The provider's own time when it gives one that can be true: not after the receipt
    arrived, and not before the message was queued (to the minute: carriers' times have
    minute resolution, and one before the queueing is raised to it). Anything else (no
    time, or one from a clock in another time zone: the formats name none) is the time
    the receipt arrived.
    """
    if provider_at is None or provider_at > arrived or provider_at < queued_at - PROVIDER_TIME_RESOLUTION:
        return arrived
    return max(provider_at, queued_at)


def apply_early_receipts(conn: Connection, *, provider: str, provider_message_id: str, now: datetime) -> int:
    """Apply (and forget) the receipts that came before the message was recorded as sent.

    Call it in the transaction of :func:`.outcomes.mark_sent`, after it. Returns how many applied.
    """
    return apply_early_receipts_many(conn, provider, [provider_message_id], now)


def apply_early_receipts_many(conn: Connection, provider: str, provider_message_ids: list[str],
                              now: datetime) -> int:
    """:func:`apply_early_receipts` for many provider message ids at once."""
    rows = conn.execute(
        select(early_receipts.c.id, early_receipts.c.provider_message_id, early_receipts.c.status,
               early_receipts.c.received_at, early_receipts.c.provider_at)
        .where(early_receipts.c.provider == provider,
               early_receipts.c.provider_message_id.in_(provider_message_ids))
        .order_by(early_receipts.c.id)
    ).all()
    for row in rows:
        _apply(conn, provider, row.provider_message_id, row.status, now, arrived=row.received_at,
               provider_at=row.provider_at)
    if rows:
        conn.execute(delete(early_receipts).where(early_receipts.c.id.in_([row.id for row in rows])))
    return len(rows)


def lock_receipts(conn: Connection, provider: str, provider_message_ids: list[str]) -> None:
    """Serialise the receipts and the sent-record of provider messages (PostgreSQL, one
    statement, keys in order so two batches never deadlock; on SQLite a write transaction
    already excludes every other writer)."""
    if conn.dialect.name != "postgresql" or not provider_message_ids:
        return
    keys = sorted(lock_key(f"receipt:{provider}:{pid}") for pid in provider_message_ids)
    conn.execute(_LOCK_MANY, {"keys": keys})


def _apply(conn: Connection, provider: str, provider_message_id: str, status: str, now: datetime,
           arrived: datetime | None = None, provider_at: datetime | None = None) -> bool:
    """Apply a receipt; ``arrived``: when it came (an early one), else ``now``."""
    rows = conn.execute(_MATCHING, {"r_provider_message_id": provider_message_id, "r_provider": provider}).all()
    for row in rows:
        if status == SENT or row.status == status:
            continue  # nothing new (and "on its way" never undoes a final word)
        at = receipt_time(provider_at, queued_at=row.created_at, arrived=arrived or now)
        conn.execute(_RECEIPT, {"r_id": row.id, "r_status": status, "r_now": now,
                                "r_delivered": at if status == DELIVERED else None})
        error = f"{provider}: the delivery receipt says the SMS was not delivered"
        history.write(conn, [history.row(row.id, row.account_id, status, at, provider=provider,
                                         detail=error if status == FAILED else "delivery receipt")])
        if row.kind != SMS or row.account_id is None:
            continue
        if status == FAILED:
            events.emit(conn, now=now, events=[(row.account_id, "message.failed", {
                "id": row.id, "to": row.to_number, "sender": row.sender, "status": FAILED, "error": error})])
        else:
            events.emit(conn, now=now, events=[(row.account_id, "message.delivered", {
                "id": row.id, "to": row.to_number, "sender": row.sender, "deliveredAt": iso_ms(at)})])
    return bool(rows)
