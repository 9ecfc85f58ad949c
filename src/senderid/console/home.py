"""The console's first page: counts at a glance."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from senderid.console import plumbing
from senderid.domain import overview

router = plumbing.console_router()


@router.get("")
async def overview_page(request: Request) -> Response:
    current = plumbing.signed_in(request)
    counts = await run_in_threadpool(overview.counts, plumbing.context(request))
    return plumbing.view(request, "overview.html", current, title="Overview", active="overview", counts=counts)
