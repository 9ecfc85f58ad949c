"""Whether the database answers: the readiness check's question (``/readyz``); and, once
it does, which SMS providers the workers report failing, each named provider of the
routes on its own (:func:`check`; a failing provider does not make the server unready: the
API still queues, but the answer names it).

A ping runs a trivial statement on a connection of its own, bounded by the database
timeout (:func:`ping_timeout`). At most :data:`MAX_PINGS` are in flight at once per
process: past that, :func:`database_answers` says no at once, without touching the
database (it is slow already, and more waiting threads would not help it).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from senderid.domain import overview
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


@dataclass(frozen=True, slots=True)
class Readiness:
    database: bool  # the database answered
    failing: list[overview.WorkerHealth] = field(default_factory=list)  # workers' failing providers
    serving: list[str] = field(default_factory=list)  # every provider the workers report, by name

    @property
    def providers_failing(self) -> list[str]:
        return sorted({w.provider for w in self.failing})

    @property
    def all_failing(self) -> bool:
        """No provider the workers serve is sending (one failing among several: their
        routes' other providers carry their messages)."""
        return bool(self.failing) and set(self.providers_failing) >= set(self.serving)


def check(ctx: Context) -> Readiness:
    """The ping, then (only when it answered) the workers whose provider is failing, as
    they reported it: one more statement. Blocks like :func:`database_answers`."""
    if not _PINGS.acquire(blocking=False):
        return Readiness(False)
    try:
        if not ctx.db.ping():
            return Readiness(False)
        workers = overview.workers(ctx)
        return Readiness(True, [w for w in workers if w.failing], sorted({w.provider for w in workers}))
    except Exception:  # noqa: BLE001 - the database went away between the two
        return Readiness(False)
    finally:
        _PINGS.release()


def ping_timeout(ctx: Context) -> float:
    """How long a caller waits for :func:`database_answers` before it gives up, in seconds."""
    return ctx.db.timeout
