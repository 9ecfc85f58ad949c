"""Account webhook events, queued in the transaction of the change they describe.

An event is written only when the account has a webhook URL; the worker delivers it
later (never from inside a request's transaction), signed per the Standard Webhooks
spec. Payloads name things (ids, numbers, statuses), never an OTP, a key or the body of
an SMS the gateway sent; ``message.inbound`` carries the text a contact sent in reply.

:func:`emit` writes a request's few events with one ``INSERT ... SELECT``: the rows of
accounts without a webhook URL simply select nothing, so the URL is not read first. The
worker's batches (one ``message.sent`` per SMS) take two statements whatever their size:
one read of the accounts that have a webhook, one multi-row insert.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Connection, Integer, String, bindparam, insert, literal, select, union_all

from senderid import ids
from senderid.clock import iso_ms
from senderid.domain.types import WebhookStatus
from senderid.store.coltypes import UTCDateTime
from senderid.store.prepared import Prepared
from senderid.store.tables import accounts, webhook_events

EVENT_TYPES = (
    "custom_number.verified",
    "custom_number.cancelled",
    "custom_number.deleted",
    "custom_number.reverify_due",
    "custom_number.lapsed",
    "custom_number.released",
    "custom_number.reclaim_started",
    "custom_number.reclaimed",
    "business_name.approved",
    "business_name.rejected",
    "business_name.acma_updated",
    "message.sent",
    "message.delivered",
    "message.failed",
    "message.cancelled",
    "message.inbound",
    "optout.added",
    "optout.removed",
)
SMALL = 8  # up to this many events go in one INSERT ... SELECT (built once per count)

Event = tuple[str, str, dict[str, Any]]  # account id, type, data

_COLUMNS = ("id", "account_id", "type", "payload", "status", "attempts", "next_attempt_at",
            "created_at", "updated_at")


def emit(conn: Connection, *, now: datetime, events: Sequence[Event]) -> int:
    """Queue each event for its account's webhook (nothing for an account without one);
    returns how many were queued."""
    if not events:
        return 0
    for _, type, _ in events:
        if type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type!r}")
    stamp = iso_ms(now)
    rows = [
        {"id": "msg_" + ids.new_id(), "account_id": account_id, "type": type,
         "payload": {"type": type, "timestamp": stamp, "data": data}}
        for account_id, type, data in events
    ]
    if len(rows) > SMALL:
        return _emit_many(conn, now, rows)
    params: dict[str, Any] = {"e_now": now}
    for i, row in enumerate(rows):
        params.update({f"e_id{i}": row["id"], f"e_account{i}": row["account_id"], f"e_type{i}": row["type"],
                       f"e_payload{i}": row["payload"]})
    return _statement(len(rows)).run(conn, params).rowcount


def _emit_many(conn: Connection, now: datetime, rows: list[dict[str, Any]]) -> int:
    hooked = set(
        conn.execute(
            select(accounts.c.id).where(accounts.c.id.in_({row["account_id"] for row in rows}),
                                        accounts.c.webhook_url.is_not(None), accounts.c.webhook_url != "")
        ).scalars()
    )
    wanted = [{**row, "status": WebhookStatus.QUEUED, "attempts": 0, "next_attempt_at": now, "created_at": now,
               "updated_at": now} for row in rows if row["account_id"] in hooked]
    if wanted:
        conn.execute(insert(webhook_events), wanted)
    return len(wanted)


@functools.lru_cache(maxsize=SMALL)
def _statement(count: int) -> Prepared:
    """``INSERT INTO webhook_events ... SELECT ... FROM accounts WHERE <has a webhook>``
    for ``count`` events (UNION ALL), built once per count."""
    at = bindparam("e_now", type_=UTCDateTime)
    selects = [
        select(
            bindparam(f"e_id{i}", type_=String), accounts.c.id, bindparam(f"e_type{i}", type_=String),
            bindparam(f"e_payload{i}", type_=JSON), literal(WebhookStatus.QUEUED.value, String), literal(0, Integer),
            at, at, at,
        ).where(accounts.c.id == bindparam(f"e_account{i}"), accounts.c.webhook_url.is_not(None),
                accounts.c.webhook_url != "")
        for i in range(count)
    ]
    source = selects[0] if count == 1 else union_all(*selects)
    return Prepared(insert(webhook_events).from_select(list(_COLUMNS), source))
