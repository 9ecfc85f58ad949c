"""The developer inbox's JSON and clearing: SMS kept by the devinbox provider (only with it).

``/dev/inbox.json`` is the list for scripts and tests; the page that shows it,
``/dev/inbox``, is :mod:`senderid.console.inbox`.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Query
from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from senderid.api import envelope
from senderid.api.body import RequestBody, parse_object
from senderid.api.deps import context
from senderid.delivery.providers import devinbox, inbound_recorder

router = APIRouter(prefix="/dev", tags=["developer inbox"])


@router.get("/inbox.json", responses={
    400: {"description": "A query parameter out of range or not text", "content": {"application/json": {}}},
})
async def inbox_json(
    request: Request,
    to: str = Query("", max_length=40, description="Only SMS to this number (or with these digits in it)"),
    before: int | None = Query(
        None, ge=1, le=devinbox.MAX_SEQ, description="Only SMS kept before this `seq` (the next page)"
    ),
    limit: int = Query(devinbox.PAGE, ge=1, le=devinbox.MAX_PAGE, description="SMS on a page"),
) -> Response:
    """Newest first: ``[{"id", "seq", "to", "sender", "body", "created_at"}]``, a page of
    ``limit``; when older ones remain, a ``Link: <...>; rel="next"`` header names the next page."""
    found = await run_in_threadpool(lambda: devinbox.page(context(request).db, to=to, before=before, limit=limit))
    headers = {"Cache-Control": "no-store"}
    if found.older is not None:
        query = {k: v for k, v in (("to", to), ("before", found.older), ("limit", limit)) if v}
        headers["Link"] = f'</dev/inbox.json?{urlencode(query)}>; rel="next"'
    return envelope.JSONBytes(found.messages, headers=headers)


@router.post("/inbox/clear")
async def inbox_clear(request: Request) -> Response:
    """Empty the inbox. A plain form post (the page without JavaScript) goes back to the page."""
    cleared = await run_in_threadpool(devinbox.clear, context(request).db)
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return RedirectResponse("/dev/inbox", 303)
    return envelope.ok(f"Cleared {cleared} messages", {"cleared": cleared})


class InboxReply(RequestBody):
    from_: str = Field(alias="from", description="the phone that replies")
    to: str = Field(description="the sender it replies to (senderid: the shared sender)")
    body: str = Field(description="STOP, STOP ALL, UNSUBSCRIBE or OPTOUT opt it out")

    example = {"from": "+61491570157", "to": "+61491570156", "body": "STOP"}


@router.post("/inbox/reply", openapi_extra=InboxReply.openapi(), responses={
    400: {"description": "Not {from, to, body} as JSON", "content": {"application/json": {}}},
    413: {"description": "Body too large", "content": {"application/json": {}}},
    415: {"description": "Body not sent as application/json", "content": {"application/json": {}}},
})
async def inbox_reply(request: Request) -> Response:
    """A phone's reply, for development: ``{"from": "+61…", "to": "<sender>", "body": "STOP"}``.

    ``to`` is the sender the inbox shows (``senderid`` for the shared sender). A STOP word
    puts ``from`` on the opt-out list of the account that last sent to it from ``to``.
    """
    ctx = context(request)
    reply = parse_object(request.headers.get("content-type"), await request.body())
    sender, to, body = (reply.get(k) for k in ("from", "to", "body"))
    if not (isinstance(sender, str) and isinstance(to, str) and isinstance(body, str)):
        return envelope.failure('Send {"from": "+61...", "to": "<sender>", "body": "STOP"} as JSON', 400)
    record = inbound_recorder(ctx, "devinbox")
    kept = await run_in_threadpool(record, sender, to, body)
    return envelope.ok("Reply received", {"optedOut": kept is not None and kept.opted_out})
