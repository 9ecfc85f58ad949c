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
    [event_id] = emit_many(conn, now=now, events=[(account_id, type, data)])
    return event_id


def emit_many(
    conn: Connection, *, now: datetime, events: list[tuple[str, str, dict[str, Any]]]
) -> list[str | None]:
    """Queue ``(account id, type, data)`` events (one read of the accounts' webhook URLs,
    one insert); for each, its id, or None when its account has no webhook."""
    for _, type, _ in events:
        if type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type!r}")
    wanted = {account_id for account_id, _, _ in events}
    with_webhook = set(
        conn.execute(
            select(accounts.c.id).where(accounts.c.id.in_(wanted), accounts.c.webhook_url.is_not(None),
                                        accounts.c.webhook_url != "")
        ).scalars()
    )
    timestamp = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    event_ids = ["msg_" + ids.new_id() if account_id in with_webhook else None for account_id, _, _ in events]
    rows = [
        {"id": event_id, "account_id": account_id, "type": type,
         "payload": {"type": type, "timestamp": timestamp, "data": data},
         "status": "queued", "attempts": 0, "next_attempt_at": now, "created_at": now, "updated_at": now}
        for event_id, (account_id, type, data) in zip(event_ids, events, strict=True)
        if event_id is not None
    ]
    if rows:
        conn.execute(insert(webhook_events), rows)
    return event_ids
