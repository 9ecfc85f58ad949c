"""Small helpers shared by tests."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, select

from senderid.delivery.providers.devinbox import list_messages
from senderid.domain.context import Context
from senderid.runtime import build_worker
from senderid.store.tables import custom_numbers, outbox

_CODE = re.compile(r"\b(\d{6})\b")


def deliver_all(ctx: Context) -> int:
    """Run a devinbox worker until the outbox has nothing due."""
    worker = build_worker(ctx, name="test-worker")
    total = 0
    while handled := worker.run_once():
        total += handled
    return total


def latest_code(ctx: Context, to: str) -> str:
    """Deliver what is queued, then read the newest code sent to ``to`` from the dev inbox."""
    deliver_all(ctx)
    for message in list_messages(ctx.db):
        if message["to"] == to:
            match = _CODE.search(message["body"])
            assert match, message["body"]
            return match.group(1)
    raise AssertionError(f"no SMS to {to} in the dev inbox")


def registrations(ctx: Context, number: str) -> list[dict[str, object]]:
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(custom_numbers).where(custom_numbers.c.number == number).order_by(custom_numbers.c.created_at)
        ).all()
    return [dict(r._mapping) for r in rows]


def outbox_row(conn: Connection, message_id: str) -> dict[str, object] | None:
    """One outbox message as stored, or None."""
    row = conn.execute(select(outbox).where(outbox.c.id == message_id)).first()
    return None if row is None else dict(row._mapping)


H = TypeVar("H", bound=logging.Handler)


@contextmanager
def logging_to(handler: H) -> Iterator[H]:
    """Every logger's records at DEBUG (SQLAlchemy's statement log included) also go to
    ``handler`` while the block runs; the root logger is put back after."""
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
