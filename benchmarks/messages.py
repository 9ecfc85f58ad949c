"""The message-list row's data: ``n`` gateway messages of the benchmarked account.

``GET /api/v1/gateway/messages`` must answer as fast with 1,000,000 stored messages as
with 1,000, so the row's account holds all ``n`` of them (the list's worst case: every
stored message is one it may have to page or count). They are spread over the past
year, to recipients (``+6147`` numbers) and ``customString`` values, mostly delivered, some
sent or failed. The row rotates over real requests (:data:`PATHS`): the newest page and the
next one, and the list filtered by ``to`` (in the national form a customer types) and by
``customString``.

So that every request answers a full page at every scale (the row compares the cost of a
page, not of pages of different sizes), there are ``n / 100`` recipients and as many
``customString`` values (10 to 1,000), the ones the row asks for among them: each value
matches at least 100 messages.

Rows go in through SQLAlchemy Core in chunks (``executemany``), with the outbox's
indexes in place, as the server would have built them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

RECIPIENTS = 1_000  # at most; n / 100, at least 10 (see the module's docstring)
CUSTOM_STRINGS = 1_000
ASKED_TO = (7, 421, 768)  # the recipients and customString values the row's requests name
ASKED_CUSTOM = (12, 503, 999)
PREFIX = "+6147"  # run.py's prefixes are +6141..+6146, load.py's +6140
CHUNK = 20_000
PATHS = (
    "/api/v1/gateway/messages?limit=50",
    "/api/v1/gateway/messages?limit=50&offset=50",
    *(f"/api/v1/gateway/messages?to=047{k:07d}" for k in ASKED_TO),
    *(f"/api/v1/gateway/messages?customString=order-{k}" for k in ASKED_CUSTOM),
)
_STATUSES = ("delivered",) * 8 + ("sent", "failed")


def _pool(asked: tuple[int, ...], most: int, n: int) -> list[int]:
    """The values messages take: ``n / 100`` of them (10 to ``most``), the asked ones first."""
    size = max(10, min(most, n // 100))
    return [*asked, *(k for k in range(most) if k not in asked)][:size]


def _rows(account_id: str, n: int, now: datetime) -> Iterator[dict[str, Any]]:
    recipients, customs = _pool(ASKED_TO, RECIPIENTS, n), _pool(ASKED_CUSTOM, CUSTOM_STRINGS, n)
    start = now - timedelta(days=365)
    step = timedelta(days=365) / max(n, 1)
    epoch = int(start.timestamp())
    for i in range(n):
        created = start + step * i
        status = _STATUSES[(i * 7) % len(_STATUSES)]
        sent = created + timedelta(seconds=2)
        yield {
            "id": f"{epoch:08x}{0xBE:02x}{i:014x}", "kind": "sms", "account_id": account_id,
            "to_number": f"{PREFIX}{recipients[(i * 7919) % len(recipients)]:07d}", "sender": "Acme", "body": "",
            "status": status, "attempts": 1, "next_attempt_at": created, "provider": "devinbox",
            "provider_message_id": f"bench-{i}", "created_at": created,
            "updated_at": sent + timedelta(seconds=5) if status != "sent" else sent, "sent_at": sent,
            "delivered_at": sent + timedelta(seconds=5) if status == "delivered" else None,
            "parts": 1, "credits": 1, "charged": 1,
            "custom_string": f"order-{customs[(i * 104729) % len(customs)]}",
        }


def store(database_url: str, account_id: str, n: int) -> float:
    """Write ``n`` gateway messages of ``account_id``; the seconds it took."""
    from senderid.store.db import Database
    from senderid.store.tables import outbox

    started = time.perf_counter()
    db = Database(database_url)
    try:
        rows = _rows(account_id, n, datetime.now(UTC))
        while True:
            chunk = [row for _, row in zip(range(CHUNK), rows, strict=False)]
            if not chunk:
                break
            with db.write() as conn:
                conn.execute(outbox.insert(), chunk)
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE outbox")
                conn.commit()
    finally:
        db.dispose()
    return time.perf_counter() - started
