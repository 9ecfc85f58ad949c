"""The console's messages (the outbox): list and search (by MessageId, number and
customString), one message with its history, and retry a dead or failed one."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from senderid.console import plumbing
from senderid.domain import outbox, overview
from senderid.domain.context import Context
from senderid.domain.outbox import statements, views
from senderid.errors import InvalidRequest

router = plumbing.console_router()

FILTERS = ("message_id", "to", "custom_string", "status", "account_id")


def _messages(ctx: Context, params: dict[str, str], offset: int) -> dict[str, Any]:
    error = None
    try:
        items, total = outbox.page(
            ctx, **{name: params[name] or None for name in FILTERS}, limit=plumbing.PAGE_SIZE, offset=offset
        )
    except InvalidRequest as exc:
        items, total, error = [], 0, exc.message
    account_id = params["account_id"]
    wanted = {i.account_id for i in items if i.account_id} | ({account_id} if account_id else set())
    return {"items": items, "total": total, "error": error, "names": plumbing.account_choices(ctx, wanted)}


@router.get("/messages")
async def messages_page(request: Request) -> Response:
    current = plumbing.signed_in(request)
    params = {name: plumbing.query_text(request, name) for name in FILTERS}
    offset = plumbing.query_int(request, "offset", 0) or 0
    found = await run_in_threadpool(_messages, plumbing.context(request), params, offset)
    return plumbing.view(
        request, "messages.html", current, status_code=400 if found["error"] else 200, title="Messages",
        active="messages", params=params, statuses=outbox.STATUSES, retryable=outbox.RETRYABLE,
        pages=plumbing.pages(offset, found["total"], "/console/messages", params), **found,
    )


def _message(ctx: Context, message_id: str) -> dict[str, Any]:
    message, text = views.operator_detail(ctx, message_id)
    names = overview.account_names(ctx, {message.account_id} if message.account_id else set())
    return {"message": message, "text": text, "account_name": names.get(message.account_id or "")}


@router.get("/messages/{message_id:objectid}")
async def message_page(message_id: str, request: Request) -> Response:
    current = plumbing.signed_in(request)
    found = await run_in_threadpool(_message, plumbing.context(request), message_id)
    return plumbing.view(
        request, "message_detail.html", current, title=f"Message {message_id}", active="messages",
        retryable=outbox.RETRYABLE, otp=statements.OTP, **found,
    )


@router.post("/messages/{message_id:objectid}/retry")
async def retry_message(message_id: str, request: Request) -> Response:
    _current, form = await plumbing.checked(request)
    await run_in_threadpool(
        outbox.retry, plumbing.context(request), message_id, actor=plumbing.actor(request)
    )
    if form.get("back") == "message":  # the retry button of the message's own page
        return plumbing.redirect(f"/console/messages/{message_id}", "retried")
    return plumbing.redirect("/console/messages", "retried")
