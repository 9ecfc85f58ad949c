"""The developer inbox: SMS kept by the devinbox provider (served only with that provider).

``/dev/inbox`` is a page that refreshes itself (it polls ``/dev/inbox.json`` every
2 seconds), highlights the code in each SMS with a button that copies it, and
clears the inbox; ``/dev/inbox.json`` is the same list for scripts and tests.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from senderid.api import envelope
from senderid.api.deps import context
from senderid.console.pages import page
from senderid.delivery.providers import devinbox

router = APIRouter(prefix="/dev", tags=["developer inbox"])

# The code in an SMS: six digits standing alone (not part of a phone number). The page's
# script (console/static/console.js) uses the same pattern for SMS that arrive later.
CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")


def with_code(message: dict[str, Any]) -> dict[str, Any]:
    """The message, and its code split out (``before``, ``code``, ``after``) when it has one."""
    found = CODE.search(message["body"])
    if found is None:
        return {**message, "code": None}
    body = message["body"]
    return {**message, "before": body[: found.start()], "code": found.group(), "after": body[found.end():]}


@router.get("/inbox.json")
async def inbox_json(request: Request) -> Response:
    """Newest first: ``[{"to", "sender", "body", "created_at"}]``."""
    messages = await run_in_threadpool(devinbox.list_messages, context(request).db)
    return envelope.JSONBytes(messages, headers={"Cache-Control": "no-store"})


@router.get("/inbox", response_class=HTMLResponse)
async def inbox_page(request: Request) -> Response:
    messages = await run_in_threadpool(devinbox.list_messages, context(request).db)
    return page("inbox.html", title="Developer inbox", session=None, inbox=True,
                messages=[with_code(m) for m in messages])


@router.post("/inbox/clear")
async def inbox_clear(request: Request) -> Response:
    """Empty the inbox. A plain form post (the page without JavaScript) goes back to the page."""
    cleared = await run_in_threadpool(devinbox.clear, context(request).db)
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return RedirectResponse("/dev/inbox", 303)
    return envelope.ok(f"Cleared {cleared} messages", {"cleared": cleared})
