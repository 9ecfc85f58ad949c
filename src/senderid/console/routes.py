"""The operator console under ``/console``: server-rendered pages over the domain functions.

Mounted only when ``SENDERID_ADMIN_TOKEN`` is set. Thin on purpose: every page
reads through the domain modules and every action calls the same domain
function as the admin API and the CLI (audited with the actor ``console`` and
the client's IP). Sessions and CSRF are in :mod:`senderid.console.session`.

A request without a signed-in session is sent to the sign-in page; a POST whose
CSRF token is missing or wrong is a 403 and changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from senderid.api import convertors as _convertors  # noqa: F401  (registers {id:objectid})
from senderid.console import session as sessions
from senderid.console.pages import SECURITY_HEADERS, page
from senderid.delivery import outbox
from senderid.domain import accounts, business_names, custom_numbers, outbox_admin, overview
from senderid.domain.accounts import Account
from senderid.domain.context import Actor, Context
from senderid.errors import InvalidRequest, NotFound, SenderIdError

ACTOR_NAME = "console"
PAGE_SIZE = 50
ACCOUNT_CHOICES = 200  # accounts offered in the filters' account lists

NAV = (
    ("overview", "/console", "Overview"),
    ("accounts", "/console/accounts", "Accounts"),
    ("numbers", "/console/numbers", "Custom numbers"),
    ("business", "/console/business-names", "Business names"),
    ("messages", "/console/messages", "Messages"),
    ("audit", "/console/audit", "Audit log"),
)

# Outcomes shown after a redirect, by code: the URL never carries text to display.
DONE = {
    "account-created": "Account created.",
    "otp-on": "This account now needs an OTP to register a number.",
    "otp-off": "This account now registers numbers without an OTP.",
    "webhook-set": "Webhook URL saved.",
    "webhook-off": "Webhooks stopped: the account has no webhook URL.",
    "key-revoked": "Key revoked: the API refuses it from now on.",
    "approved": "Business name approved: the account can send with it now.",
    "rejected": "Business name rejected; the account sees the reason.",
    "retried": "Message queued again: the worker sends it shortly.",
    "signed-out": "You are signed out.",
}


# -- plumbing ------------------------------------------------------------------------------


class _SignIn(Exception):
    """No signed-in session: go to the sign-in page."""


class _Forbidden(Exception):
    """A POST without the session's CSRF token."""


@dataclass
class _State:
    throttle: sessions.SignInThrottle = field(default_factory=sessions.SignInThrottle)
    sign_outs: sessions.SignOuts = field(default_factory=sessions.SignOuts)


def _state(request: Request) -> _State:
    state = getattr(request.app.state, "console", None)
    if state is None:
        state = request.app.state.console = _State()
    return state


def _ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def _key(request: Request) -> bytes:
    token = request.app.state.settings.admin_token
    if not token:  # not mounted without a token; refuse anyway if it ever is
        raise NotFound(f"No such page: {request.url.path}")
    return sessions.derive_key(_ctx(request).secret, token)


def _now(request: Request) -> float:
    return _ctx(request).clock.now().timestamp()


def _ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _actor(request: Request) -> Actor:
    return Actor(ACTOR_NAME, request.client.host if request.client else None)


def _signed_in(request: Request) -> sessions.Session:
    found = sessions.read(_key(request), request.cookies.get(sessions.COOKIE_NAME), now=_now(request))
    if found is None or not found.authenticated or _state(request).sign_outs.ended(found):
        raise _SignIn()
    return found


async def _form(request: Request) -> dict[str, str]:
    """The url-encoded form of a POST (first value of each field); empty for anything else."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return {}
    raw = (await request.body()).decode("utf-8", errors="replace")
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, max_num_fields=50)
    except ValueError:
        return {}
    form: dict[str, str] = {}
    for name, value in pairs:
        if "\x00" in value:
            raise InvalidRequest("Form fields must not contain NUL characters")
        form.setdefault(name, value)
    return form


async def _checked(request: Request) -> tuple[sessions.Session, dict[str, str]]:
    """The session and form of a POST, after its CSRF token is checked."""
    current = _signed_in(request)
    form = await _form(request)
    if not sessions.csrf_ok(current, form.get("csrf")):
        raise _Forbidden()
    return current, form


class ConsoleRoute(APIRoute):
    """Turns the console's refusals into pages (the API's handlers answer JSON)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except _SignIn:
                return RedirectResponse("/console/login", 303, headers=SECURITY_HEADERS)
            except _Forbidden:
                return page(
                    "message.html", status_code=403, title="Form refused", session=None,
                    error="This form is out of date or did not come from this console, so nothing "
                          "was changed. Go back, reload the page and try again.",
                )
            except SenderIdError as exc:
                return page(
                    "message.html", status_code=exc.http_status, title="Not done", session=None,
                    error=exc.message,
                )

        return console_handler


router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)


def _query_int(request: Request, name: str, default: int | None = None, minimum: int = 0) -> int | None:
    """A whole number from the query string; ``default`` when absent or out of range."""
    value = request.query_params.get(name, "")
    try:
        number = int(value)
    except ValueError:
        return default
    return number if minimum <= number <= 2**31 - 1 else default


def _query(request: Request, name: str) -> str:
    return request.query_params.get(name, "").strip()


def _view(
    request: Request, template: str, current: sessions.Session, *, status_code: int = 200, **values: Any
) -> Response:
    done = values.pop("done", None) or DONE.get(request.query_params.get("done", ""))
    return page(template, status_code=status_code, session=current, nav=NAV, done=done, **values)


def _redirect(path: str, done: str | None = None) -> Response:
    return RedirectResponse(
        f"{path}?{urlencode({'done': done})}" if done else path, 303, headers=SECURITY_HEADERS
    )


def _pages(offset: int, total: int, base: str, params: dict[str, str]) -> dict[str, Any]:
    """Previous/next links of an offset-paginated list."""
    def link(at: int) -> str:
        return f"{base}?{urlencode({**{k: v for k, v in params.items() if v}, 'offset': at})}"

    return {
        "first": offset + 1 if total else 0,
        "last": min(offset + PAGE_SIZE, total),
        "total": total,
        "previous": link(max(0, offset - PAGE_SIZE)) if offset > 0 else None,
        "next": link(offset + PAGE_SIZE) if offset + PAGE_SIZE < total else None,
    }


def _account_choices(ctx: Context, wanted: set[str]) -> dict[str, str]:
    """Account id -> name: the first accounts (for the filters) and every id in ``wanted``."""
    items, _total = accounts.list_accounts(ctx, limit=ACCOUNT_CHOICES)
    names = {a.id: a.name for a in items}
    for account_id in wanted - names.keys():
        try:
            names[account_id] = accounts.get_account(ctx, account_id).name
        except NotFound:
            names[account_id] = account_id
    return names


def _utc(value: str, field_name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"{field_name} must be a date and time, e.g. 2026-01-01T09:30") from None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


# -- signing in and out --------------------------------------------------------------------


def _set_cookie(request: Request, response: Response, value: str, ttl: int) -> None:
    response.set_cookie(
        sessions.COOKIE_NAME, value, max_age=ttl, path=sessions.COOKIE_PATH, httponly=True,
        samesite="strict", secure=request.url.scheme == "https",
    )


def _login_page(
    request: Request, *, error: str | None = None, status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """The sign-in form, with a pre-session (kept if the browser has a valid one) for its CSRF token."""
    key = _key(request)
    now = _now(request)
    pre = sessions.read(key, request.cookies.get(sessions.COOKIE_NAME), now=now)
    cookie = None
    if pre is None or pre.authenticated:
        cookie, pre = sessions.issue(key, now=now, authenticated=False)
    response = page(
        "login.html", status_code=status_code, headers=headers, title="Sign in", session=None,
        csrf=pre.csrf, error=error, done=DONE.get(request.query_params.get("done", "")),
    )
    if cookie is not None:
        _set_cookie(request, response, cookie, sessions.PRE_SESSION_SECONDS)
    return response


@router.get("/login")
async def login_form(request: Request) -> Response:
    try:
        _signed_in(request)
    except _SignIn:
        return _login_page(request)
    return _redirect("/console")


@router.post("/login")
async def login(request: Request) -> Response:
    key = _key(request)
    now = _now(request)
    form = await _form(request)
    pre = sessions.read(key, request.cookies.get(sessions.COOKIE_NAME), now=now)
    if pre is None or not sessions.csrf_ok(pre, form.get("csrf")):
        return _login_page(
            request, status_code=403,
            error="The sign-in form had expired (or cookies are off). Nothing was checked; please try again.",
        )
    state = _state(request)
    client = _ip(request)
    wait = state.throttle.retry_after(client, now=time.monotonic())
    if wait:
        return _login_page(
            request, status_code=429, headers={"Retry-After": str(wait)},
            error=f"Too many failed sign-ins from your address. Try again in {wait} seconds.",
        )
    if not sessions.token_matches(form.get("token", ""), request.app.state.settings.admin_token):
        state.throttle.failed(client, now=time.monotonic())
        return _login_page(request, status_code=401, error="That is not the admin token.")
    state.throttle.succeeded(client)
    cookie, _session = sessions.issue(key, now=now, authenticated=True)  # a new id: no fixation
    response = _redirect("/console")
    _set_cookie(request, response, cookie, sessions.SESSION_SECONDS)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    current, _form_ = await _checked(request)
    _state(request).sign_outs.end(current, now=_now(request))
    response = _redirect("/console/login", "signed-out")
    response.delete_cookie(
        sessions.COOKIE_NAME, path=sessions.COOKIE_PATH, httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


# -- overview ------------------------------------------------------------------------------


@router.get("")
async def overview_page(request: Request) -> Response:
    current = _signed_in(request)
    counts = await run_in_threadpool(overview.counts, _ctx(request))
    return _view(request, "overview.html", current, title="Overview", active="overview", counts=counts)


# -- accounts ------------------------------------------------------------------------------


@router.get("/accounts")
async def accounts_page(request: Request) -> Response:
    return await _accounts_view(request, _signed_in(request))


async def _accounts_view(
    request: Request, current: sessions.Session, *, error: str | None = None, status_code: int = 200
) -> Response:
    offset = _query_int(request, "offset", 0) or 0
    items, total = await run_in_threadpool(
        accounts.list_accounts, _ctx(request), limit=PAGE_SIZE, offset=offset
    )
    return _view(
        request, "accounts.html", current, status_code=status_code, title="Accounts", active="accounts",
        accounts=items, pages=_pages(offset, total, "/console/accounts", {}), error=error,
    )


@router.post("/accounts")
async def create_account(request: Request) -> Response:
    current, form = await _checked(request)
    try:
        account = await run_in_threadpool(
            accounts.create_account, _ctx(request), form.get("name", ""),
            otp_required=form.get("otp_required") == "on", actor=_actor(request),
        )
    except InvalidRequest as exc:
        return await _accounts_view(request, current, error=exc.message, status_code=400)
    return _redirect(f"/console/accounts/{account.id}", "account-created")


@dataclass
class _AccountDetail:
    account: Account
    webhook_url: str | None
    keys: list[dict[str, Any]]


def _account_detail(ctx: Context, account_id: str) -> _AccountDetail:
    account = accounts.get_account(ctx, account_id)
    now = ctx.clock.now()
    keys = [
        {
            "record": k,
            "status": "revoked" if k.revoked_at else ("active" if k.is_usable(now) else "expired"),
        }
        for k in accounts.list_keys(ctx, account_id)
    ]
    return _AccountDetail(account, accounts.get_webhook_url(ctx, account_id), keys)


async def _account_view(
    request: Request, current: sessions.Session, account_id: str, *, status_code: int = 200,
    **values: Any,
) -> Response:
    detail = await run_in_threadpool(_account_detail, _ctx(request), account_id)
    return _view(
        request, "account.html", current, status_code=status_code, title=detail.account.name,
        active="accounts", detail=detail, **values,
    )


@router.get("/accounts/{account_id:objectid}")
async def account_page(account_id: str, request: Request) -> Response:
    return await _account_view(request, _signed_in(request), account_id)


@router.post("/accounts/{account_id:objectid}/otp")
async def set_otp(account_id: str, request: Request) -> Response:
    _current, form = await _checked(request)
    required = form.get("otp_required") == "true"
    await run_in_threadpool(
        accounts.set_otp_required, _ctx(request), account_id, required, actor=_actor(request)
    )
    return _redirect(f"/console/accounts/{account_id}", "otp-on" if required else "otp-off")


@router.post("/accounts/{account_id:objectid}/webhook")
async def set_webhook(account_id: str, request: Request) -> Response:
    current, form = await _checked(request)
    try:
        change = await run_in_threadpool(
            accounts.set_webhook_url, _ctx(request), account_id, form.get("webhook_url", ""),
            actor=_actor(request),
        )
    except InvalidRequest as exc:
        return await _account_view(request, current, account_id, status_code=400, error=exc.message)
    if change.new_secret is not None:  # shown this once, on this page
        return await _account_view(request, current, account_id, new_secret=change.new_secret,
                                   done=DONE["webhook-set"])
    return _redirect(f"/console/accounts/{account_id}", "webhook-set" if change.url else "webhook-off")


@router.post("/accounts/{account_id:objectid}/keys")
async def create_key(account_id: str, request: Request) -> Response:
    current, form = await _checked(request)
    days_text = form.get("expires_in_days", "").strip()
    try:
        if days_text and not days_text.isdigit():
            raise InvalidRequest("Expires in: a whole number of days, or empty for a key that never expires")
        record, key = await run_in_threadpool(
            accounts.create_key, _ctx(request), account_id,
            expires_in_days=int(days_text) if days_text else None, actor=_actor(request),
        )
    except InvalidRequest as exc:
        return await _account_view(request, current, account_id, status_code=400, error=exc.message)
    return await _account_view(request, current, account_id, new_key=key, new_key_id=record.id)


@router.post("/keys/{key_id:objectid}/revoke")
async def revoke_key(key_id: str, request: Request) -> Response:
    _current, _form_ = await _checked(request)
    key = await run_in_threadpool(accounts.revoke_key, _ctx(request), key_id, actor=_actor(request))
    return _redirect(f"/console/accounts/{key.account_id}", "key-revoked")


# -- custom numbers ------------------------------------------------------------------------


def _numbers(ctx: Context, number: str, status: str, account_id: str, offset: int) -> dict[str, Any]:
    error = None
    try:
        items, total = custom_numbers.search(
            ctx, number=number or None, status=status or None, account_id=account_id or None,
            limit=PAGE_SIZE, offset=offset,
        )
    except InvalidRequest as exc:
        items, total, error = [], 0, exc.message
    names = _account_choices(ctx, {str(i["account_id"]) for i in items} | ({account_id} if account_id else set()))
    return {"items": items, "total": total, "error": error, "names": names}


@router.get("/numbers")
async def numbers_page(request: Request) -> Response:
    current = _signed_in(request)
    params = {"number": _query(request, "number"), "status": _query(request, "status"),
              "account_id": _query(request, "account_id")}
    offset = _query_int(request, "offset", 0) or 0
    found = await run_in_threadpool(
        _numbers, _ctx(request), params["number"], params["status"], params["account_id"], offset
    )
    return _view(
        request, "numbers.html", current, status_code=400 if found["error"] else 200,
        title="Custom numbers", active="numbers", params=params, statuses=custom_numbers.READABLE_STATUSES,
        pages=_pages(offset, found["total"], "/console/numbers", params), **found,
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
    current = _signed_in(request)
    found = await run_in_threadpool(_registration, _ctx(request), account_id, registration_id)
    return _view(
        request, "registration.html", current, title=f"Custom number {found['registration']['number']}",
        active="numbers", **found,
    )


# -- business names ------------------------------------------------------------------------


def _business(ctx: Context, status: str, account_id: str, offset: int) -> dict[str, Any]:
    items, total = business_names.list_(
        ctx, status=status or None, account_id=account_id or None, limit=PAGE_SIZE, offset=offset
    )
    names = _account_choices(ctx, {n.account_id for n in items} | ({account_id} if account_id else set()))
    return {"items": items, "total": total, "names": names}


@router.get("/business-names")
async def business_page(request: Request) -> Response:
    return await _business_view(request, _signed_in(request))


async def _business_view(
    request: Request, current: sessions.Session, *, error: str | None = None, status_code: int = 200
) -> Response:
    status = request.query_params.get("status", business_names.REQUESTED).strip().upper()
    params = {"status": status, "account_id": _query(request, "account_id")}
    offset = _query_int(request, "offset", 0) or 0
    found = await run_in_threadpool(_business, _ctx(request), status, params["account_id"], offset)
    title = "Business names to review" if status == business_names.REQUESTED else "Business names"
    return _view(
        request, "business.html", current, status_code=status_code, title=title, active="business",
        params=params, statuses=business_names.STATUSES, error=error,
        pages=_pages(offset, found["total"], "/console/business-names", params), **found,
    )


@router.post("/business-names/{name_id:objectid}/approve")
async def approve(name_id: str, request: Request) -> Response:
    _current, _form_ = await _checked(request)
    await run_in_threadpool(business_names.approve, _ctx(request), name_id, actor=_actor(request))
    return _redirect("/console/business-names", "approved")


@router.post("/business-names/{name_id:objectid}/reject")
async def reject(name_id: str, request: Request) -> Response:
    current, form = await _checked(request)
    try:
        await run_in_threadpool(
            business_names.reject, _ctx(request), name_id, reason=form.get("reason", ""),
            actor=_actor(request),
        )
    except InvalidRequest as exc:
        return await _business_view(request, current, error=exc.message, status_code=400)
    return _redirect("/console/business-names", "rejected")


# -- messages (the outbox) -----------------------------------------------------------------


def _messages(ctx: Context, status: str, account_id: str, offset: int) -> dict[str, Any]:
    items, total = overview.messages(
        ctx, status=status or None, account_id=account_id or None, limit=PAGE_SIZE, offset=offset
    )
    wanted = {str(i["account_id"]) for i in items if i["account_id"]} | ({account_id} if account_id else set())
    return {"items": items, "total": total, "names": _account_choices(ctx, wanted)}


@router.get("/messages")
async def messages_page(request: Request) -> Response:
    current = _signed_in(request)
    params = {"status": _query(request, "status"), "account_id": _query(request, "account_id")}
    offset = _query_int(request, "offset", 0) or 0
    found = await run_in_threadpool(_messages, _ctx(request), params["status"], params["account_id"], offset)
    return _view(
        request, "messages.html", current, title="Messages", active="messages", params=params,
        statuses=outbox.STATUSES, dead=outbox.DEAD,
        pages=_pages(offset, found["total"], "/console/messages", params), **found,
    )


@router.post("/messages/{message_id:objectid}/retry")
async def retry_message(message_id: str, request: Request) -> Response:
    _current, _form_ = await _checked(request)
    await run_in_threadpool(outbox_admin.retry, _ctx(request), message_id, actor=_actor(request))
    return _redirect("/console/messages", "retried")


# -- audit log -----------------------------------------------------------------------------


def _audit(ctx: Context, filters: dict[str, str], before_id: int | None) -> dict[str, Any]:
    events = overview.audit_page(
        ctx, account_id=filters["account_id"] or None, action=filters["action"] or None,
        since=_utc(filters["since"], "From"), until=_utc(filters["until"], "Until"),
        before_id=before_id, limit=PAGE_SIZE,
    )
    wanted = {str(e["account_id"]) for e in events if e["account_id"]}
    if filters["account_id"]:
        wanted.add(filters["account_id"])
    return {"events": events, "names": _account_choices(ctx, wanted)}


@router.get("/audit")
async def audit_page(request: Request) -> Response:
    current = _signed_in(request)
    filters = {name: _query(request, name) for name in ("account_id", "action", "since", "until")}
    before_id = _query_int(request, "before", None, minimum=1)
    error = None
    try:
        found = await run_in_threadpool(_audit, _ctx(request), filters, before_id)
    except InvalidRequest as exc:
        error = exc.message
        found = {"events": [], "names": await run_in_threadpool(_account_choices, _ctx(request), set())}
    events = found["events"]
    kept = {k: v for k, v in filters.items() if v}
    older = (
        f"/console/audit?{urlencode({**kept, 'before': events[-1]['id']})}"
        if len(events) == PAGE_SIZE else None
    )
    newest = f"/console/audit?{urlencode(kept)}" if before_id else None
    return _view(
        request, "audit.html", current, status_code=400 if error else 200, title="Audit log",
        active="audit", filters=filters, error=error, older=older, newest=newest,
        actions=AUDIT_ACTIONS, **found,
    )


AUDIT_ACTIONS = (
    "account.created", "account.updated", "account.webhook_updated", "account.webhook_secret_rotated",
    "key.created", "key.revoked",
    "custom_number.created", "custom_number.otp_sent", "custom_number.otp_resent",
    "custom_number.otp_failed", "custom_number.verified", "custom_number.renamed",
    "custom_number.cancelled", "custom_number.deleted",
    "business_name.requested", "business_name.approved", "business_name.rejected",
    "business_name.withdrawn", "message.queued", "outbox.retried", "outbox.purged",
)
