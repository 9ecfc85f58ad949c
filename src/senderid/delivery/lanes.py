"""Which due messages a worker takes next: lanes, a fair share, and the provider's rate.

A claim fills the worker's free slots in this order::

    1. the priority lane: OTP SMS (and SMS of no account), oldest due first, together
       with any message whose lease ran out (its worker died);
    2. the bulk lane: gateway SMS, shared out between the accounts that have some due,
       an equal share each, oldest due first within an account; the accounts are taken
       round-robin from a cursor, so with more accounts than slots each gets its turn.

So an OTP never waits behind bulk traffic (it is taken at the next claim, whatever
is queued), and one account's burst cannot starve another account's messages.

The sender of each gateway message claimed is checked against the tables in the same
statement (``RETURNING``): one its account no longer holds is not sent (see
:mod:`senderid.delivery.outbox`).

Messages of a suspended account (``accounts.suspended_at``) are not claimed, in either
lane: they wait, queued, until the account is resumed (:data:`_NOT_SUSPENDED`, in every
claim statement; the probe for accounts with bulk due says which are suspended, so that
they take no share).

Every step is one statement: ``UPDATE outbox ... WHERE id IN (SELECT ... LIMIT n FOR
UPDATE SKIP LOCKED) RETURNING ...`` (SKIP LOCKED lets workers on PostgreSQL claim side
by side; on SQLite the write transaction excludes other writers). The accounts with due
bulk SMS are found by a recursive skip over the ``(status, kind, account_id, due)``
index: one probe per account, whatever the backlog.

When ``SENDERID_PROVIDER_MAX_PER_SECOND`` is set, a token bucket in ``rate_buckets``,
shared by every worker of the deployment and updated in the claim's transaction, caps
how many SMS parts are claimed per second (a carrier's TPS counts parts).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    Row,
    String,
    and_,
    bindparam,
    exists,
    insert,
    or_,
    select,
    text,
    union_all,
    update,
)

from senderid.domain.messages import sender_still_allowed
from senderid.domain.types import OutboxStatus
from senderid.store.coltypes import UTCDateTime
from senderid.store.tables import accounts as accounts_table
from senderid.store.tables import outbox, rate_buckets

QUEUED, SENDING = OutboxStatus.QUEUED, OutboxStatus.SENDING
OTP, SMS = "otp", "sms"
LANES = ("priority", "bulk")

# What a claim returns of each row (after the claim: attempts already counted), and
# whether its sender is still one its account holds (read in the same statement).
COLUMNS = (
    outbox.c.id, outbox.c.kind, outbox.c.to_number, outbox.c.sender, outbox.c.body,
    outbox.c.attempts, outbox.c.expires_at, outbox.c.account_id, outbox.c.next_attempt_at,
    outbox.c.acma_registered,
    # a subquery, so that the row's columns are named with their table inside it
    select(sender_still_allowed(bindparam("shared_sender", type_=String())))
    .correlate(outbox).scalar_subquery().label("sender_allowed"),
)


def lane_of(kind: str, account_id: str | None) -> str:
    """The lane a message is claimed in (also the label of the queue metrics)."""
    return "bulk" if kind == SMS and account_id is not None else "priority"


@dataclass
class FairCursor:
    """Where the round-robin over accounts resumes (one per worker)."""

    after: str = ""


def claim(
    conn: Connection,
    *,
    now: datetime,
    worker: str,
    lease_seconds: int,
    limit: int,
    cursor: FairCursor | None = None,
    shared_sender: str = "",
) -> list[Row[Any]]:
    """Claim up to ``limit`` due messages, priority lane first, then a fair share of bulk SMS.

    Each row says whether its sender is still allowed (``sender_allowed``): the shared
    sender is ``shared_sender`` (SENDERID_SHARED_SENDER)."""
    if limit <= 0:
        return []
    values: dict[str, Any] = {"now": now, "lease_until": now + timedelta(seconds=lease_seconds), "worker": worker,
                              "shared_sender": shared_sender}
    rows = list(conn.execute(_PRIORITY_CLAIM, {**values, "n": limit}).all())
    free = limit - len(rows)
    if free <= 0:
        return _ordered(rows)

    cursor = cursor or FairCursor()
    probed = _accounts_with_due_bulk(conn, now, cursor.after, free)
    if not probed and cursor.after:
        cursor.after = ""  # wrap around
        probed = _accounts_with_due_bulk(conn, now, "", free)
    if not probed:
        return _ordered(rows)
    # Round-robin: next time start after the last account served, or from the top
    # when this claim reached every account that had something due.
    cursor.after = probed[-1][0] if len(probed) == free else ""
    accounts = [account for account, suspended in probed if not suspended]  # suspended: they wait
    if not accounts:
        return _ordered(rows)
    for i, (account, share) in enumerate(zip(accounts, shares(free, len(accounts)), strict=True)):
        values[f"a{i}"], values[f"k{i}"] = account, share
    return _ordered(rows + list(conn.execute(_bulk_claim(len(accounts)), values).all()))


def shares(slots: int, accounts: int) -> list[int]:
    """``slots`` split as evenly as can be between ``accounts`` (the first ones get the rest)."""
    base, rest = divmod(slots, accounts)
    return [base + (1 if i < rest else 0) for i in range(accounts)]


# The claim's statements are built once (per number of accounts for the bulk lane), so
# executing one costs no statement building, cache-key generation or compilation.
_NOW = bindparam("now", type_=UTCDateTime())
_DUE = and_(outbox.c.status == QUEUED, outbox.c.next_attempt_at <= _NOW)
# -- suspended accounts: no message of theirs is claimed (see the module's docstring) --
_NOT_SUSPENDED = ~exists().where(accounts_table.c.id == outbox.c.account_id,
                                 accounts_table.c.suspended_at.is_not(None))
_CLAIM_VALUES = {
    "status": SENDING,
    "attempts": outbox.c.attempts + 1,
    "lease_until": bindparam("lease_until", type_=UTCDateTime()),
    "claimed_by": bindparam("worker"),
    "updated_at": _NOW,
}


def _oldest(where: Any, limit: Any) -> Any:
    return (
        select(outbox.c.id)
        .where(where)
        .order_by(outbox.c.next_attempt_at, outbox.c.id)  # ties: ids are in the order of queueing
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def _claiming(ids: Any) -> Any:
    return update(outbox).where(outbox.c.id.in_(ids)).values(**_CLAIM_VALUES).returning(*COLUMNS)


_PRIORITY_CLAIM = _claiming(_oldest(and_(or_(
    and_(_DUE, outbox.c.kind == OTP),
    and_(_DUE, outbox.c.kind == SMS, outbox.c.account_id.is_(None)),
    and_(outbox.c.status == SENDING, outbox.c.lease_until <= _NOW),  # its worker died
), _NOT_SUSPENDED), bindparam("n", type_=Integer())))


@functools.cache
def _bulk_claim(accounts: int) -> Any:
    """The bulk lane's claim for ``accounts`` accounts: the oldest ``k{i}`` due of account ``a{i}``."""
    arms = [
        select(arm.c.id)
        for arm in (
            _oldest(and_(_DUE, outbox.c.kind == SMS, outbox.c.account_id == bindparam(f"a{i}"), _NOT_SUSPENDED),
                    bindparam(f"k{i}", type_=Integer())).subquery()
            for i in range(accounts)
        )
    ]
    return _claiming(arms[0] if accounts == 1 else union_all(*arms))


def _ordered(rows: list[Row[Any]]) -> list[Row[Any]]:
    return sorted(rows, key=lambda r: (lane_of(r.kind, r.account_id) != "priority", r.next_attempt_at, r.id))


# One probe of the index per account that has bulk SMS due (a "loose index scan"), and
# whether the account is suspended (its messages wait; it takes no share of the claim).
_DUE_ACCOUNTS = text(
    """
    WITH RECURSIVE due(account_id, n) AS (
        SELECT (SELECT MIN(o.account_id) FROM outbox o
                WHERE o.status = 'queued' AND o.kind = 'sms' AND o.account_id > :after
                  AND o.next_attempt_at <= :now), 1
        UNION ALL
        SELECT (SELECT MIN(o.account_id) FROM outbox o
                WHERE o.status = 'queued' AND o.kind = 'sms' AND o.account_id > due.account_id
                  AND o.next_attempt_at <= :now), due.n + 1
        FROM due WHERE due.account_id IS NOT NULL AND due.n < :limit
    )
    SELECT due.account_id,
           EXISTS (SELECT 1 FROM accounts a WHERE a.id = due.account_id AND a.suspended_at IS NOT NULL)
               AS suspended
    FROM due WHERE due.account_id IS NOT NULL ORDER BY due.n
    """
).bindparams(bindparam("now", type_=UTCDateTime()))


def _accounts_with_due_bulk(conn: Connection, now: datetime, after: str, limit: int) -> list[tuple[str, bool]]:
    """(account, suspended) of up to ``limit`` accounts with bulk SMS due, after ``after``."""
    rows = conn.execute(_DUE_ACCOUNTS, {"now": now, "after": after, "limit": limit})
    return [(row.account_id, bool(row.suspended)) for row in rows]


# -- the provider's rate cap ---------------------------------------------------------------

BURST_SECONDS = 0.1  # the bucket holds a tenth of a second of sends: no bursts a TPS meter sees


class RateBucket:
    """A token bucket in the database, one row per provider, shared by every worker.

    :meth:`available` (in the claim's transaction, locking the row) says how many SMS
    parts may be claimed now; :meth:`spend` takes what the claim used. The bucket may go
    below zero (a long message of several parts): the next claim then waits until it
    has refilled.
    """

    def __init__(self, name: str, per_second: float) -> None:
        self.name = name
        self.per_second = per_second
        self.capacity = max(1.0, per_second * BURST_SECONDS)

    def available(self, conn: Connection, now: datetime) -> float:
        row = conn.execute(
            select(rate_buckets.c.tokens, rate_buckets.c.updated_at)
            .where(rate_buckets.c.name == self.name)
            .with_for_update()
        ).first()
        if row is None:
            conn.execute(insert(rate_buckets).values(name=self.name, tokens=self.capacity, updated_at=now))
            return self.capacity
        elapsed = max(0.0, (now - row.updated_at).total_seconds())
        return min(self.capacity, row.tokens + elapsed * self.per_second)

    def spend(self, conn: Connection, now: datetime, tokens_before: float, used: float) -> None:
        conn.execute(
            update(rate_buckets)
            .where(rate_buckets.c.name == self.name)
            .values(tokens=tokens_before - used, updated_at=now)
        )

    def wait_for(self, tokens: float) -> float:
        """Seconds until a bucket at ``tokens`` holds one whole token again."""
        return max(0.0, (1.0 - tokens) / self.per_second)
