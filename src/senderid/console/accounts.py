"""The console's accounts: list, create, and one account's OTP rule, webhook, keys and
default registrant (for ACMA's SMS Sender ID Register)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from senderid.console import plumbing
from senderid.console import session as sessions
from senderid.domain import accounts, overview, registrant
from senderid.domain.context import Context
from senderid.domain.types import Account
from senderid.errors import InvalidRequest

router = plumbing.console_router()


@router.get("/accounts")
async def accounts_page(request: Request) -> Response:
    return await _accounts_view(request, plumbing.signed_in(request))


async def _accounts_view(
    request: Request, current: sessions.Session, *, error: str | None = None, status_code: int = 200
) -> Response:
    offset = plumbing.query_int(request, "offset", 0) or 0
    items, total = await run_in_threadpool(
        accounts.list_accounts, plumbing.context(request), limit=plumbing.PAGE_SIZE, offset=offset
    )
    return plumbing.view(
        request, "accounts.html", current, status_code=status_code, title="Accounts", active="accounts",
        accounts=items, pages=plumbing.pages(offset, total, "/console/accounts", {}), error=error,
    )


@router.post("/accounts")
async def create_account(request: Request) -> Response:
    current, form = await plumbing.checked(request)
    try:
        account = await run_in_threadpool(
            accounts.create_account, plumbing.context(request), form.get("name", ""),
            otp_required=form.get("otp_required") == "on", actor=plumbing.actor(request),
        )
    except InvalidRequest as exc:
        return await _accounts_view(request, current, error=exc.message, status_code=400)
    return plumbing.redirect(f"/console/accounts/{account.id}", "account-created")


@dataclass
class _AccountDetail:
    account: Account
    webhook_url: str | None
    keys: list[dict[str, Any]]
    registrant: registrant.Defaults
    activity: overview.Activity


def _account_detail(ctx: Context, account_id: str) -> _AccountDetail:
    account = accounts.get_account(ctx, account_id)
    now = ctx.clock.now()
    keys = [
        {
            "record": k,
            "status": k.status(now),
        }
        for k in accounts.list_keys(ctx, account_id)
    ]
    return _AccountDetail(account, accounts.get_webhook_url(ctx, account_id), keys,
                          registrant.get_defaults(ctx, account_id), overview.activity(ctx, account_id))


async def _account_view(
    request: Request, current: sessions.Session, account_id: str, *, status_code: int = 200,
    **values: Any,
) -> Response:
    detail = await run_in_threadpool(_account_detail, plumbing.context(request), account_id)
    return plumbing.view(
        request, "account.html", current, status_code=status_code, title=detail.account.name,
        active="accounts", detail=detail, default_reverify_days=plumbing.context(request).settings.reverify_after_days,
        **values,
    )


@router.get("/accounts/{account_id:objectid}")
async def account_page(account_id: str, request: Request) -> Response:
    return await _account_view(request, plumbing.signed_in(request), account_id)


@router.post("/accounts/{account_id:objectid}/otp")
async def set_otp(account_id: str, request: Request) -> Response:
    current, form = await plumbing.checked(request)
    required = form.get("otp_required") == "true"
    try:
        await run_in_threadpool(
            lambda: accounts.set_otp_required(plumbing.context(request), account_id, required,
                                              reason=form.get("reason"), actor=plumbing.actor(request)))
    except InvalidRequest as exc:
        return await _account_view(request, current, account_id, status_code=400, error=exc.message)
    return plumbing.redirect(f"/console/accounts/{account_id}", "otp-on" if required else "otp-off")


@router.post("/accounts/{account_id:objectid}/reverify")
async def set_reverify(account_id: str, request: Request) -> Response:
    current, form = await plumbing.checked(request)
    text = form.get("reverify_after_days", "").strip()
    try:
        try:
            days = float(text) if text else None
        except ValueError:
            raise InvalidRequest("Re-verify after: a number of days (0: never), or empty for the setting's") from None
        await run_in_threadpool(
            lambda: accounts.set_reverify_after_days(plumbing.context(request), account_id, days,
                                                     actor=plumbing.actor(request)))
    except InvalidRequest as exc:
        return await _account_view(request, current, account_id, status_code=400, error=exc.message)
    return plumbing.redirect(f"/console/accounts/{account_id}", "reverify-set")


@router.post("/accounts/{account_id:objectid}/webhook")
async def set_webhook(account_id: str, request: Request) -> Response:
    current, form = await plumbing.checked(request)
    try:
        change = await run_in_threadpool(
            accounts.set_webhook_url, plumbing.context(request), account_id, form.get("webhook_url", ""),
            actor=plumbing.actor(request),
        )
    except InvalidRequest as exc:
        return await _account_view(request, current, account_id, status_code=400, error=exc.message)
    if change.new_secret is not None:  # shown this once, on this page
        return await _account_view(request, current, account_id, new_secret=change.new_secret,
                                   done=plumbing.DONE["webhook-set"])
    return plumbing.redirect(f"/console/accounts/{account_id}", "webhook-set" if change.url else "webhook-off")


@router.post("/accounts/{account_id:objectid}/registrant")
async def set_registrant(account_id: str, request: Request) -> Response:
    current, form = await plumbing.checked(request)
    try:
        await run_in_threadpool(
            registrant.set_defaults, plumbing.context(request), account_id, abn=form.get("abn", ""),
            entity_name=form.get("entity_name", ""), actor=plumbing.actor(request),
        )
    except InvalidRequest as exc:
        return await _account_view(request, current, account_id, status_code=400, error=exc.message)
    return plumbing.redirect(f"/console/accounts/{account_id}", "registrant-set")


@router.post("/accounts/{account_id:objectid}/keys")
async def create_key(account_id: str, request: Request) -> Response:
    current, form = await plumbing.checked(request)
    days_text = form.get("expires_in_days", "").strip()
    try:
        if days_text and not days_text.isdigit():
            raise InvalidRequest("Expires in: a whole number of days, or empty for a key that never expires")
        record, key = await run_in_threadpool(
            accounts.create_key, plumbing.context(request), account_id,
            expires_in_days=int(days_text) if days_text else None, actor=plumbing.actor(request),
        )
    except InvalidRequest as exc:
        return await _account_view(request, current, account_id, status_code=400, error=exc.message)
    return await _account_view(request, current, account_id, new_key=key, new_key_id=record.id)


@router.post("/keys/{key_id:objectid}/revoke")
async def revoke_key(key_id: str, request: Request) -> Response:
    _current, _form_ = await plumbing.checked(request)
    key = await run_in_threadpool(
        accounts.revoke_key, plumbing.context(request), key_id, actor=plumbing.actor(request)
    )
    return plumbing.redirect(f"/console/accounts/{key.account_id}", "key-revoked")
