"""GET /api/v2/report/message/quick-api-credit-usage: SMS parts and credits per customString."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from senderid.api import envelope
from senderid.api.deps import caller, context
from senderid.api.paging import MAX_LIMIT, MAX_OFFSET
from senderid.domain import credits
from senderid.domain.types import Caller
from senderid.errors import InvalidRequest

router = APIRouter(prefix="/api/v2/report/message", tags=["usage"])

SUCCESS = "Success"


def paging(total: int, limit: int, current: int) -> dict[str, Any]:
    """The documented paging keys (those of mongoose-paginate: at least one page)."""
    pages = max(1, math.ceil(total / limit))
    return {
        "total": total, "limit": limit, "current": current, "totalPages": pages,
        "pagingCounter": (current - 1) * limit + 1, "hasPrevPage": current > 1,
        "hasNextPage": current < pages, "offset": (current - 1) * limit,
        "prevPage": current - 1 if current > 1 else None, "nextPage": current + 1 if current < pages else None,
    }


MAX_PAGE = MAX_OFFSET // MAX_LIMIT  # (page - 1) * limit stays within the offsets every list allows


@router.get("/quick-api-credit-usage")
async def credit_usage(
    request: Request,
    who: Caller = Depends(caller),
    campType: Annotated[str, Query(description="Only `sms`.")] = "sms",  # noqa: N803 (the documented name)
    page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page, from 1 (to 5,000,000).")] = 1,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Lines per page (1 to 200).")] = 10,
) -> Response:
    """SMS parts handed to the provider and credits used, per ``customString`` (``api``: none)."""
    if campType != "sms":
        raise InvalidRequest("campType: the only allowed value is sms")
    lines, total = await run_in_threadpool(
        credits.usage, context(request), who.account.id, limit=limit, offset=(page - 1) * limit)
    items = [{"_id": line.custom_string, "total": line.parts, "totalCreditAmount": line.credits} for line in lines]
    return envelope.ok(SUCCESS, {"items": items, **paging(total, limit, page)})
