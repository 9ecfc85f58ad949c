"""The webhook queue's claim, a lease on due rows; and the length of its errors.

``webhook_events`` (like the SMS outbox) holds work items with ``status``
(``queued``/``sending``/...), ``next_attempt_at``, ``lease_until``, ``attempts`` and
``updated_at``. A row is due when it is queued and its time has come, or when it is
being sent under a lease that has run out (its worker died). Claiming one sets it
``sending`` under a fresh lease and counts the attempt.

The SMS outbox claims with the same rule and lease, but by lane (OTP first, a fair
share per account, the provider's rate): see :mod:`senderid.delivery.lanes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Connection, Row, Table, and_, or_, select, update

from senderid.domain.types import WebhookStatus

QUEUED, SENDING = WebhookStatus.QUEUED, WebhookStatus.SENDING  # OutboxStatus has the same two
MAX_ERROR_LENGTH = 500  # webhook_events.last_error (the outbox cuts its own to the same)


def claim_due(
    conn: Connection,
    table: Table,
    columns: Sequence[Column[Any]],
    *,
    now: datetime,
    lease_seconds: int,
    limit: int,
    **claim_values: Any,
) -> list[Row[Any]]:
    """Take up to ``limit`` due rows of ``table`` (oldest due first) in one statement,
    ``UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED) RETURNING``, and
    return ``columns`` of them as claimed (``attempts`` already counted), oldest due first.

    On PostgreSQL SKIP LOCKED lets concurrent workers claim side by side and never take
    the same row; on SQLite the caller's write transaction already excludes other
    writers. ``claim_values`` are further columns set on the claimed rows (such as who
    claimed them).
    """
    due = or_(
        and_(table.c.status == QUEUED, table.c.next_attempt_at <= now),
        and_(table.c.status == SENDING, table.c.lease_until <= now),
    )
    oldest = (
        select(table.c.id)
        .where(due)
        .order_by(table.c.next_attempt_at, table.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = conn.execute(
        update(table)
        .where(table.c.id.in_(oldest))
        .values(
            status=SENDING,
            attempts=table.c.attempts + 1,
            lease_until=now + timedelta(seconds=lease_seconds),
            **claim_values,
            updated_at=now,
        )
        .returning(table.c.next_attempt_at, *columns)
    ).all()
    # RETURNING gives the rows in no set order.
    return sorted(rows, key=lambda row: (row.next_attempt_at, row.id))
