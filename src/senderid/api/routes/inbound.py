"""Replies from phones: ``GET /api/v1/inbound``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from senderid.api import envelope
from senderid.api.deps import caller, context
from senderid.api.paging import Limit, Offset, page
from senderid.domain import inbound
from senderid.domain.types import Caller
from senderid.errors import InvalidRequest
from senderid.numbers import InvalidNumber, parse_mobile

router = APIRouter(prefix="/api/v1/inbound", tags=["inbound"])


def _since(value: str | None) -> datetime | None:
    if value is None or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidRequest("since must be an ISO-8601 time, e.g. 2026-01-01T00:00:00Z") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@router.get("")
async def list_inbound(
    request: Request,
    who: Caller = Depends(caller),
    from_: Annotated[
        str | None, Query(alias="from", description="Only replies from this number (any accepted form).")
    ] = None,
    since: Annotated[str | None, Query(description="ISO-8601; replies received at or after.")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    """Replies from phones to the account's SMS, newest first: ``id``, ``from``, ``to``,
    ``body`` (empty once the retention period has passed), ``receivedAt``, ``replyTo`` (the
    MessageId answered)."""
    ctx = context(request)
    number = None
    if from_ is not None and from_.strip():
        try:
            number = parse_mobile(from_, ctx.settings.allowed_regions)
        except InvalidNumber:
            raise InvalidRequest("from is not a valid mobile number") from None
    items, total = await run_in_threadpool(
        inbound.list_inbound, ctx, who.account.id, from_number=number, since=_since(since), limit=limit,
        offset=offset)
    return envelope.ok("Inbound messages", page([inbound.payload(i) for i in items], total, limit, offset))
