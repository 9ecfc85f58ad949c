"""The console's gateway pages: scheduled messages (cancel one), and per account its
opt-out list (add, remove), prepaid credits and credit usage report."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from senderid import numbers
from senderid.console import plumbing
from senderid.domain import accounts, credits, optouts, scheduled
from senderid.domain.context import Context
from senderid.errors import InvalidRequest, NotFound

router = plumbing.console_router()

plumbing.DONE.update({
    "cancelled": "Message cancelled: it will not be sent.",
    "optout-added": "Number added to the opt-out list.",
    "optout-removed": "Number taken off the opt-out list.",
    "credits-set": "Credits saved.",
})


def _scheduled(ctx: Context, offset: int) -> dict[str, Any]:
    items, total = scheduled.list_scheduled(ctx, None, limit=plumbing.PAGE_SIZE, offset=offset)
    for item in items:
        item["masked_to"] = numbers.mask(str(item["to_number"]))
    names = plumbing.account_choices(ctx, {str(i["account_id"]) for i in items if i["account_id"]})
    return {"items": items, "total": total, "names": names}


@router.get("/scheduled")
async def scheduled_page(request: Request) -> Response:
    current = plumbing.signed_in(request)
    offset = plumbing.query_int(request, "offset", 0) or 0
    found = await run_in_threadpool(_scheduled, plumbing.context(request), offset)
    return plumbing.view(request, "scheduled.html", current, title="Scheduled messages", active="messages",
                         pages=plumbing.pages(offset, found["total"], "/console/scheduled", {}), **found)


@router.post("/scheduled/{message_id:objectid}/cancel")
async def cancel_scheduled(message_id: str, request: Request) -> Response:
    _current, form = await plumbing.checked(request)
    await run_in_threadpool(
        scheduled.cancel, plumbing.context(request), form.get("account_id", ""), message_id,
        actor=plumbing.actor(request))
    return plumbing.redirect("/console/scheduled", "cancelled")


def _account_gateway(ctx: Context, account_id: str, offset: int) -> dict[str, Any]:
    account = accounts.get_account(ctx, account_id)
    listed, total = optouts.list_optouts(ctx, account_id, limit=plumbing.PAGE_SIZE, offset=offset)
    usage, _count = credits.usage(ctx, account_id, limit=100, offset=0)
    return {"account": account, "optouts": listed, "optout_total": total, "list_id": optouts.list_id(account_id),
            "balance": credits.balance(ctx, account_id), "usage": usage,
            "pages": plumbing.pages(offset, total, f"/console/accounts/{account_id}/gateway", {})}


async def _view(request: Request, account_id: str, *, status_code: int = 200, **values: Any) -> Response:
    current = plumbing.signed_in(request)
    offset = plumbing.query_int(request, "offset", 0) or 0
    found = await run_in_threadpool(_account_gateway, plumbing.context(request), account_id, offset)
    return plumbing.view(request, "account_gateway.html", current, status_code=status_code,
                         title=f"{found['account'].name}: sending", active="accounts", **found, **values)


@router.get("/accounts/{account_id:objectid}/gateway")
async def account_gateway_page(account_id: str, request: Request) -> Response:
    return await _view(request, account_id)


@router.post("/accounts/{account_id:objectid}/optouts")
async def add_optout(account_id: str, request: Request) -> Response:
    _current, form = await plumbing.checked(request)
    try:
        await run_in_threadpool(lambda: optouts.add(plumbing.context(request), account_id, form.get("number", ""),
                                                    source="console", actor=plumbing.actor(request)))
    except InvalidRequest as exc:
        return await _view(request, account_id, status_code=400, error=exc.message)
    return plumbing.redirect(f"/console/accounts/{account_id}/gateway", "optout-added")


@router.post("/accounts/{account_id:objectid}/optouts/remove")
async def remove_optout(account_id: str, request: Request) -> Response:
    _current, form = await plumbing.checked(request)
    try:
        await run_in_threadpool(lambda: optouts.remove(plumbing.context(request), account_id,
                                                       form.get("number", ""), actor=plumbing.actor(request)))
    except (InvalidRequest, NotFound) as exc:
        return await _view(request, account_id, status_code=400, error=exc.message)
    return plumbing.redirect(f"/console/accounts/{account_id}/gateway", "optout-removed")


@router.post("/accounts/{account_id:objectid}/credits")
async def set_credits(account_id: str, request: Request) -> Response:
    _current, form = await plumbing.checked(request)
    text = form.get("credits", "").strip()
    try:
        if text and text.lower() != "unlimited":
            try:
                amount: float | None = float(text)
            except ValueError:
                raise InvalidRequest("Credits: a number, or empty for unlimited") from None
        else:
            amount = None
        await run_in_threadpool(lambda: credits.set_balance(plumbing.context(request), account_id, amount,
                                                            actor=plumbing.actor(request)))
    except InvalidRequest as exc:
        return await _view(request, account_id, status_code=400, error=exc.message)
    return plumbing.redirect(f"/console/accounts/{account_id}/gateway", "credits-set")
