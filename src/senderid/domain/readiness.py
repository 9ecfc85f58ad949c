"""Whether the database answers: the readiness check's question (``/readyz``).

A ping runs a trivial statement on a connection of its own, bounded by the database
timeout (:func:`ping_timeout`). At most :data:`MAX_PINGS` are in flight at once per
process: past that, :func:`database_answers` says no at once, without touching the
database (it is slow already, and more waiting threads would not help it).
"""

from __future__ import annotations

import threading

from senderid.domain.context import Context

MAX_PINGS = 4
_PINGS = threading.BoundedSemaphore(MAX_PINGS)


def database_answers(ctx: Context) -> bool:
    """True when the database runs a statement; False when it fails, or too many pings
    are in flight already. Blocks up to the database timeout (call it off the event loop)."""
    if not _PINGS.acquire(blocking=False):
        return False
    try:
        return bool(ctx.db.ping())
    finally:
        _PINGS.release()


def ping_timeout(ctx: Context) -> float:
    """How long a caller waits for :func:`database_answers` before it gives up, in seconds."""
    return ctx.db.timeout
