"""The queue of account webhook events: claim with a lease, record each attempt.

Events are queued by :mod:`senderid.domain.events` in the transaction of the change
they describe; the dispatcher (:mod:`senderid.delivery.webhooks`) takes them from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from senderid.delivery.lease import MAX_ERROR_LENGTH, claim_due
from senderid.domain.types import WebhookStatus
from senderid.store.tables import accounts, webhook_events

QUEUED, SENDING, DELIVERED, DEAD = WebhookStatus
STATUSES = tuple(WebhookStatus)


@dataclass(frozen=True, slots=True)
class Claimed:
    id: str
    account_id: str
    type: str
    payload: dict[str, Any]
    attempts: int  # including this one
    url: str | None  # the account's URL at claim time
    secret: str | None


def claim(conn: Connection, *, now: datetime, lease_seconds: int, limit: int) -> list[Claimed]:
    """Take up to ``limit`` due events (queued, or sending with an expired lease), oldest
    due first, in one statement (:func:`senderid.delivery.lease.claim_due`: SKIP LOCKED on
    PostgreSQL, so several workers never take the same event); then their accounts' URLs.
    """
    rows = claim_due(
        conn,
        webhook_events,
        (webhook_events.c.id, webhook_events.c.account_id, webhook_events.c.type,
         webhook_events.c.payload, webhook_events.c.attempts),
        now=now,
        lease_seconds=lease_seconds,
        limit=limit,
    )
    if not rows:
        return []
    hooks = {
        row.id: (row.webhook_url, row.webhook_secret)
        for row in conn.execute(
            select(accounts.c.id, accounts.c.webhook_url, accounts.c.webhook_secret).where(
                accounts.c.id.in_({row.account_id for row in rows})
            )
        )
    }
    return [
        Claimed(row.id, row.account_id, row.type, row.payload, row.attempts,
                *hooks.get(row.account_id, (None, None)))
        for row in rows
    ]


def mark_delivered(conn: Connection, event_id: str, *, now: datetime) -> None:
    conn.execute(
        update(webhook_events)
        .where(webhook_events.c.id == event_id)
        .values(status=DELIVERED, lease_until=None, last_error=None, delivered_at=now, updated_at=now)
    )


def mark_retry(conn: Connection, event_id: str, *, now: datetime, next_attempt_at: datetime, error: str) -> None:
    conn.execute(
        update(webhook_events)
        .where(webhook_events.c.id == event_id)
        .values(status=QUEUED, next_attempt_at=next_attempt_at, lease_until=None,
                last_error=error[:MAX_ERROR_LENGTH], updated_at=now)
    )


def mark_dead(conn: Connection, event_id: str, *, now: datetime, error: str) -> None:
    conn.execute(
        update(webhook_events)
        .where(webhook_events.c.id == event_id)
        .values(status=DEAD, lease_until=None, last_error=error[:MAX_ERROR_LENGTH], updated_at=now)
    )
