"""Each message's history: one ``message_events`` row per change of its status.

The rows are written by the functions of the transitions, in the transaction (and the
statement batch) of the change itself, never afterwards:

* queueing: none; a message's first event, ``queued`` at ``created_at``, is the outbox row
  itself (:func:`timeline` reads it from there), so queueing stays one statement;
* outcomes: each attempt's result (``sent``, ``queued`` again with the error, ``failed``,
  ``dead``, ``cancelled``) with its provider and attempt number, one executemany per
  batch, each row written only when its change was (:data:`RECORDED`);
* receipts: ``delivered`` or ``failed`` with the receipt's time;
* cancels: ``cancelled`` with the reason, one executemany for all the cancelled messages;
* admin: ``queued`` again by an operator's retry.

``detail`` holds an error, a reason or a provider's message id: never a body, and so never
an OTP. A purged message's history goes with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Integer, String, bindparam, delete, insert, select

from senderid.domain.outbox.statements import MAX_ERROR_LENGTH, QUEUED
from senderid.store.coltypes import UTCDateTime
from senderid.store.tables import message_events, outbox


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """One change of a message's status."""

    status: str
    at: datetime
    detail: str | None = None
    provider: str | None = None
    attempt: int | None = None

    def describe(self) -> str | None:
        """The event in words: the attempt and provider, then the detail."""
        head = ""
        if self.attempt:
            head = f"attempt {self.attempt}"
        if self.provider:
            head = f"{head} via {self.provider}" if head else f"via {self.provider}"
        if head and self.detail:
            return f"{head}: {self.detail}"
        return head or self.detail


def row(message_id: str, account_id: str | None, status: str, at: datetime, *, detail: str | None = None,
        provider: str | None = None, attempt: int | None = None) -> dict[str, Any]:
    """The parameters of one history row for :func:`write`."""
    return {"h_message": message_id, "h_account": account_id, "h_status": status, "h_at": at,
            "h_detail": detail[:MAX_ERROR_LENGTH] if detail else None, "h_provider": provider,
            "h_attempt": attempt}


def write(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Write history rows (one statement, however many)."""
    if rows:
        conn.execute(_WRITE, list(rows))


def write_recorded(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Write history rows of changes that may not have happened (one executemany): each
    only when its message now has that status, changed at that time (a message cancelled
    while a worker held it keeps no "failed" it never had)."""
    if rows:
        conn.execute(_RECORDED, list(rows))


def forget(conn: Connection, message_ids: Sequence[str]) -> None:
    """Drop the history of messages that are gone (purged)."""
    if message_ids:
        conn.execute(_FORGET, {"h_ids": list(message_ids)})


def timeline(conn: Connection, message_id: str, created_at: datetime) -> list[MessageEvent]:
    """The message's history, oldest first: queued at ``created_at``, then every change."""
    rows = conn.execute(_TIMELINE, {"h_message": message_id}).all()
    return [MessageEvent(QUEUED, created_at)] + [
        MessageEvent(r.status, r.at, r.detail, r.provider, r.attempt) for r in rows]


# Built once.
_COLUMNS: dict[str, ColumnElement[Any]] = {"message_id": bindparam("h_message", type_=String()),
            "account_id": bindparam("h_account", type_=String()),
            "status": bindparam("h_status", type_=String()), "at": bindparam("h_at", type_=UTCDateTime()),
            "detail": bindparam("h_detail", type_=String()), "provider": bindparam("h_provider", type_=String()),
            "attempt": bindparam("h_attempt", type_=Integer())}
_WRITE = insert(message_events).values(**_COLUMNS)
# the same values, with the account read from the outbox row
_PICKED: list[ColumnElement[Any]] = [outbox.c.account_id if name == "account_id" else param
                                     for name, param in _COLUMNS.items()]
_RECORDED = insert(message_events).from_select(
    list(_COLUMNS),
    select(*_PICKED)
    .select_from(outbox)
    .where(outbox.c.id == bindparam("h_message"), outbox.c.status == bindparam("h_status"),
           outbox.c.updated_at == bindparam("h_at", type_=UTCDateTime())),
)
_FORGET = delete(message_events).where(message_events.c.message_id.in_(bindparam("h_ids", expanding=True)))
_TIMELINE = (
    select(message_events.c.status, message_events.c.at, message_events.c.detail, message_events.c.provider,
           message_events.c.attempt)
    .where(message_events.c.message_id == bindparam("h_message"))
    .order_by(message_events.c.id)
)
