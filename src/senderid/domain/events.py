"""Account webhook events, queued in the transaction of the change they describe.

:func:`emit` writes any number of events with one ``INSERT ... SELECT``: the rows of
accounts without a webhook URL simply select nothing, so the URL is not read first.
The payload shape and types are :mod:`senderid.delivery.events`' (the worker delivers them).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Connection, Integer, String, bindparam, insert, literal, select, union_all

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
    params: dict[str, Any] = {"e_now": now}
    for i, (account_id, type, data) in enumerate(events):
        if type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type!r}")
        params.update({
            f"e_id{i}": "msg_" + ids.new_id(), f"e_account{i}": account_id, f"e_type{i}": type,
            f"e_payload{i}": {"type": type, "timestamp": stamp, "data": data},
        })
    conn.execute(_statement(len(events)), params)


@functools.lru_cache(maxsize=16)
def _statement(count: int) -> Any:
    """``INSERT INTO webhook_events ... SELECT ... FROM accounts WHERE <has a webhook>``
    for ``count`` events (UNION ALL), built once per count."""
    at = bindparam("e_now", type_=UTCDateTime)
    selects = [
        select(
            bindparam(f"e_id{i}", type_=String), accounts.c.id, bindparam(f"e_type{i}", type_=String),
            bindparam(f"e_payload{i}", type_=JSON), literal("queued", String), literal(0, Integer),
            at, at, at,
        ).where(accounts.c.id == bindparam(f"e_account{i}"), accounts.c.webhook_url.is_not(None),
                accounts.c.webhook_url != "")
        for i in range(count)
    ]
    source = selects[0] if count == 1 else union_all(*selects)
    return insert(webhook_events).from_select(list(_COLUMNS), source)
