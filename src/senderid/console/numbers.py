"""The console's custom numbers: search, and one registration with its history."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from senderid.console import plumbing
from senderid.domain import accounts, custom_numbers, overview
from senderid.domain.context import Context
from senderid.errors import InvalidRequest

router = plumbing.console_router()


def _numbers(ctx: Context, number: str, status: str, account_id: str, offset: int) -> dict[str, Any]:
    error = None
    try:
        items, total = custom_numbers.search(
            ctx, number=number or None, status=status or None, account_id=account_id or None,
            limit=plumbing.PAGE_SIZE, offset=offset,
        )
    except InvalidRequest as exc:
        items, total, error = [], 0, exc.message
    wanted = {i.account_id for i in items} | ({account_id} if account_id else set())
    names = plumbing.account_choices(ctx, wanted)
    return {"items": items, "total": total, "error": error, "names": names}


@router.get("/numbers")
async def numbers_page(request: Request) -> Response:
    current = plumbing.signed_in(request)
    params = {"number": plumbing.query_text(request, "number"), "status": plumbing.query_text(request, "status"),
              "account_id": plumbing.query_text(request, "account_id")}
    offset = plumbing.query_int(request, "offset", 0) or 0
    found = await run_in_threadpool(
        _numbers, plumbing.context(request), params["number"], params["status"], params["account_id"], offset
    )
    return plumbing.view(
        request, "numbers.html", current, status_code=400 if found["error"] else 200,
        title="Custom numbers", active="numbers", params=params, statuses=custom_numbers.READABLE_STATUSES,
        pages=plumbing.pages(offset, found["total"], "/console/numbers", params),
        csv_url=plumbing.with_query("/console/numbers.csv", params), **found,
    )


def _registration(ctx: Context, account_id: str, registration_id: str) -> dict[str, Any]:
    registration = custom_numbers.get_registration(ctx, account_id, registration_id)
    return {
        "registration": registration,
        "account": accounts.get_account(ctx, account_id),
        "history": overview.audit_page(ctx, subject=registration_id, limit=overview.MAX_LIMIT),
    }


@router.get("/accounts/{account_id:objectid}/numbers/{registration_id:objectid}")
async def registration_page(account_id: str, registration_id: str, request: Request) -> Response:
    current = plumbing.signed_in(request)
    found = await run_in_threadpool(_registration, plumbing.context(request), account_id, registration_id)
    return plumbing.view(
        request, "registration.html", current, title=f"Custom number {found['registration'].number}",
        active="numbers", **found,
    )
