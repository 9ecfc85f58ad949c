"""Putting SMS in the outbox, in the caller's transaction (the worker takes them from there).

A registration and its OTP SMS, or a gateway call and its messages, commit together
or not at all: nothing is sent for a change that did not happen, and nothing that
happened goes unsent. ``kind`` is ``otp`` (a code) or ``sms`` (a gateway message).
Cost: one statement, whatever the number of messages (a ``COPY`` of the rows on PostgreSQL,
:mod:`senderid.store.bulk`). The row is the first entry of the
message's history (queued at ``created_at``; :mod:`.history`), so queueing writes no more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert

from senderid import ids
from senderid.domain.outbox.statements import KINDS, QUEUED
from senderid.store.bulk import insert_rows
from senderid.store.prepared import Prepared
from senderid.store.tables import outbox


@dataclass(frozen=True, slots=True)
class Message:
    """One SMS for :func:`enqueue_many`."""

    to: str
    sender: str
    body: str
    redacted_body: str | None = None
    account_id: str | None = None
    custom_number_id: str | None = None
    expires_at: datetime | None = None
    due_at: datetime | None = None  # not handed to the provider before (None: at once)
    parts: int | None = None  # a gateway message's SMS parts, cost and customString (reports)
    credits: int | None = None
    charged: int | None = None  # taken from a prepaid balance for it (None/0: nothing)
    custom_string: str | None = None
    acma_registered: bool | None = None  # a business-name sender under a warn/refuse policy


def enqueue(
    conn: Connection,
    *,
    now: datetime,
    kind: str,
    to: str,
    sender: str,
    body: str,
    redacted_body: str | None = None,
    account_id: str | None = None,
    custom_number_id: str | None = None,
    expires_at: datetime | None = None,
) -> str:
    """Queue one SMS; returns its message id."""
    [message_id] = enqueue_many(
        conn, now=now, kind=kind,
        messages=[Message(to, sender, body, redacted_body, account_id, custom_number_id, expires_at)],
    )
    return message_id


def enqueue_many(conn: Connection, *, now: datetime, kind: str, messages: Sequence[Message]) -> list[str]:
    """Queue many SMS in one statement; returns their message ids, in order."""
    if kind not in KINDS:
        raise ValueError(f"unknown outbox kind {kind!r}")
    if not messages:
        return []
    message_ids = [ids.new_id() for _ in messages]
    rows = [
            {
                "id": message_id, "kind": kind, "account_id": m.account_id,
                "custom_number_id": m.custom_number_id, "to_number": m.to, "sender": m.sender,
                "body": m.body, "redacted_body": m.redacted_body, "status": QUEUED, "attempts": 0,
                "next_attempt_at": m.due_at or now,
                "scheduled_at": m.due_at, "expires_at": m.expires_at, "created_at": now,
                "updated_at": now, "parts": m.parts, "credits": m.credits, "charged": m.charged,
                "custom_string": m.custom_string,
                "acma_registered": m.acma_registered,
            }
            for message_id, m in zip(message_ids, messages, strict=True)
    ]
    # One row: a plain INSERT (built once). Many: COPY on PostgreSQL, multi-row INSERTs on
    # SQLite (senderid.store.bulk; the ids are made here).
    if len(rows) == 1:
        _INSERT.run(conn, rows[0])
    else:
        insert_rows(conn, outbox, rows)
    return message_ids


_INSERT = Prepared(insert(outbox))  # the driver's cursor: an OTP SMS is one row

