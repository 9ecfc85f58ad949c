"""The console's business names: the review queue, approve and reject, the status on ACMA's
SMS Sender ID Register, and the register's CSV export."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from senderid.console import pages, plumbing
from senderid.console import session as sessions
from senderid.domain import acma, business_names
from senderid.domain.context import Context
from senderid.errors import InvalidRequest

router = plumbing.console_router()


def _business(ctx: Context, status: str, account_id: str, offset: int) -> dict[str, Any]:
    items, total = business_names.list_(
        ctx, status=status or None, account_id=account_id or None, limit=plumbing.PAGE_SIZE, offset=offset
    )
    names = plumbing.account_choices(ctx, {n.account_id for n in items} | ({account_id} if account_id else set()))
    return {"items": items, "total": total, "names": names}


@router.get("/business-names")
async def business_page(request: Request) -> Response:
    return await _business_view(request, plumbing.signed_in(request))


async def _business_view(
    request: Request, current: sessions.Session, *, error: str | None = None, status_code: int = 200
) -> Response:
    status = request.query_params.get("status", business_names.REQUESTED).strip().upper()
    params = {"status": status, "account_id": plumbing.query_text(request, "account_id")}
    offset = plumbing.query_int(request, "offset", 0) or 0
    found = await run_in_threadpool(_business, plumbing.context(request), status, params["account_id"], offset)
    title = "Business names to review" if status == business_names.REQUESTED else "Business names"
    return plumbing.view(
        request, "business.html", current, status_code=status_code, title=title, active="business",
        params=params, statuses=business_names.STATUSES, acma_statuses=acma.STATUSES, error=error,
        providers=sorted(plumbing.context(request).routes.providers),
        live=business_names.LIVE,
        pages=plumbing.pages(offset, found["total"], "/console/business-names", params),
        csv_url=f"/console/business-names.csv?{urlencode(params)}", **found,
    )


@router.post("/business-names/{name_id:objectid}/approve")
async def approve(name_id: str, request: Request) -> Response:
    _current, _form_ = await plumbing.checked(request)
    await run_in_threadpool(
        business_names.approve, plumbing.context(request), name_id, actor=plumbing.actor(request)
    )
    return plumbing.redirect("/console/business-names", "approved")


@router.post("/business-names/{name_id:objectid}/reject")
async def reject(name_id: str, request: Request) -> Response:
    current, form = await plumbing.checked(request)
    try:
        await run_in_threadpool(
            business_names.reject, plumbing.context(request), name_id, reason=form.get("reason", ""),
            actor=plumbing.actor(request),
        )
    except InvalidRequest as exc:
        return await _business_view(request, current, error=exc.message, status_code=400)
    return plumbing.redirect("/console/business-names", "rejected")


PROVIDER_FIELD = "provider."  # one checkbox per provider: provider.<name>


def _ticked_providers(form: dict[str, str]) -> list[str]:
    """The providers ticked as having authorised the name (none ticked: every provider): the
    form shows every provider of the deployment, so what it sends replaces the recorded list."""
    return [field[len(PROVIDER_FIELD):] for field, value in form.items()
            if field.startswith(PROVIDER_FIELD) and value]


@router.post("/business-names/{name_id:objectid}/acma")
async def set_acma_status(name_id: str, request: Request) -> Response:
    current, form = await plumbing.checked(request)
    try:
        await run_in_threadpool(
            acma.set_status, plumbing.context(request), name_id, status=form.get("acma_status", ""),
            reference=form.get("acma_reference", ""), providers=_ticked_providers(form),
            actor=plumbing.actor(request),
        )
    except InvalidRequest as exc:
        return await _business_view(request, current, error=exc.message, status_code=400)
    return plumbing.redirect("/console/business-names", "acma-updated")


@router.get("/business-names/export.csv")
async def export(request: Request) -> Response:
    """The CSV for ACMA's register (``?status=APPROVED``; default REQUESTED and APPROVED)."""
    plumbing.signed_in(request)
    rows = await run_in_threadpool(
        acma.export_rows, plumbing.context(request), status=plumbing.query_text(request, "status") or None
    )
    return PlainTextResponse(acma.to_csv(rows), media_type="text/csv; charset=utf-8", headers={
        **pages.SECURITY_HEADERS, "Content-Disposition": 'attachment; filename="acma-sender-ids.csv"'})
