"""GET /s/{code}: a gateway message's short link, redirecting (302) to its long URL."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from senderid.api import envelope
from senderid.api.deps import context
from senderid.domain import short_links

router = APIRouter(tags=["short links"])


@router.get("/s/{code}", status_code=302, response_class=RedirectResponse, responses={
    302: {"description": "Redirects to the link's long URL (Location)"},
    404: {"description": "No such link", "content": {"application/json": {}}},
})
async def follow(code: str, request: Request) -> Response:
    """Counts the click and redirects; an unknown code is a 404."""
    target = await run_in_threadpool(short_links.follow, context(request), code)
    if target is None:
        return envelope.failure("No such link", 404)
    return RedirectResponse(target, 302, headers={"Cache-Control": "no-store"})
