"""The console's plumbing: sessions on requests, CSRF checks, forms, and how pages are rendered.

Every page group (:mod:`senderid.console.signin`, ``home``, ``accounts``, ``numbers``,
``business``, ``messages``, ``audit``) builds its router with :func:`console_router`,
whose :class:`ConsoleRoute` turns the console's refusals into pages: a request
without a signed-in session is sent to the sign-in page; a POST whose CSRF token
is missing or wrong is a 403 and changes nothing. Sessions and CSRF tokens
themselves are in :mod:`senderid.console.session`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from senderid import edge
from senderid.console import session as sessions
from senderid.console.pages import SECURITY_HEADERS, page
from senderid.domain import accounts, overview
from senderid.domain.context import Context
from senderid.domain.types import Actor
from senderid.edge import context
from senderid.errors import InvalidRequest, NotFound, SenderIdError

__all__ = ["context"]  # request -> context, the edges' one way to get it (senderid.edge)

ACTOR_NAME = "console"
PAGE_SIZE = 50
ACCOUNT_CHOICES = 200  # accounts offered in the filters' account lists

NAV = (
    ("overview", "/console", "Overview"),
    ("accounts", "/console/accounts", "Accounts"),
    ("numbers", "/console/numbers", "Custom numbers"),
    ("business", "/console/business-names", "Business names"),
    ("messages", "/console/messages", "Messages"),
    ("protected", "/console/protected", "Protected"),
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
    "acma-updated": "Status on ACMA's SMS Sender ID Register recorded.",
    "registrant-set": "Default registrant saved: business-name requests that name none use it.",
    "retried": "Message queued again: the worker sends it shortly.",
    "signed-out": "You are signed out.",
    "reverify-set": "Re-verification period saved: the account's numbers follow it now.",
    "protected": "Protected: accounts not allowed can no longer register it.",
    "unprotected": "No longer protected.",
}



class SignInNeeded(Exception):
    """No signed-in session: go to the sign-in page."""


class Forbidden(Exception):
    """A POST without the session's CSRF token."""


@dataclass
class ConsoleState:
    throttle: sessions.SignInThrottle = field(default_factory=sessions.SignInThrottle)
    sign_outs: sessions.SignOuts = field(default_factory=sessions.SignOuts)


def console_state(request: Request) -> ConsoleState:
    state = getattr(request.app.state, "console", None)
    if state is None:
        state = request.app.state.console = ConsoleState()
    return state


def signing_key(request: Request) -> bytes:
    token = request.app.state.settings.admin_token
    if not token:  # not mounted without a token; refuse anyway if it ever is
        raise NotFound(f"No such page: {request.url.path}")
    return sessions.derive_key(context(request).secret, token)


def timestamp(request: Request) -> float:
    return context(request).clock.now().timestamp()


def client_ip(request: Request) -> str:
    return edge.client_ip(request) or "unknown"


def actor(request: Request) -> Actor:
    """Who a console action is audited as: ``console``, from the client's address."""
    return edge.actor(request, ACTOR_NAME)


def signed_in(request: Request) -> sessions.Session:
    found = sessions.read(signing_key(request), request.cookies.get(sessions.COOKIE_NAME), now=timestamp(request))
    if found is None or not found.authenticated or console_state(request).sign_outs.ended(found):
        raise SignInNeeded()
    return found


async def read_form(request: Request) -> dict[str, str]:
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


async def checked(request: Request) -> tuple[sessions.Session, dict[str, str]]:
    """The session and form of a POST, after its CSRF token is checked."""
    current = signed_in(request)
    form = await read_form(request)
    if not sessions.csrf_ok(current, form.get("csrf")):
        raise Forbidden()
    return current, form


class ConsoleRoute(APIRoute):
    """Turns the console's refusals into pages (the API's handlers answer JSON)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInNeeded:
                return RedirectResponse("/console/login", 303, headers=SECURITY_HEADERS)
            except Forbidden:
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



def console_router() -> APIRouter:
    """A router for one page group under ``/console``."""
    return APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)



def query_int(request: Request, name: str, default: int | None = None, minimum: int = 0) -> int | None:
    """A whole number from the query string; ``default`` when absent or out of range."""
    value = request.query_params.get(name, "")
    try:
        number = int(value)
    except ValueError:
        return default
    return number if minimum <= number <= 2**31 - 1 else default


def query_text(request: Request, name: str) -> str:
    return request.query_params.get(name, "").strip()


def view(
    request: Request, template: str, current: sessions.Session, *, status_code: int = 200, **values: Any
) -> Response:
    done = values.pop("done", None) or DONE.get(request.query_params.get("done", ""))
    return page(template, status_code=status_code, session=current, nav=NAV, done=done, **values)


def redirect(path: str, done: str | None = None) -> Response:
    return RedirectResponse(
        f"{path}?{urlencode({'done': done})}" if done else path, 303, headers=SECURITY_HEADERS
    )


def with_query(path: str, params: dict[str, str]) -> str:
    """``path?the non-empty params`` (a page's filters carried to another link)."""
    kept = {k: v for k, v in params.items() if v}
    return f"{path}?{urlencode(kept)}" if kept else path


def pages(offset: int, total: int, base: str, params: dict[str, str]) -> dict[str, Any]:
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


def account_choices(ctx: Context, wanted: set[str]) -> dict[str, str]:
    """Account id -> name: the first accounts (for the filters) and every id in ``wanted``."""
    items, _total = accounts.list_accounts(ctx, limit=ACCOUNT_CHOICES)
    names = {a.id: a.name for a in items}
    missing = wanted - names.keys()
    found = overview.account_names(ctx, missing)  # one query, however many are missing
    return {**names, **{account_id: found.get(account_id, account_id) for account_id in missing}}

