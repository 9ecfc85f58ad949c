"""CSV downloads of the console's lists: custom numbers, business names, the audit log.

Each takes the same filters as its page and holds every matching row (read a page
at a time, so a big export never sits in memory). What they hold is what the pages
show — no OTP, key, key hash or webhook secret exists in these lists — and the
audit's details are the ones the audit module accepted (it refuses secret-looking
fields).

The cells are written by :mod:`senderid.csvfile`, as every CSV of the project: none is a
formula to a spreadsheet, a phone number reads ``61491570156``. The file is UTF-8 with a
byte-order mark, which spreadsheet programs need to read names that are not ASCII; lines
end in CRLF; times are ISO 8601 in UTC.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from senderid import csvfile
from senderid.console import plumbing
from senderid.console.audit import audit_filters
from senderid.console.pages import SECURITY_HEADERS
from senderid.domain import business_names, custom_numbers, overview
from senderid.domain.business_names import BusinessName
from senderid.domain.context import Context
from senderid.domain.types import Registration

router = plumbing.console_router()

BATCH = 500  # rows read per query
AUDIT_BATCH = overview.MAX_LIMIT  # the audit's pages are at most this long

Rows = Iterator[list[Any]]


def download(name: str, now: datetime, header: list[str], rows: Iterable[list[Any]]) -> Response:
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        csvfile.lines(header, rows, bom=True), media_type="text/csv; charset=utf-8",
        headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="senderid-{name}-{stamp}.csv"'},
    )


def _offset_pages(fetch: Callable[[int], list[Any]], first: list[Any]) -> Iterator[Any]:
    """Every item: ``first`` (fetched up front, so bad filters fail before the download
    starts), then the next pages of BATCH until one comes back short."""
    page, offset = first, 0
    while True:
        yield from page
        if len(page) < BATCH or not page:
            return
        offset += BATCH
        page = fetch(offset)


def _names(ctx: Context, items: list[Any], key: Callable[[Any], str | None]) -> dict[str, str]:
    return overview.account_names(ctx, {k for k in map(key, items) if k})


# -- custom numbers --------------------------------------------------------------------------

NUMBER_COLUMNS = ["id", "number", "name", "account_id", "account", "status", "created_at", "verified_at",
                  "ended_at", "otp_expires_at"]


@router.get("/numbers.csv")
async def numbers_csv(request: Request) -> Response:
    plumbing.signed_in(request)
    ctx = plumbing.context(request)
    number, status, account_id = (plumbing.query_text(request, n) for n in ("number", "status", "account_id"))

    def fetch(offset: int) -> list[Registration]:
        items, _total = custom_numbers.search(
            ctx, number=number or None, status=status or None, account_id=account_id or None,
            limit=BATCH, offset=offset,
        )
        return items

    def rows(first: list[Registration]) -> Rows:
        for batch in _batches(_offset_pages(fetch, first)):
            names = _names(ctx, batch, lambda r: r.account_id)
            for r in batch:
                yield [r.id, csvfile.Phone(r.number), r.name, r.account_id, names.get(r.account_id),
                       r.status, r.created_at, r.verified_at, r.ended_at, r.otp_expires_at]

    first = await run_in_threadpool(fetch, 0)
    return download("custom-numbers", ctx.clock.now(), NUMBER_COLUMNS, rows(first))


# -- business names --------------------------------------------------------------------------

# Every field of a business name, in its order (fields added later come along), the
# account's name after its id.
BUSINESS_FIELDS = [f.name for f in dataclasses.fields(BusinessName)]


@router.get("/business-names.csv")
async def business_csv(request: Request) -> Response:
    plumbing.signed_in(request)
    ctx = plumbing.context(request)
    status = request.query_params.get("status", business_names.REQUESTED).strip().upper()
    account_id = plumbing.query_text(request, "account_id")

    def fetch(offset: int) -> list[BusinessName]:
        items, _total = business_names.list_(
            ctx, status=status or None, account_id=account_id or None, limit=BATCH, offset=offset
        )
        return items

    header = list(BUSINESS_FIELDS)
    header.insert(header.index("account_id") + 1, "account")

    def rows(first: list[BusinessName]) -> Rows:
        for batch in _batches(_offset_pages(fetch, first)):
            names = _names(ctx, batch, lambda n: n.account_id)
            for n in batch:
                values = dataclasses.asdict(n)
                values["account"] = names.get(n.account_id)
                values["customer_contact"] = csvfile.phone(n.customer_contact)
                yield [values[column] for column in header]

    first = await run_in_threadpool(fetch, 0)
    return download("business-names", ctx.clock.now(), header, rows(first))


# -- the audit log ---------------------------------------------------------------------------

AUDIT_COLUMNS = ["id", "at", "action", "actor", "ip", "account_id", "account", "subject", "details"]


@router.get("/audit.csv")
async def audit_csv(request: Request) -> Response:
    plumbing.signed_in(request)
    ctx = plumbing.context(request)
    filters = audit_filters(request)

    def fetch(before_id: int | None) -> list[dict[str, Any]]:
        return overview.audit_page(ctx, before_id=before_id, limit=AUDIT_BATCH, **filters)

    def events(first: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        page = first
        while page:
            yield from page
            if len(page) < AUDIT_BATCH:
                return
            page = fetch(page[-1]["id"])  # keyset: events written meanwhile do not shift it

    def rows(first: list[dict[str, Any]]) -> Rows:
        for batch in _batches(events(first)):
            names = _names(ctx, batch, lambda e: e["account_id"])
            for e in batch:
                yield [e["id"], e["at"], e["action"], e["actor"], e["ip"], e["account_id"],
                       names.get(e["account_id"]) if e["account_id"] else None, e["subject"], e["details"]]

    first = await run_in_threadpool(fetch, None)
    return download("audit", ctx.clock.now(), AUDIT_COLUMNS, rows(first))


def _batches(items: Iterator[Any], size: int = BATCH) -> Iterator[list[Any]]:
    """Groups of ``size`` (one account-name lookup each)."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
