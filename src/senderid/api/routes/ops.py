"""Health checks for load balancers and orchestrators.

``/healthz`` says the process is up: it runs on the event loop, touching neither the
database nor the worker threads, so it answers at once whatever the database does.
``/readyz`` says the database answers: its ping runs on a thread of its own (not the
request threads, which a hanging database may have used up) and is given up after
``SENDERID_DATABASE_TIMEOUT_SECONDS``, with a 503. The ping itself is the domain's
(:mod:`senderid.domain.readiness`): routes reach the database only through the domain.
A ready answer also names the SMS providers the delivery workers report failing
(``data.providers_failing``: each named provider whose breaker is open or half-open, with
each failing worker), as the console's banner does: the server stays ready (the API
queues), but whoever looks learns that SMS are not leaving, or which providers their
routes' other providers stand in for.
"""

from __future__ import annotations

import math

import anyio
import anyio.to_thread
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from senderid.api import envelope
from senderid.api.deps import context
from senderid.domain import readiness

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> Response:
    """The process is up."""
    return envelope.ok("ok")


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    """The database answers (within the database timeout)."""
    ctx = context(request)
    timeout = readiness.ping_timeout(ctx)
    answered = readiness.Readiness(False)
    with anyio.move_on_after(timeout):
        # Its own limiter: not a request thread, which a hanging database may hold all of.
        answered = await anyio.to_thread.run_sync(
            readiness.check, ctx, abandon_on_cancel=True, limiter=anyio.CapacityLimiter(1))
    if answered.database:
        providers = answered.providers_failing
        data = {"providers_failing": providers,
                "workers_failing": [{"worker": w.worker, "provider": w.provider, "breaker": w.breaker}
                                    for w in answered.failing]}
        if not providers:
            return envelope.ok("ready", data)
        failing = f"the {', '.join(providers)} provider{'s keep' if len(providers) > 1 else ' keeps'} failing"
        if answered.all_failing:
            return envelope.ok(f"ready; SMS are not leaving: {failing}", data)
        return envelope.ok(f"ready; {failing}: the other providers of their routes carry their SMS", data)
    retry = str(max(1, math.ceil(timeout)))
    return envelope.failure("The database is not reachable", 503, headers={"Retry-After": retry})
