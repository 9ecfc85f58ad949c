"""The console's audit log: filters and pages, newest first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from senderid.console import plumbing
from senderid.domain import audit, overview
from senderid.domain.context import Context
from senderid.errors import InvalidRequest

router = plumbing.console_router()


def _utc(value: str, field_name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"{field_name} must be a date and time, e.g. 2026-01-01T09:30") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


FILTERS = ("account_id", "action", "since", "until")


def _parsed(filters: dict[str, str]) -> dict[str, Any]:
    """The page's filters as :func:`overview.audit_page` takes them (InvalidRequest for a bad time)."""
    return {
        "account_id": filters["account_id"] or None, "action": filters["action"] or None,
        "since": _utc(filters["since"], "From"), "until": _utc(filters["until"], "Until"),
    }


def audit_filters(request: Request) -> dict[str, Any]:
    """The audit filters of a request's query string, parsed (the page and its CSV)."""
    return _parsed({name: plumbing.query_text(request, name) for name in FILTERS})


def _audit(ctx: Context, filters: dict[str, str], before_id: int | None) -> dict[str, Any]:
    events = overview.audit_page(ctx, before_id=before_id, limit=plumbing.PAGE_SIZE, **_parsed(filters))
    wanted = {str(e["account_id"]) for e in events if e["account_id"]}
    if filters["account_id"]:
        wanted.add(filters["account_id"])
    return {"events": events, "names": plumbing.account_choices(ctx, wanted)}


@router.get("/audit")
async def audit_page(request: Request) -> Response:
    current = plumbing.signed_in(request)
    filters = {name: plumbing.query_text(request, name) for name in FILTERS}
    before_id = plumbing.query_int(request, "before", None, minimum=1)
    error = None
    try:
        found = await run_in_threadpool(_audit, plumbing.context(request), filters, before_id)
    except InvalidRequest as exc:
        error = exc.message
        names = await run_in_threadpool(plumbing.account_choices, plumbing.context(request), set())
        found = {"events": [], "names": names}
    events = found["events"]
    kept = {k: v for k, v in filters.items() if v}
    older = (
        f"/console/audit?{urlencode({**kept, 'before': events[-1]['id']})}"
        if len(events) == plumbing.PAGE_SIZE else None
    )
    newest = f"/console/audit?{urlencode(kept)}" if before_id else None
    return plumbing.view(
        request, "audit.html", current, status_code=400 if error else 200, title="Audit log",
        active="audit", filters=filters, error=error, older=older, newest=newest,
        actions=AUDIT_ACTIONS, csv_url=f"/console/audit.csv?{urlencode(kept)}", **found,
    )


AUDIT_ACTIONS = tuple(audit.Action)
