"""Read-only views for operators (the console): counts at a glance, SMS sent, delivered
and failed per hour and per day (:func:`activity`), the SMS provider's health, the audit
log, account names.

The outbox's own list and counts are in :mod:`senderid.domain.outbox` (``admin``).

Nothing here changes anything; actions go through the aggregates' own modules
(accounts, business_names, custom_numbers, the outbox's retry).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select

from senderid.domain import audit, outbox
from senderid.domain.business_names import STATUSES as BUSINESS_STATUSES
from senderid.domain.context import Context
from senderid.domain.custom_numbers import EXPIRED, PENDING, READABLE_STATUSES
from senderid.domain.types import OutboxStatus
from senderid.errors import InvalidRequest
from senderid.store.coltypes import UTCDateTime, constant, day_start, hour_start
from senderid.store.tables import accounts, business_names, custom_numbers, message_events
from senderid.store.tables import outbox as outbox_table
from senderid.store.tables import provider_health as health_rows

MAX_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Counts:
    custom_numbers: dict[str, int]  # pending, expired, active, cancelled, deleted
    business_names: dict[str, int]  # REQUESTED, APPROVED, REJECTED, WITHDRAWN
    sent_24h: int  # SMS handed to the provider in the last 24 hours
    failed_24h: int  # SMS that ended failed or dead in the last 24 hours
    dead: int  # every dead SMS (they wait for an operator's retry)
    queued: int  # due and waiting, or being sent now (never one scheduled for later)
    scheduled: int  # queued for a time still ahead (scheduleAt / delay)


def counts(ctx: Context) -> Counts:
    now = ctx.clock.now()
    day_ago = now - timedelta(hours=24)
    numbers: dict[str, int] = dict.fromkeys(READABLE_STATUSES, 0)
    names: dict[str, int] = dict.fromkeys(BUSINESS_STATUSES, 0)
    with ctx.db.read() as conn:
        for status, count in conn.execute(
            select(custom_numbers.c.status, func.count()).group_by(custom_numbers.c.status)
        ):
            numbers[status] = numbers.get(status, 0) + count
        # "expired" is derived: a pending registration whose code ran out
        numbers[EXPIRED] = conn.execute(
            select(func.count()).select_from(custom_numbers).where(
                custom_numbers.c.status == constant(PENDING),
                or_(custom_numbers.c.otp_expires_at.is_(None), custom_numbers.c.otp_expires_at <= now),
            )
        ).scalar_one()
        numbers[PENDING] -= numbers[EXPIRED]
        for status, count in conn.execute(
            select(business_names.c.status, func.count()).group_by(business_names.c.status)
        ):
            names[status] = count
        sent = conn.execute(
            select(func.count()).select_from(outbox_table).where(
                outbox_table.c.status.in_([OutboxStatus.SENT, OutboxStatus.DELIVERED]),
                outbox_table.c.sent_at >= day_ago,
            )
        ).scalar_one()
        failed = conn.execute(
            select(func.count()).select_from(outbox_table).where(
                outbox_table.c.status.in_([OutboxStatus.FAILED, OutboxStatus.DEAD]),
                outbox_table.c.updated_at >= day_ago,
            )
        ).scalar_one()
        by_status: dict[str, int] = {}
        for status, _lane, count, _age in outbox.queue_depth(conn, now):  # scheduled apart
            by_status[status] = by_status.get(status, 0) + count
    return Counts(
        custom_numbers=numbers,
        business_names=names,
        sent_24h=sent,
        failed_24h=failed,
        dead=by_status.get(OutboxStatus.DEAD, 0),
        queued=by_status.get(OutboxStatus.QUEUED, 0) + by_status.get(OutboxStatus.SENDING, 0),
        scheduled=by_status.get(outbox.SCHEDULED, 0),
    )


# -- sent, delivered and failed per hour and per day ---------------------------------------

HOURS, DAYS = 24, 7
# What each bar counts: the changes of status in message_events ("dead" is a failure too).
CHARTED = {OutboxStatus.SENT: "sent", OutboxStatus.DELIVERED: "delivered", OutboxStatus.FAILED: "failed",
           OutboxStatus.DEAD: "failed"}


@dataclass(frozen=True, slots=True)
class Bar:
    """One hour's or one day's SMS: how many were handed to the provider, how many a receipt
    said were delivered, how many failed (a refusal, a receipt that says undelivered, or out
    of attempts)."""

    start: datetime  # UTC, the start of the hour or day
    sent: int = 0
    delivered: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class Activity:
    hours: list[Bar]  # the last 24 hours, oldest first, the current hour last
    days: list[Bar]  # the last 7 days (UTC), oldest first, today last

    @staticmethod
    def totals(bars: list[Bar]) -> Bar:
        return Bar(bars[0].start, sum(b.sent for b in bars), sum(b.delivered for b in bars),
                   sum(b.failed for b in bars))


def activity(ctx: Context, account_id: str | None = None) -> Activity:
    """SMS sent, delivered and failed per hour for 24 hours and per day for 7 days, of every
    account or of one: two grouped reads of ``message_events`` (one per chart), each a range
    of ``at`` for four statuses on ``ix_message_events_status_at``, or
    ``ix_message_events_account_status_at`` for one account (both cover the read)."""
    now = ctx.clock.now()
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    today = this_hour.replace(hour=0)
    hours = [this_hour - timedelta(hours=HOURS - 1 - i) for i in range(HOURS)]
    days = [today - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    with ctx.db.read() as conn:
        per_hour = conn.execute(_activity(hour_start, hours[0], account_id)).all()
        per_day = conn.execute(_activity(day_start, days[0], account_id)).all()
    return Activity(_bars(hours, per_hour), _bars(days, per_day))


def _activity(bucket: type[hour_start] | type[day_start], since: datetime, account_id: str | None) -> Any:
    start = bucket(message_events.c.at).label("start")
    where = [message_events.c.status.in_(list(CHARTED)), message_events.c.at >= since]
    if account_id is not None:
        where.insert(0, message_events.c.account_id == account_id)
    return (select(start, message_events.c.status, func.count().label("n"))
            .where(and_(*where)).group_by(start, message_events.c.status))


def _bars(starts: list[datetime], rows: Any) -> list[Bar]:
    found: dict[datetime, dict[str, int]] = {start: {} for start in starts}
    for start, status, count in rows:
        counts = found.get(start)
        if counts is not None:  # a receipt's time from a provider's clock can be ahead of ours
            counts[CHARTED[status]] = counts.get(CHARTED[status], 0) + int(count)
    return [Bar(start, **counts) for start, counts in found.items()]


# The breaker states a worker writes (senderid.delivery.breaker, which the domain does not import).
BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN = "closed", "open", "half_open"


@dataclass(frozen=True, slots=True)
class WorkerHealth:
    worker: str  # host:pid:thread
    provider: str
    breaker: str  # closed | open | half_open (open past its cool-off reads half_open)
    since: datetime  # when the breaker took that state
    reopens_at: datetime | None  # an open breaker's next trial send
    last_error: str | None
    last_error_at: datetime | None
    updated_at: datetime
    stale: bool  # no word from it for longer than a live worker with a broken provider stays silent

    @property
    def failing(self) -> bool:
        return self.breaker != BREAKER_CLOSED and not self.stale


_WORST = {BREAKER_OPEN: 0, BREAKER_HALF_OPEN: 1, BREAKER_CLOSED: 2}


@dataclass(frozen=True, slots=True)
class ProviderState:
    """One named provider as every worker serving it reports it."""

    provider: str
    workers: list[WorkerHealth]

    @property
    def worst(self) -> WorkerHealth:
        """The worker whose breaker for it is furthest from closed (a live one before a stale one)."""
        return min(self.workers, key=lambda w: (w.stale, _WORST.get(w.breaker, 2), w.worker))

    @property
    def failing(self) -> bool:
        return any(w.failing for w in self.workers)

    @property
    def last_error(self) -> WorkerHealth | None:
        seen = [(w.last_error_at, w) for w in self.workers if w.last_error_at is not None]
        return max(seen, key=lambda pair: pair[0])[1] if seen else None


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    provider: str  # SENDERID_SMS_PROVIDER of this process
    workers: list[WorkerHealth]  # every worker's own view, as written by the worker
    # when the oldest SMS still queued or being sent was due (its scheduled time, or its
    # queueing); a message scheduled for later is not waiting
    oldest_waiting_at: datetime | None
    waiting: int

    @property
    def failing(self) -> list[WorkerHealth]:
        """The workers whose circuit breaker is open or half-open (nothing leaves through them)."""
        return [w for w in self.workers if w.failing]

    @property
    def failing_providers(self) -> list[str]:
        """The providers the failing workers use, as they reported them (not this process's
        setting: a worker may run another provider)."""
        return sorted({w.provider for w in self.failing})

    @property
    def providers(self) -> list[str]:
        """The providers the workers use (this process's setting when none has reported)."""
        return sorted({w.provider for w in self.workers}) or [self.provider]

    @property
    def all_failing(self) -> bool:
        """Every provider the workers serve is failing: no SMS leaves (one failing among
        several: their routes' other providers carry their messages)."""
        return bool(self.failing) and set(self.failing_providers) >= {w.provider for w in self.workers}

    @property
    def by_provider(self) -> list[ProviderState]:
        """One line per named provider the workers serve, in name order."""
        names = sorted({w.provider for w in self.workers})
        return [ProviderState(name, [w for w in self.workers if w.provider == name]) for name in names]

    @property
    def worker_names(self) -> list[str]:
        return sorted({w.worker for w in self.workers})

    @property
    def last_error(self) -> WorkerHealth | None:
        """The worker that saw the most recent provider failure."""
        seen = [(w.last_error_at, w) for w in self.workers if w.last_error_at is not None]
        return max(seen, key=lambda pair: pair[0])[1] if seen else None


def provider_health(ctx: Context) -> ProviderHealth:
    """The circuit breaker of each worker, the last provider error, the oldest waiting SMS.

    Two statements: the workers' rows (one each) and the queue's oldest message (on the
    outbox's status index). A message scheduled for a time still ahead is not waiting.
    """
    now = ctx.clock.now()
    with ctx.db.read() as conn:
        rows = conn.execute(_WORKERS).all()
        waiting, oldest = conn.execute(_WAITING, {"r_now": now}).one()
    return ProviderHealth(ctx.settings.sms_provider, _workers(ctx, rows), oldest, int(waiting))


def workers(ctx: Context) -> list[WorkerHealth]:
    """Every worker's row for every provider it serves: one statement."""
    with ctx.db.read() as conn:
        rows = conn.execute(_WORKERS).all()
    return _workers(ctx, rows)


def failing_workers(ctx: Context) -> list[WorkerHealth]:
    """The workers' breakers that are open or half-open, each naming its provider (as the
    worker reported it: a named provider of the routes file, or the single provider's kind,
    which may not be this process's SENDERID_SMS_PROVIDER): one statement over
    ``provider_health`` (a row per worker and provider)."""
    with ctx.db.read() as conn:
        rows = conn.execute(_WORKERS).all()
    return [w for w in _workers(ctx, rows) if w.failing]


_WORKERS = select(health_rows).order_by(health_rows.c.worker, health_rows.c.provider)
# Waiting: being sent, or queued and due (not scheduled for a time still ahead); since when it was due.
_DUE = or_(outbox_table.c.scheduled_at.is_(None),
           outbox_table.c.scheduled_at <= bindparam("r_now", type_=UTCDateTime()))
_WAITING = select(
    func.count(), func.min(func.coalesce(outbox_table.c.scheduled_at, outbox_table.c.created_at))
).where(or_(outbox_table.c.status == OutboxStatus.SENDING, and_(outbox_table.c.status == OutboxStatus.QUEUED, _DUE)))


def _workers(ctx: Context, rows: Any) -> list[WorkerHealth]:
    now = ctx.clock.now()
    settings = ctx.settings
    # A worker whose breaker is open tries again at least every longest cool-off (its
    # row changes then); one silent for twice that, plus a lease, has stopped.
    quiet = timedelta(
        seconds=2 * max(settings.delivery_backoff_max_seconds, settings.delivery_breaker_seconds)
        + settings.worker_lease_seconds
    )
    workers = []
    for row in rows:
        state = row.breaker
        if state == BREAKER_OPEN and row.reopens_at is not None and row.reopens_at <= now:
            state = BREAKER_HALF_OPEN  # the cool-off is over: the next due message is the trial
        workers.append(WorkerHealth(
            worker=row.worker, provider=row.provider, breaker=state, since=row.since,
            reopens_at=row.reopens_at if state == BREAKER_OPEN else None, last_error=row.last_error,
            last_error_at=row.last_error_at, updated_at=row.updated_at,
            stale=now - row.updated_at > quiet,
        ))
    return workers


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
