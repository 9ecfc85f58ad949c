"""The console's first page: counts at a glance, SMS sent, delivered and failed per hour
and per day, and the SMS provider's health."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from senderid.console import plumbing
from senderid.domain import overview
from senderid.domain.context import Context

router = plumbing.console_router()


def _overview(ctx: Context) -> dict[str, Any]:
    return {"counts": overview.counts(ctx), "health": overview.provider_health(ctx),
            "activity": overview.activity(ctx), "now": ctx.clock.now()}


@router.get("")
async def overview_page(request: Request) -> Response:
    current = plumbing.signed_in(request)
    found = await run_in_threadpool(_overview, plumbing.context(request))
    return plumbing.view(request, "overview.html", current, title="Overview", active="overview",
                         ago=_ago(found["now"]), **found)


def _ago(now: datetime) -> Any:
    """``ago(t)``: how long before ``now`` a time was, as people say it (``3 min ago``)."""
    def ago(then: datetime | None) -> str:
        if then is None:
            return ""
        seconds = max(0, int((now - then).total_seconds()))
        if seconds < 60:
            return f"{seconds} s ago"
        if seconds < 3600:
            return f"{seconds // 60} min ago"
        if seconds < 172800:
            return f"{seconds // 3600} h {seconds % 3600 // 60} min ago"
        return f"{seconds // 86400} days ago"

    return ago
