"""Account webhook events, queued in the transaction of the change they describe.

:func:`emit` writes any number of events with one ``INSERT ... SELECT``: the rows of
accounts without a webhook URL simply select nothing, so the URL is not read first.
The payload shape and types are :mod:`senderid.delivery.events`' (the worker delivers them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Connection, Integer, String, insert, literal, select, union_all

from senderid import ids
from senderid.delivery.events import EVENT_TYPES
from senderid.store.coltypes import UTCDateTime
from senderid.store.tables import accounts, webhook_events

Event = tuple[str, str, dict[str, Any]]  # account id, type, data

_COLUMNS = ("id", "account_id", "type", "payload", "status", "attempts", "next_attempt_at",
            "created_at", "updated_at")


def emit(conn: Connection, *, now: datetime, events: Sequence[Event]) -> None:
    """Queue each event for its account's webhook (nothing for an account without one)."""
    if not events:
        return
    stamp = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    selects = []
    for account_id, type, data in events:
        if type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type!r}")
        at = literal(now, UTCDateTime)
        selects.append(
            select(
                literal("msg_" + ids.new_id(), String), accounts.c.id, literal(type, String),
                literal({"type": type, "timestamp": stamp, "data": data}, JSON),
                literal("queued", String), literal(0, Integer), at, at, at,
            ).where(accounts.c.id == account_id, accounts.c.webhook_url.is_not(None),
                    accounts.c.webhook_url != "")
        )
    source = selects[0] if len(selects) == 1 else union_all(*selects)
    conn.execute(insert(webhook_events).from_select(list(_COLUMNS), source))
