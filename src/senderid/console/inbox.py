"""The developer inbox page: SMS kept by the devinbox provider (served only with that provider).

``/dev/inbox`` shows a page of SMS, newest first, each with its message id; ``?to=`` keeps
those to one number (or with some digits in it), ``?before=`` pages on to older ones. The
first page refreshes itself (it polls ``/dev/inbox.json`` with the same filter every 2
seconds); it highlights the code in each SMS with a button that copies it, and clears the
inbox; the JSON list and the clearing are in :mod:`senderid.api.routes.devinbox`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from senderid.console import plumbing
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


@router.get("/inbox", response_class=HTMLResponse, responses={
    400: {"description": "A query parameter out of range or not text", "content": {"application/json": {}}},
})
async def inbox_page(
    request: Request,
    to: str = Query("", max_length=40),
    before: int | None = Query(None, ge=1, le=devinbox.MAX_SEQ),
) -> Response:
    found = await run_in_threadpool(lambda: devinbox.page(plumbing.context(request).db, to=to, before=before))
    filtered = {"to": to} if to else {}
    older = f"/dev/inbox?{urlencode({**filtered, 'before': found.older})}" if found.older is not None else None
    return page("inbox.html", title="Developer inbox", session=None, inbox=True,
                messages=[with_code(m) for m in found.messages], to=to, older=older, page_size=devinbox.PAGE,
                newest=f"/dev/inbox?{urlencode(filtered)}" if before is not None else None,
                source=f"/dev/inbox.json?{urlencode(filtered)}" if filtered else "/dev/inbox.json",
                live=before is None)
