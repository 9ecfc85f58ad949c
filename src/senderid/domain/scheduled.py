"""Scheduled gateway messages: listing them, and cancelling one not yet handed over.

A scheduled message (``scheduleAt`` / ``delay``) is an outbox row whose due time lies
ahead; the worker's lanes claim only rows that are due, so nothing reaches the provider
before then. Cancelling works on any gateway message still ``queued`` (scheduled or
not): it is marked ``cancelled`` in one conditional UPDATE, what it was charged goes back
to the balance (:func:`senderid.domain.outbox.cancel`, the one rule of every cancel), its
account's webhook hears ``message.cancelled``, and the change is audited. A message a
worker has taken (``sending``) or that was handed over is past cancelling (409).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select

from senderid.domain import audit, credits, outbox
from senderid.domain.context import Context
from senderid.domain.types import Actor, OutboxStatus
from senderid.errors import Conflict, NotFound
from senderid.store.tables import outbox as outbox_table

CANCELLED_BY_THE_ACCOUNT = "cancelled by the account"


@dataclass(frozen=True, slots=True)
class Cancelled:
    message_id: str
    status: str
    due_at: datetime


def cancel(ctx: Context, account_id: str, message_id: str, *, actor: Actor) -> Cancelled:
    """Cancel a gateway message of the account that no provider has been handed yet."""
    with ctx.db.write() as conn:
        now = ctx.clock.now()
        done = outbox.cancel(conn, outbox.ById(account_id, message_id), now=now, reason=CANCELLED_BY_THE_ACCOUNT)
        if not done:
            current = conn.execute(
                select(outbox_table.c.status, outbox_table.c.next_attempt_at).where(
                    outbox_table.c.id == message_id, outbox_table.c.account_id == account_id,
                    outbox_table.c.kind == "sms")
            ).first()
            if current is None:
                raise NotFound(f"No message {message_id} in your account")
            if current.status == OutboxStatus.CANCELLED:  # cancelling twice answers the same
                return Cancelled(message_id, OutboxStatus.CANCELLED, current.next_attempt_at)
            raise Conflict(f"Message {message_id} can no longer be cancelled: it is {current.status}")
        [message] = done
        audit.record(conn, at=now, actor=actor, action=audit.Action.MESSAGE_CANCELLED, account_id=account_id,
                     subject=message_id, credits_refunded=credits.as_credits(message.charged))
    return Cancelled(message_id, OutboxStatus.CANCELLED, message.due_at)


def list_scheduled(ctx: Context, account_id: str | None, *, limit: int = 50, offset: int = 0
                   ) -> tuple[list[dict[str, object]], int]:
    """Gateway messages still queued with a due time ahead (soonest first), and how many;
    ``account_id`` None: every account's (the console)."""
    now = ctx.clock.now()
    where = and_(outbox_table.c.kind == "sms", outbox_table.c.status == OutboxStatus.QUEUED,
                 outbox_table.c.next_attempt_at > now, outbox_table.c.attempts == 0)
    if account_id is not None:
        where = and_(where, outbox_table.c.account_id == account_id)
    with ctx.db.read() as conn:
        total = conn.execute(select(func.count()).select_from(outbox_table).where(where)).scalar_one()
        rows = conn.execute(
            select(outbox_table.c.id, outbox_table.c.account_id, outbox_table.c.to_number, outbox_table.c.sender,
                   outbox_table.c.next_attempt_at, outbox_table.c.created_at, outbox_table.c.parts,
                   outbox_table.c.custom_string)
            .where(where).order_by(outbox_table.c.next_attempt_at, outbox_table.c.id).limit(limit).offset(offset)
        ).all()
    return [dict(r._mapping) for r in rows], total
