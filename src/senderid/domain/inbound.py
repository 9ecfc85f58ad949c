"""Replies from phones: every text a provider hands in, kept for the account it answers.

Which account a reply answers, and which of its SMS, is the opt-out rule's
(:func:`senderid.domain.optouts.record_reply`): the SMS the phone last received from the
number the reply was sent to. That function keeps the reply here, in its own
transaction, and a reply that answers no account is not kept.

Each kept reply is sent to the account's webhook as ``message.inbound`` (``id``,
``from``, ``to``, ``body``, ``receivedAt``, ``replyTo``) and listed by
``GET /api/v1/inbound``. Its text is blanked ``SENDERID_MESSAGE_BODY_RETENTION_DAYS``
after it arrived (the worker's housekeeping, :mod:`senderid.domain.retention`).

Cost: keeping a reply is one ``INSERT`` and one event statement; a page of the list is
two statements (count and rows), served by the (account, time) and
(account, number, time) indexes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from senderid import ids
from senderid.clock import iso_ms
from senderid.domain import events
from senderid.domain.context import Context
from senderid.store.tables import inbound_messages

MAX_ADDRESS = 32  # what ``to`` keeps of an address that is not a mobile number


@dataclass(frozen=True, slots=True)
class Inbound:
    id: str
    from_number: str  # E.164
    to: str  # the number (E.164) or name the reply was sent to
    body: str  # "" once blanked
    received_at: datetime
    reply_to: str | None  # the MessageId of the SMS it answers


def payload(item: Inbound) -> dict[str, Any]:
    """The wire shape, for the list and for ``message.inbound``."""
    return {"id": item.id, "from": item.from_number, "to": item.to, "body": item.body,
            "receivedAt": iso_ms(item.received_at), "replyTo": item.reply_to}


def keep(conn: Connection, *, account_id: str, from_number: str, to: str, body: str, reply_to: str | None,
         provider: str, now: datetime) -> Inbound:
    """Store one reply for ``account_id`` and queue its ``message.inbound`` event."""
    item = Inbound(ids.new_id(), from_number, to[:MAX_ADDRESS], body, now, reply_to)
    conn.execute(insert(inbound_messages).values(
        id=item.id, account_id=account_id, from_number=item.from_number, to_address=item.to, body=item.body,
        received_at=now, reply_to=reply_to, provider=provider, body_blanked=False,
    ))
    events.emit(conn, now=now, events=[(account_id, "message.inbound", payload(item))])
    return item


def list_inbound(ctx: Context, account_id: str, *, from_number: str | None = None, since: datetime | None = None,
                 limit: int = 50, offset: int = 0) -> tuple[list[Inbound], int]:
    """One page of the account's replies, newest first, and how many match."""
    where = [inbound_messages.c.account_id == account_id]
    if from_number is not None:
        where.append(inbound_messages.c.from_number == from_number)
    if since is not None:
        where.append(inbound_messages.c.received_at >= since)
    with ctx.db.read() as conn:
        total = conn.execute(select(func.count()).select_from(inbound_messages).where(*where)).scalar_one()
        rows = conn.execute(
            select(inbound_messages).where(*where)
            .order_by(inbound_messages.c.received_at.desc(), inbound_messages.c.id.desc())
            .limit(limit).offset(offset)
        ).all() if total > offset else []
    return [Inbound(r.id, r.from_number, r.to_address, r.body, r.received_at, r.reply_to) for r in rows], total


def blank_older(conn: Connection, *, cutoff: datetime, limit: int) -> int:
    """Blank the text of up to ``limit`` replies that arrived before ``cutoff``; how many."""
    batch = (select(inbound_messages.c.id)
             .where(inbound_messages.c.body_blanked.is_(False), inbound_messages.c.received_at < cutoff)
             .limit(limit).scalar_subquery())
    return conn.execute(update(inbound_messages).where(inbound_messages.c.id.in_(batch))
                        .values(body="", body_blanked=True)).rowcount
