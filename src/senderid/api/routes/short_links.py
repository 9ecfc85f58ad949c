"""GET /s/{code}: a gateway message's short link, redirecting (302) to its long URL.

A message's unsubscribe link (``Opt out: <link>``) shows a small page instead, with one
button; its form POST to the same address opts the contact out. A GET alone never opts
out: carriers and phones fetch links before anyone taps them.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from senderid.api import envelope
from senderid.api.deps import context
from senderid.domain import optouts, short_links
from senderid.domain.types import Actor

router = APIRouter(tags=["short links"])

# The page stands alone: no script, no outside asset, not framed by another site.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
_STYLE = ("body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}"
          "button{font-size:1.1rem;padding:.7rem 1.4rem;border:0;border-radius:.4rem;background:#b3261e;"
          "color:#fff;cursor:pointer}")


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title><style>{_STYLE}</style></head><body>{body}</body></html>")


def _from(sender: str) -> str:
    return escape(sender) if sender.strip() else "this sender"


@router.get("/s/{code}", status_code=302, response_class=RedirectResponse, responses={
    302: {"description": "Redirects to the link's long URL (Location)"},
    200: {"description": "An unsubscribe link: a page with one button that opts out", "content": {"text/html": {}}},
    404: {"description": "No such link", "content": {"application/json": {}}},
})
async def follow(code: str, request: Request) -> Response:
    """Counts the click and redirects; an unsubscribe link shows its page (and changes
    nothing); an unknown code is a 404."""
    ctx = context(request)
    target = await run_in_threadpool(short_links.follow, ctx, code)
    if target is not None:
        return RedirectResponse(target, 302, headers={"Cache-Control": "no-store"})
    link = await run_in_threadpool(short_links.optout_link, ctx, code)
    if link is None:
        return envelope.failure("No such link", 404)
    sender = _from(link.sender)
    return HTMLResponse(_page("Opt out", (
        f"<h1>Opt out</h1><p>Stop receiving messages from {sender}?</p>"
        '<form method="post"><button type="submit">Opt out</button></form>'
    )), headers=PAGE_HEADERS)


@router.post("/s/{code}", response_class=HTMLResponse, responses={
    200: {"description": "The contact is on the sender's opt-out list", "content": {"text/html": {}}},
    404: {"description": "No such unsubscribe link", "content": {"application/json": {}}},
})
async def opt_out(code: str, request: Request) -> Response:
    """The unsubscribe page's button: puts the contact on the opt-out list of the account
    that sent the message (source ``link``)."""
    ctx = context(request)
    link = await run_in_threadpool(short_links.optout_link, ctx, code)
    if link is None:
        return envelope.failure("No such link", 404)
    done = await run_in_threadpool(optouts.add_by_link, ctx, code, actor=Actor("unsubscribe-link"))
    if done is None:
        return envelope.failure("No such link", 404)
    sender = _from(link.sender)
    return HTMLResponse(_page("Opted out", (
        f"<h1>You are opted out</h1><p>{sender} will send you no more messages.</p>"
    )), headers=PAGE_HEADERS)
