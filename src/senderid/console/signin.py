"""Signing in and out of the console: the sign-in form, its throttle, the session cookie."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from senderid.console import plumbing
from senderid.console import session as sessions
from senderid.console.pages import page

router = plumbing.console_router()


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
    key = plumbing.signing_key(request)
    now = plumbing.timestamp(request)
    pre = sessions.read(key, request.cookies.get(sessions.COOKIE_NAME), now=now)
    cookie = None
    if pre is None or pre.authenticated:
        cookie, pre = sessions.issue(key, now=now, authenticated=False)
    response = page(
        "login.html", status_code=status_code, headers=headers, title="Sign in", session=None,
        csrf=pre.csrf, error=error, done=plumbing.DONE.get(request.query_params.get("done", "")),
    )
    if cookie is not None:
        _set_cookie(request, response, cookie, sessions.PRE_SESSION_SECONDS)
    return response


@router.get("/login")
async def login_form(request: Request) -> Response:
    try:
        plumbing.signed_in(request)
    except plumbing.SignInNeeded:
        return _login_page(request)
    return plumbing.redirect("/console")


@router.post("/login")
async def login(request: Request) -> Response:
    key = plumbing.signing_key(request)
    now = plumbing.timestamp(request)
    form = await plumbing.read_form(request)
    pre = sessions.read(key, request.cookies.get(sessions.COOKIE_NAME), now=now)
    if pre is None or not sessions.csrf_ok(pre, form.get("csrf")):
        return _login_page(
            request, status_code=403,
            error="The sign-in form had expired (or cookies are off). Nothing was checked; please try again.",
        )
    state = plumbing.console_state(request)
    client = plumbing.client_ip(request)
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
    response = plumbing.redirect("/console")
    _set_cookie(request, response, cookie, sessions.SESSION_SECONDS)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    current, _form_ = await plumbing.checked(request)
    plumbing.console_state(request).sign_outs.end(current, now=plumbing.timestamp(request))
    response = plumbing.redirect("/console/login", "signed-out")
    response.delete_cookie(
        sessions.COOKIE_NAME, path=sessions.COOKIE_PATH, httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response
