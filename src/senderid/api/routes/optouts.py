"""The account's opt-out list: ``GET/POST /api/v1/optouts``, ``DELETE /api/v1/optouts/{number}``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from senderid.api import envelope
from senderid.api.auth import actor
from senderid.api.body import NumberInput, RequestBody
from senderid.api.deps import as_caller, caller, context, posted
from senderid.api.paging import Limit, Offset, page
from senderid.clock import iso_ms
from senderid.domain import optouts
from senderid.domain.optouts import OptOut
from senderid.domain.types import Caller

router = APIRouter(prefix="/api/v1/optouts", tags=["opt-outs"])


def entry(item: OptOut) -> dict[str, Any]:
    return {"number": item.number, "source": item.source, "createdAt": iso_ms(item.created_at)}


@router.get("")
async def list_optouts(request: Request, who: Caller = Depends(caller), limit: Limit = 50,
                       offset: Offset = 0) -> Response:
    """The account's opt-out list, newest first; ``optoutId`` is the list's id for the gateway."""
    items, total = await run_in_threadpool(
        optouts.list_optouts, context(request), who.account.id, limit=limit, offset=offset)
    body = page([entry(i) for i in items], total, limit, offset)
    return envelope.ok("Opt-outs", {"optoutId": optouts.list_id(who.account.id), **body})


class AddOptOut(RequestBody):
    number: NumberInput

    example = {"number": "0491 570 157"}


@router.post("", openapi_extra=AddOptOut.openapi())
async def add_optout(request: Request) -> Response:
    """``{"number": "..."}`` (any accepted form): the gateway stops sending to it."""
    def work(who: Caller, body: dict[str, Any]) -> Response:
        item, added = optouts.add(context(request), who.account.id, body.get("number"), source="api",
                                  actor=actor(request, who))
        return envelope.ok("Number added to the opt-out list" if added else "Number already on the opt-out list",
                           entry(item))

    return await posted(request, work)


@router.delete("/{number}")
async def remove_optout(number: str, request: Request) -> Response:
    ctx = context(request)
    removed = await as_caller(
        request, lambda who: optouts.remove(ctx, who.account.id, number, actor=actor(request, who)))
    return envelope.ok("Number removed from the opt-out list", {"number": removed})
