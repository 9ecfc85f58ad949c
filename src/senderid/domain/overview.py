"""Read-only views for operators (the console): counts at a glance, the audit log, account names.

The outbox's own list and counts are in :mod:`senderid.domain.outbox_admin`.

Nothing here changes anything; actions go through the aggregates' own modules
(accounts, business_names, custom_numbers, the outbox's retry).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select

from senderid.domain import audit, outbox_admin
from senderid.domain.business_names import STATUSES as BUSINESS_STATUSES
from senderid.domain.context import Context
from senderid.domain.custom_numbers import EXPIRED, PENDING, READABLE_STATUSES
from senderid.domain.types import OutboxStatus
from senderid.errors import InvalidRequest
from senderid.store.tables import accounts, business_names, custom_numbers, outbox

MAX_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Counts:
    custom_numbers: dict[str, int]  # pending, expired, active, cancelled, deleted
    business_names: dict[str, int]  # REQUESTED, APPROVED, REJECTED, WITHDRAWN
    sent_24h: int  # SMS handed to the provider in the last 24 hours
    failed_24h: int  # SMS that ended failed or dead in the last 24 hours
    dead: int  # every dead SMS (they wait for an operator's retry)
    queued: int  # waiting or being sent now


def counts(ctx: Context) -> Counts:
    now = ctx.clock.now()
    day_ago = now - timedelta(hours=24)
    numbers = dict.fromkeys(READABLE_STATUSES, 0)
    names = dict.fromkeys(BUSINESS_STATUSES, 0)
    with ctx.db.read() as conn:
        for status, count in conn.execute(
            select(custom_numbers.c.status, func.count()).group_by(custom_numbers.c.status)
        ):
            numbers[status] = numbers.get(status, 0) + count
        # "expired" is derived: a pending registration whose code ran out
        numbers[EXPIRED] = conn.execute(
            select(func.count()).select_from(custom_numbers).where(
                custom_numbers.c.status == PENDING,
                or_(custom_numbers.c.otp_expires_at.is_(None), custom_numbers.c.otp_expires_at <= now),
            )
        ).scalar_one()
        numbers[PENDING] -= numbers[EXPIRED]
        for status, count in conn.execute(
            select(business_names.c.status, func.count()).group_by(business_names.c.status)
        ):
            names[status] = count
        sent = conn.execute(
            select(func.count()).select_from(outbox).where(
                outbox.c.status.in_([OutboxStatus.SENT, OutboxStatus.DELIVERED]),
                outbox.c.sent_at >= day_ago,
            )
        ).scalar_one()
        failed = conn.execute(
            select(func.count()).select_from(outbox).where(
                outbox.c.status.in_([OutboxStatus.FAILED, OutboxStatus.DEAD]),
                outbox.c.updated_at >= day_ago,
            )
        ).scalar_one()
        by_status = outbox_admin.status_counts(
            conn, (OutboxStatus.DEAD, OutboxStatus.QUEUED, OutboxStatus.SENDING)
        )
    return Counts(
        custom_numbers=numbers,
        business_names=names,
        sent_24h=sent,
        failed_24h=failed,
        dead=by_status[OutboxStatus.DEAD],
        queued=by_status[OutboxStatus.QUEUED] + by_status[OutboxStatus.SENDING],
    )


def audit_page(
    ctx: Context,
    *,
    account_id: str | None = None,
    action: str | None = None,
    subject: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Audit events, newest first; ``before_id`` (the last id of a page) gives the next page."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit is 1 to {MAX_LIMIT}")
    with ctx.db.read() as conn:
        return audit.events(
            conn, account_id=account_id, action=action, subject=subject, since=since, until=until,
            before_id=before_id, limit=limit,
        )


def account_names(ctx: Context, account_ids: set[str]) -> dict[str, str]:
    """Account id -> name for the ids that exist, in one query (the console's account lists)."""
    if not account_ids:
        return {}
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(accounts.c.id, accounts.c.name).where(accounts.c.id.in_(sorted(account_ids)))
        ).all()
    return {row.id: row.name for row in rows}
