"""The ``devinbox`` provider: SMS go nowhere but a table a developer can read.

A message with no sender (the provider's default, e.g. an OTP when
``SENDERID_OTP_SENDER`` is empty) shows as ``senderid``.

Like a mail catcher for SMS: what would have been sent is kept in the
``dev_inbox`` table (this provider's own "network") and shown at
``/dev/inbox`` and ``/dev/inbox.json``. For development and tests only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from senderid import numbers
from senderid.clock import Clock, iso_ms
from senderid.delivery.providers.base import OutgoingSms, SendResult
from senderid.store.db import Database
from senderid.store.tables import dev_inbox

DEFAULT_SENDER = "senderid"  # what the inbox shows for the provider's default sender


class DevInboxProvider:
    name = "devinbox"
    max_in_flight: int | None = None

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def send(self, sms: OutgoingSms) -> SendResult:
        try:
            with self._db.write() as conn:
                conn.execute(
                    insert(dev_inbox).values(
                        message_id=sms.message_id, to_number=sms.to, sender=sms.sender or DEFAULT_SENDER,
                        body=sms.body, created_at=self._clock.now(),
                    )
                )
        except IntegrityError:
            pass  # handed over before, by a worker that died before recording it
        return SendResult(provider_message_id=sms.message_id)

    def close(self) -> None:
        pass


PAGE = 50  # messages on a page of the inbox
MAX_PAGE = 500
MAX_SEQ = 2**31 - 1  # dev_inbox.id is a 32-bit integer column


def list_messages(db: Database, limit: int = 200) -> list[dict[str, Any]]:
    """The newest ``limit`` messages, newest first."""
    return page(db, limit=limit).messages


@dataclass(frozen=True, slots=True)
class Page:
    messages: list[dict[str, Any]]  # newest first
    older: int | None  # ``before`` of the next page (older messages), None when this is the last


def number_filter(to: str) -> tuple[str, str] | None:
    """How ``to`` picks messages: ("is", E.164) for a whole number (``0491 570 156``,
    ``+61491570156``), ("has", digits) for some digits of one (``0156``); None: no filter."""
    text = to.strip()
    if not text:
        return None
    try:
        return "is", numbers.parse_contact(text)
    except Exception:  # noqa: BLE001 - not a whole number: some of its digits
        digits = re.sub(r"\D", "", text)
        return ("has", digits) if digits else ("is", text)


def page(db: Database, *, to: str = "", before: int | None = None, limit: int = PAGE) -> Page:
    """One page of the inbox, newest first: the messages to ``to`` (:func:`number_filter`;
    blank: every message) kept before the message numbered ``before`` (None: the newest).
    Each message carries its outbox ``id`` and its place in the inbox (``seq``)."""
    limit = max(1, min(limit, MAX_PAGE))
    query = select(dev_inbox).order_by(dev_inbox.c.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(dev_inbox.c.id < before)
    match = number_filter(to)
    if match is not None:
        how, value = match
        query = query.where(dev_inbox.c.to_number == value if how == "is"
                            else dev_inbox.c.to_number.contains(value, autoescape=True))
    with db.read() as conn:
        rows = conn.execute(query).all()
    shown = rows[:limit]
    messages = [
        {
            "id": row.message_id,
            "seq": row.id,
            "to": row.to_number,
            "sender": row.sender,
            "body": row.body,
            "created_at": iso_ms(row.created_at),
        }
        for row in shown
    ]
    return Page(messages, shown[-1].id if len(rows) > limit else None)


def clear(db: Database) -> int:
    with db.write() as conn:
        return conn.execute(delete(dev_inbox)).rowcount
