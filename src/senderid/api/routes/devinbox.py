"""The developer inbox's JSON and clearing: SMS kept by the devinbox provider (only with it).

``/dev/inbox.json`` is the list for scripts and tests; the page that shows it,
``/dev/inbox``, is :mod:`senderid.console.inbox`.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from senderid.api import envelope
from senderid.api.deps import context
from senderid.delivery.providers import devinbox

router = APIRouter(prefix="/dev", tags=["developer inbox"])


@router.get("/inbox.json")
async def inbox_json(request: Request) -> Response:
    """Newest first: ``[{"to", "sender", "body", "created_at"}]``."""
    messages = await run_in_threadpool(devinbox.list_messages, context(request).db)
    return envelope.JSONBytes(messages, headers={"Cache-Control": "no-store"})


@router.post("/inbox/clear")
async def inbox_clear(request: Request) -> Response:
    """Empty the inbox. A plain form post (the page without JavaScript) goes back to the page."""
    cleared = await run_in_threadpool(devinbox.clear, context(request).db)
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return RedirectResponse("/dev/inbox", 303)
    return envelope.ok(f"Cleared {cleared} messages", {"cleared": cleared})
