"""Queueing webhook events, in the transaction of the change they describe.

An event is written only when the account has a webhook URL; the worker
delivers it later (never from inside a request's transaction), signed per
the Standard Webhooks spec. Event types:

``custom_number.verified``, ``custom_number.cancelled``, ``custom_number.deleted``,
``business_name.approved``, ``business_name.rejected``, ``message.sent``,
``message.failed``.

Payloads name things (ids, numbers, statuses), never an OTP, a key or an
SMS body.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from senderid import ids
from senderid.store.tables import accounts, webhook_events

EVENT_TYPES = (
    "custom_number.verified",
    "custom_number.cancelled",
    "custom_number.deleted",
    "business_name.approved",
    "business_name.rejected",
    "message.sent",
    "message.failed",
)


def emit(conn: Connection, *, now: datetime, account_id: str, type: str, data: dict[str, Any]) -> str | None:
    """Queue an event for the account's webhook; None when it has no webhook."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    url = conn.execute(select(accounts.c.webhook_url).where(accounts.c.id == account_id)).scalar()
    if not url:
        return None
    event_id = "msg_" + ids.new_id()
    conn.execute(
        insert(webhook_events).values(
            id=event_id,
            account_id=account_id,
            type=type,
            payload={"type": type, "timestamp": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                     "data": data},
            status="queued",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    return event_id
