"""Which due messages a worker takes next: lanes, a fair share, and the provider's rate.

A claim fills the worker's free slots in this order::

    1. the priority lane: OTP SMS (and SMS of no account), oldest due first, together
       with any message whose lease ran out (its worker died);
    2. the bulk lane: gateway SMS, shared out between the accounts that have some due,
       an equal share each, oldest due first within an account; the accounts are taken
       round-robin from a cursor, so with more accounts than slots each gets its turn.

So an OTP never waits behind bulk traffic (it is taken at the next claim, whatever
is queued), and one account's burst cannot starve another account's messages.

Messages of a suspended account are not claimed: they wait, queued, until it is resumed
(the claim statements say so, and the accounts probed for bulk say which are suspended,
so that they take no share).

This module is the policy; the statements it composes are the outbox's
(:mod:`senderid.domain.outbox.claims`): each step is one ``UPDATE ... RETURNING``, and the
accounts with due bulk SMS are found by one probe of the index per account.

The sender of each gateway message claimed is checked against the tables in the same
statement: one its account no longer holds is cancelled in the claim's transaction and
not returned, so it never reaches a provider
(:func:`senderid.domain.outbox.refuse_claimed`).

When ``SENDERID_PROVIDER_MAX_PER_SECOND`` is set, a token bucket in ``rate_buckets``,
shared by every worker of the deployment and updated in the claim's transaction, caps
how many SMS parts are claimed per second (a carrier's TPS counts parts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from senderid.domain import outbox
from senderid.store.tables import rate_buckets


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
) -> list[outbox.Claimed]:
    """Take up to ``limit`` due messages (queued, or sending with an expired lease), priority
    lane first, then a fair share of bulk SMS; priority ones first in the list.

    A gateway message whose sender its account no longer holds (``shared_sender``: what
    the shared sender goes out as, SENDERID_SHARED_SENDER) is cancelled here, in the
    claim's transaction, and not returned.

    On PostgreSQL the rows are locked with SKIP LOCKED so concurrent workers
    never take the same row; on SQLite the caller's write transaction already
    excludes other writers.
    """
    if limit <= 0:
        return []
    lease_until = now + timedelta(seconds=lease_seconds)
    rows = outbox.claim_priority(conn, now=now, worker=worker, lease_until=lease_until, shared_sender=shared_sender,
                                 limit=limit)
    free = limit - len(rows)
    if free > 0:
        cursor = cursor or FairCursor()
        probed = outbox.accounts_with_due_bulk(conn, now, cursor.after, free)
        if not probed and cursor.after:
            cursor.after = ""  # wrap around
            probed = outbox.accounts_with_due_bulk(conn, now, "", free)
        # Round-robin: next time start after the last account served, or from the top
        # when this claim reached every account that had something due.
        if probed:
            cursor.after = probed[-1][0] if len(probed) == free else ""
        accounts = [account for account, suspended in probed if not suspended]  # suspended: they wait
        if accounts:
            rows += outbox.claim_bulk(conn, now=now, worker=worker, lease_until=lease_until,
                                      shared_sender=shared_sender,
                                      shares=list(zip(accounts, shares(free, len(accounts)), strict=True)))
    rows = _ordered(rows)
    refused = [row.id for row in rows if not row.sender_allowed]
    if refused:
        outbox.refuse_claimed(conn, now=now, message_ids=refused, worker=worker)
    return [outbox.Claimed.of(row) for row in rows if row.sender_allowed]


def shares(slots: int, accounts: int) -> list[int]:
    """``slots`` split as evenly as can be between ``accounts`` (the first ones get the rest)."""
    base, rest = divmod(slots, accounts)
    return [base + (1 if i < rest else 0) for i in range(accounts)]


def _ordered(rows: list[Row[Any]]) -> list[Row[Any]]:
    return sorted(rows, key=lambda r: (outbox.lane_of(r.kind, r.account_id) != "priority", r.next_attempt_at, r.id))


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
            return float(self.capacity)
        elapsed = max(0.0, (now - row.updated_at).total_seconds())
        return float(min(self.capacity, row.tokens + elapsed * self.per_second))

    def spend(self, conn: Connection, now: datetime, tokens_before: float, used: float) -> None:
        conn.execute(
            update(rate_buckets)
            .where(rate_buckets.c.name == self.name)
            .values(tokens=tokens_before - used, updated_at=now)
        )

    def wait_for(self, tokens: float) -> float:
        """Seconds until a bucket at ``tokens`` holds one whole token again."""
        return max(0.0, (1.0 - tokens) / self.per_second)
