"""Health checks for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from senderid.api import envelope
from senderid.api.deps import context

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> Response:
    """The process is up."""
    return envelope.ok("ok")


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    """The database answers."""
    if await run_in_threadpool(context(request).db.ping):
        return envelope.ok("ready")
    return envelope.failure("The database is not reachable", 503)
