"""``/admin/v1/protected``: the operators' list of protected numbers, prefixes and names
(:mod:`senderid.domain.protected`), under the admin API's token like the rest of
``/admin/v1`` (:mod:`senderid.api.routes.admin`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from senderid import edge
from senderid.api import envelope
from senderid.api.body import RequestBody, json_object
from senderid.api.deps import context
from senderid.api.routes.admin import ACTOR_NAME, require_admin
from senderid.clock import iso_ms
from senderid.domain import protected
from senderid.domain.types import Actor
from senderid.errors import InvalidRequest


def _actor(request: Request) -> Actor:
    return edge.actor(request, ACTOR_NAME)


router = APIRouter(prefix="/admin/v1", tags=["admin"], dependencies=[Depends(require_admin)])


class Protect(RequestBody):
    value: str = Field(description="a number (any accepted form), a prefix ending in * (+6149157*) or a name")
    accounts: list[str] = Field(default_factory=list, description="ids of the accounts allowed to use it")
    note: str | None = Field(None, max_length=500)
    end_holders: bool = Field(False, description="end the registrations and requests of accounts not allowed")

    example = {"value": "+6149157*", "accounts": [], "note": "Do Not Originate range", "end_holders": False}


def protected_body(entry: protected.Protected) -> dict[str, Any]:
    return {"id": entry.id, "kind": entry.kind, "value": entry.shown, "accounts": list(entry.accounts),
            "note": entry.note, "createdAt": iso_ms(entry.created_at)}


def holder_body(holder: protected.Holder) -> dict[str, Any]:
    return {"kind": holder.kind, "id": holder.id, "accountId": holder.account_id, "sender": holder.sender,
            "status": holder.status}


@router.get("/protected")
async def list_protected(request: Request) -> Response:
    items = await run_in_threadpool(protected.list_protected, context(request))
    return envelope.ok("Protected senders", [protected_body(i) for i in items])


@router.post("/protected", openapi_extra=Protect.openapi())
async def protect(request: Request) -> Response:
    """Protect a value; the answer lists who holds it among the accounts not allowed (and
    whether they were ended)."""
    body = await json_object(request)
    allowed = body.get("accounts", [])
    if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
        raise InvalidRequest("accounts must be a list of account ids")
    end = body.get("end_holders", False)
    if not isinstance(end, bool):
        raise InvalidRequest("end_holders must be true or false")
    done = await run_in_threadpool(
        lambda: protected.add(context(request), body.get("value"), accounts_allowed=allowed, note=body.get("note"),
                              end_holders=end, actor=_actor(request)))
    return envelope.ok("Protected", {**protected_body(done.entry), "holders": [holder_body(h) for h in done.holders],
                                     "holdersEnded": done.ended})


@router.delete("/protected")
async def unprotect(request: Request, value: str = Query(description="the value as listed or in any accepted "
                                                                       "form")) -> Response:
    entry = await run_in_threadpool(lambda: protected.remove(context(request), value, actor=_actor(request)))
    return envelope.ok("No longer protected", protected_body(entry))
