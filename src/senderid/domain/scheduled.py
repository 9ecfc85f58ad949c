"""Scheduled gateway messages: listing them, and cancelling one not yet handed over.

A scheduled message (``scheduleAt`` / ``delay``) is an outbox row whose due time lies
ahead; the worker's lanes claim only rows that are due, so nothing reaches the provider
before then. Cancelling works on any gateway message still ``queued`` (scheduled or
not): it is marked ``cancelled`` in one conditional UPDATE, its credits go back to a
prepaid balance, and the change is audited. A message a worker has taken
(``sending``) or that was handed over is past cancelling (409).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, func, select, update

from senderid.domain import audit, credits
from senderid.domain.context import Context
from senderid.domain.types import Actor, OutboxStatus
from senderid.errors import Conflict, NotFound
from senderid.store.coltypes import UTCDateTime
from senderid.store.tables import outbox

_CANCEL = (
    update(outbox)
    .where(outbox.c.id == bindparam("m_id"), outbox.c.account_id == bindparam("m_account"),
           outbox.c.kind == "sms", outbox.c.status == OutboxStatus.QUEUED)
    .values(status=OutboxStatus.CANCELLED, last_error="cancelled by the account",
            updated_at=bindparam("m_now", type_=UTCDateTime))
    .returning(outbox.c.credits, outbox.c.next_attempt_at)
)


@dataclass(frozen=True, slots=True)
class Cancelled:
    message_id: str
    status: str
    due_at: datetime


def cancel(ctx: Context, account_id: str, message_id: str, *, actor: Actor) -> Cancelled:
    """Cancel a gateway message of the account that no provider has been handed yet."""
    with ctx.db.write() as conn:
        now = ctx.clock.now()
        row = conn.execute(_CANCEL, {"m_id": message_id, "m_account": account_id, "m_now": now}).first()
        if row is None:
            current = conn.execute(
                select(outbox.c.status, outbox.c.next_attempt_at).where(
                    outbox.c.id == message_id, outbox.c.account_id == account_id, outbox.c.kind == "sms")
            ).first()
            if current is None:
                raise NotFound(f"No message {message_id} in your account")
            if current.status == OutboxStatus.CANCELLED:  # cancelling twice answers the same
                return Cancelled(message_id, OutboxStatus.CANCELLED, current.next_attempt_at)
            raise Conflict(f"Message {message_id} can no longer be cancelled: it is {current.status}")
        credits.refund(conn, account_id, row.credits or 0, now)
        audit.record(conn, at=now, actor=actor, action=audit.Action.MESSAGE_CANCELLED, account_id=account_id,
                     subject=message_id, credits_refunded=credits.as_credits(row.credits or 0))
    return Cancelled(message_id, OutboxStatus.CANCELLED, row.next_attempt_at)


def list_scheduled(ctx: Context, account_id: str | None, *, limit: int = 50, offset: int = 0
                   ) -> tuple[list[dict[str, object]], int]:
    """Gateway messages still queued with a due time ahead (soonest first), and how many;
    ``account_id`` None: every account's (the console)."""
    now = ctx.clock.now()
    where = and_(outbox.c.kind == "sms", outbox.c.status == OutboxStatus.QUEUED, outbox.c.next_attempt_at > now,
                 outbox.c.attempts == 0)
    if account_id is not None:
        where = and_(where, outbox.c.account_id == account_id)
    with ctx.db.read() as conn:
        total = conn.execute(select(func.count()).select_from(outbox).where(where)).scalar_one()
        rows = conn.execute(
            select(outbox.c.id, outbox.c.account_id, outbox.c.to_number, outbox.c.sender, outbox.c.next_attempt_at,
                   outbox.c.created_at, outbox.c.parts, outbox.c.custom_string)
            .where(where).order_by(outbox.c.next_attempt_at, outbox.c.id).limit(limit).offset(offset)
        ).all()
    return [dict(r._mapping) for r in rows], total
