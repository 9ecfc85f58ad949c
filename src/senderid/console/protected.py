"""The console's protected senders: the list, protecting a value (with the holders it
finds, ended or not), and removing one (:mod:`senderid.domain.protected`)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from senderid.console import plumbing
from senderid.domain import protected
from senderid.errors import InvalidRequest, NotFound

router = plumbing.console_router()


async def _view(request: Request, *, status_code: int = 200, **values: Any) -> Response:
    entries = await run_in_threadpool(protected.list_protected, plumbing.context(request))
    return plumbing.view(request, "protected.html", plumbing.signed_in(request), status_code=status_code,
                         title="Protected senders", active="protected", entries=entries, **values)


@router.get("/protected")
async def protected_page(request: Request) -> Response:
    return await _view(request)


@router.post("/protected")
async def protect(request: Request) -> Response:
    _current, form = await plumbing.checked(request)
    allowed = form.get("accounts", "").replace(",", " ").split()
    try:
        done = await run_in_threadpool(
            lambda: protected.add(plumbing.context(request), form.get("value", ""), accounts_allowed=allowed,
                                  note=form.get("note"), end_holders=form.get("end_holders") == "true",
                                  actor=plumbing.actor(request)))
    except (InvalidRequest, NotFound) as exc:
        return await _view(request, status_code=400, error=exc.message)
    if done.holders:  # shown on the page: who holds it, and whether they were ended
        return await _view(request, done=plumbing.DONE["protected"], protection=done)
    return plumbing.redirect("/console/protected", "protected")


@router.post("/protected/remove")
async def unprotect(request: Request) -> Response:
    _current, form = await plumbing.checked(request)
    try:
        await run_in_threadpool(
            lambda: protected.remove(plumbing.context(request), form.get("value", ""), actor=plumbing.actor(request)))
    except (InvalidRequest, NotFound) as exc:
        return await _view(request, status_code=400, error=exc.message)
    return plumbing.redirect("/console/protected", "unprotected")
