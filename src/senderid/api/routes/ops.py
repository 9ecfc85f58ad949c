"""Health checks for load balancers and orchestrators.

``/healthz`` says the process is up: it runs on the event loop, touching neither the
database nor the worker threads, so it answers at once whatever the database does.
``/readyz`` says the database answers: its ping runs on a thread of its own (not the
request threads, which a hanging database may have used up) and is given up after
``SENDERID_DATABASE_TIMEOUT_SECONDS``, with a 503.
"""

from __future__ import annotations

import math
import threading

import anyio
import anyio.to_thread
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from senderid.api import envelope
from senderid.api.deps import context
from senderid.store.db import Database

router = APIRouter(tags=["operations"])

# Pings in flight at once; past that, /readyz answers 503 at once (the database is slow).
_PINGS = threading.BoundedSemaphore(4)


def _ping(db: Database) -> bool:
    if not _PINGS.acquire(blocking=False):
        return False
    try:
        return bool(db.ping())
    finally:
        _PINGS.release()


@router.get("/healthz")
async def healthz() -> Response:
    """The process is up."""
    return envelope.ok("ok")


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    """The database answers (within the database timeout)."""
    db = context(request).db
    answered = False
    with anyio.move_on_after(db.timeout):
        # Its own limiter: not a request thread, which a hanging database may hold all of.
        answered = await anyio.to_thread.run_sync(
            _ping, db, abandon_on_cancel=True, limiter=anyio.CapacityLimiter(1))
    if answered:
        return envelope.ok("ready")
    retry = str(max(1, math.ceil(db.timeout)))
    return envelope.failure("The database is not reachable", 503, headers={"Retry-After": retry})
