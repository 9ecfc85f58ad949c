"""Jinja2 templates with autoescaping: whatever a page shows is text, never markup.

Also the headers every page carries: a Content-Security-Policy that allows only
this server's own CSS and JavaScript (no inline script, no other origin), no
framing, no caching, no referrer.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse

from senderid.domain.types import BusinessNameStatus, CustomNumberStatus, OutboxStatus

ASSETS = ("console.css", "console.js")

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@cache
def asset(name: str) -> bytes:
    """The bytes of a static file shipped in ``console/static`` (only the names in ASSETS)."""
    if name not in ASSETS:
        raise KeyError(name)
    return resources.files("senderid.console").joinpath("static", name).read_bytes()


@cache
def asset_url(name: str) -> str:
    """``/assets/<name>?v=<hash of its content>``: cached by browsers, refreshed when it changes."""
    return f"/assets/{name}?v={hashlib.sha256(asset(name)).hexdigest()[:12]}"


def when(value: datetime | str | None) -> str:
    """A time as operators read it: ``2026-01-01 09:30:05 UTC``."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def detail(value: object) -> str:
    """An audit detail as text: JSON's spelling for booleans and null."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("senderid.console", "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["asset_url"] = asset_url
    # The statuses by name, so a template never spells one out (``BusinessNameStatus.REQUESTED``).
    env.globals.update(BusinessNameStatus=BusinessNameStatus, CustomNumberStatus=CustomNumberStatus,
                       OutboxStatus=OutboxStatus)
    env.filters["when"] = when
    env.filters["detail"] = detail
    return env


def render(template: str, **values: Any) -> str:
    return _environment().get_template(template).render(**values)


def page(
    template: str, *, status_code: int = 200, headers: dict[str, str] | None = None, **values: Any
) -> HTMLResponse:
    """A rendered page with the security headers."""
    return HTMLResponse(
        render(template, **values), status_code, headers={**SECURITY_HEADERS, **(headers or {})}
    )
