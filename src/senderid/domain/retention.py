"""What is kept, and for how long: the worker's housekeeping.

* The text of an SMS that has ended (sent, delivered, failed, dead, cancelled) is kept
  ``SENDERID_MESSAGE_BODY_RETENTION_DAYS`` after it ended, then blanked (the row stays:
  its status, numbers and times are the record; :func:`senderid.domain.outbox.blank_ended`).
  An OTP's text lost its code already, when the provider took it. A reply from a phone
  (:mod:`senderid.domain.inbound`) keeps its text as long, counted from its arrival.
* Expired ``Idempotency-Key`` records are deleted (a new key also deletes a few; this
  catches the ones no new key comes after).
* Sending-limit and guess-budget rows are deleted once no window can count them (a day).
* When set, ended messages' rows are deleted ``SENDERID_MESSAGE_RETENTION_DAYS`` after they
  ended (:func:`senderid.domain.outbox.delete_ended`), and audit events
  ``SENDERID_AUDIT_RETENTION_DAYS`` after they happened (:func:`purge`; ``senderid purge``
  runs the same at once). Unset: kept for ever.

Each sweep works in batches of :data:`BATCH` rows, one short transaction per batch, so
it never holds locks for long, and stops at :data:`MAX_BATCHES` per kind (the next
sweep carries on).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Table, delete, select

from senderid.domain import idempotency, inbound, outbox
from senderid.store.db import Database
from senderid.store.tables import audit_events, otp_failures, otp_sends

BATCH = 500
MAX_BATCHES = 20
LIMIT_ROWS_KEPT = timedelta(days=1)  # the longest window (the guess budgets) is a day


@dataclass(frozen=True, slots=True)
class Swept:
    bodies_blanked: int = 0
    idempotency_keys: int = 0
    limit_rows: int = 0
    # Every ended message that ended before this has its body blanked (None: the sweep
    # stopped at MAX_BATCHES). The next sweep may start from it.
    blanked_before: datetime | None = None
    inbound_blanked: int = 0
    purged: Purged | None = None  # what the message and audit retentions deleted, when set


@dataclass(frozen=True, slots=True)
class Purged:
    messages: int = 0
    audit_events: int = 0


def sweep(db: Database, now: datetime, *, retention_days: int, since: datetime | None = None,
          message_retention_days: int | None = None, audit_retention_days: int | None = None) -> Swept:
    """One round of housekeeping as of ``now``. ``since``: a previous sweep's
    ``blanked_before`` (messages that ended before it are blanked already), so that a
    sweep reads only what ended since; None looks at the whole outbox."""
    cutoff = now - timedelta(days=retention_days)
    start = None if since is None else since - timedelta(minutes=5)  # margin for clock skew
    blanked, finished = _batches(db, lambda conn: outbox.blank_ended(conn, cutoff=cutoff, start=start, limit=BATCH))
    replies, _ = _batches(db, lambda conn: inbound.blank_older(conn, cutoff=cutoff, limit=BATCH))
    keys, _ = _batches(db, lambda conn: idempotency.purge_batch(conn, now, limit=BATCH))
    old = now - LIMIT_ROWS_KEPT
    sends, _ = _batches(db, lambda conn: _delete_older(conn, otp_sends, old))
    failures, _ = _batches(db, lambda conn: _delete_older(conn, otp_failures, old))
    purged = None
    if message_retention_days is not None or audit_retention_days is not None:
        purged = purge(db, now, message_days=message_retention_days, audit_days=audit_retention_days,
                       max_batches=MAX_BATCHES)
    return Swept(blanked, keys, sends + failures, cutoff if finished else None, replies, purged)


def purge(db: Database, now: datetime, *, message_days: int | None, audit_days: int | None,
          max_batches: int | None = None) -> Purged:
    """Delete the messages that ended more than ``message_days`` days before ``now``, and the
    audit events older than ``audit_days`` days (None: none of that kind), a batch per
    transaction; at most ``max_batches`` batches of each (None: until none is left)."""
    messages = events = 0
    if message_days is not None:
        before = now - timedelta(days=message_days)
        messages, _ = _batches(db, lambda conn: outbox.delete_ended(conn, before=before, limit=BATCH), max_batches)
    if audit_days is not None:
        before = now - timedelta(days=audit_days)
        events, _ = _batches(db, lambda conn: _delete_older(conn, audit_events, before, column="at"),
                             max_batches)
    return Purged(messages, events)


def _batches(db: Database, one: Callable[[Connection], int], max_batches: int | None = MAX_BATCHES) -> tuple[int, bool]:
    """Run ``one(conn)`` a batch at a time: (rows done, whether none are left)."""
    total = 0
    for _ in (range(max_batches) if max_batches is not None else itertools.count()):
        with db.write() as conn:
            done = int(one(conn))
        total += done
        if done < BATCH:
            return total, True
    return total, False


def _delete_older(conn: Connection, table: Table, before: datetime, *, column: str = "created_at") -> int:
    ids = select(table.c.id).where(table.c[column] < before).limit(BATCH).scalar_subquery()
    return int(conn.execute(delete(table).where(table.c.id.in_(ids))).rowcount)
