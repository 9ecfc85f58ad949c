"""The ``devinbox`` provider: SMS go nowhere but a table a developer can read.

A message with no sender (the provider's default, e.g. an OTP when
``SENDERID_OTP_SENDER`` is empty) shows as ``senderid``.

Like a mail catcher for SMS: what would have been sent is kept in the
``dev_inbox`` table (this provider's own "network") and shown at
``/dev/inbox`` and ``/dev/inbox.json``. For development and tests only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

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


def list_messages(db: Database, limit: int = 200) -> list[dict[str, Any]]:
    """Newest first."""
    with db.read() as conn:
        rows = conn.execute(
            select(dev_inbox).order_by(dev_inbox.c.id.desc()).limit(limit)
        ).all()
    return [
        {
            "to": row.to_number,
            "sender": row.sender,
            "body": row.body,
            "created_at": iso_ms(row.created_at),
        }
        for row in rows
    ]


def clear(db: Database) -> int:
    with db.write() as conn:
        return conn.execute(delete(dev_inbox)).rowcount
