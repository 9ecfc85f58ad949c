"""The developer inbox: SMS kept by the devinbox provider (served only with that provider)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from senderid.api import envelope
from senderid.api.deps import context
from senderid.console.pages import render
from senderid.delivery.providers import devinbox

router = APIRouter(prefix="/dev", tags=["developer inbox"])


@router.get("/inbox.json")
async def inbox_json(request: Request) -> Response:
    """Newest first: ``[{"to", "sender", "body", "created_at"}]``."""
    messages = await run_in_threadpool(devinbox.list_messages, context(request).db)
    return envelope.JSONBytes(messages)


@router.get("/inbox", response_class=HTMLResponse)
async def inbox_page(request: Request) -> Response:
    messages = await run_in_threadpool(devinbox.list_messages, context(request).db)
    return HTMLResponse(render("inbox.html", messages=messages))


@router.post("/inbox/clear")
async def inbox_clear(request: Request) -> Response:
    cleared = await run_in_threadpool(devinbox.clear, context(request).db)
    return envelope.ok(f"Cleared {cleared} messages", {"cleared": cleared})
