"""The console's messages (the outbox): list, and retry a dead or failed one."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from senderid.console import plumbing
from senderid.domain import outbox
from senderid.domain.context import Context

router = plumbing.console_router()


def _messages(ctx: Context, status: str, account_id: str, offset: int) -> dict[str, Any]:
    items, total = outbox.page(
        ctx, status=status or None, account_id=account_id or None, limit=plumbing.PAGE_SIZE, offset=offset
    )
    wanted = {i.account_id for i in items if i.account_id} | ({account_id} if account_id else set())
    return {"items": items, "total": total, "names": plumbing.account_choices(ctx, wanted)}


@router.get("/messages")
async def messages_page(request: Request) -> Response:
    current = plumbing.signed_in(request)
    params = {name: plumbing.query_text(request, name) for name in ("status", "account_id")}
    offset = plumbing.query_int(request, "offset", 0) or 0
    found = await run_in_threadpool(
        _messages, plumbing.context(request), params["status"], params["account_id"], offset
    )
    return plumbing.view(
        request, "messages.html", current, title="Messages", active="messages", params=params,
        statuses=outbox.STATUSES, retryable=outbox.RETRYABLE,
        pages=plumbing.pages(offset, found["total"], "/console/messages", params), **found,
    )


@router.post("/messages/{message_id:objectid}/retry")
async def retry_message(message_id: str, request: Request) -> Response:
    _current, _form_ = await plumbing.checked(request)
    await run_in_threadpool(
        outbox.retry, plumbing.context(request), message_id, actor=plumbing.actor(request)
    )
    return plumbing.redirect("/console/messages", "retried")
