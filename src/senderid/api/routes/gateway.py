"""POST /api/v1/gateway (send SMS) and GET /api/v1/senderId/check (SPEC §6)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from senderid.api import envelope
from senderid.api.auth import actor
from senderid.api.deps import as_caller, context, posted
from senderid.domain import messages
from senderid.domain.types import Caller
from senderid.numbers import national_significant

router = APIRouter(prefix="/api/v1", tags=["sending"])

QUEUED = "Message added to queue."


@router.post("/gateway")
async def send(request: Request) -> Response:
    return await posted(request, lambda who, body: _send(request, who, body))


def _send(request: Request, who: Caller, body: dict[str, Any]) -> Response:
    outcome = messages.send(
        context(request),
        who.account,
        message=body.get("message"),
        contacts=body.get("contacts"),
        sender=body.get("sender"),
        actor=actor(request, who),
    )
    data = {
        "queueResponse": [
            {"Contact": national_significant(q.number), "MessageId": q.message_id, "Result": QUEUED,
             "Number": q.given}
            for q in outcome.queued
        ],
        "message": "success register all valid contacts to queue",
        "invalidContacts": outcome.invalid,
        "unsubscribeContacts": [],
        "totalValidContact": len(outcome.queued),
        "totalInvalidContact": len(outcome.invalid),
        "totalUnsubscribeContact": 0,
        "encoding": outcome.encoding,
        "messageParts": outcome.parts,
    }
    return envelope.ok("Request is being processed", data)


@router.get("/senderId/check")
async def check(
    request: Request,
    sender: Annotated[str, Query(description="Number, business name or #SharedNum# (at most 32 characters)")] = "",
) -> Response:
    """May the calling account send as ``sender``? Read-only and cheap: gateways call it per message."""
    ctx = context(request)

    resolved = await as_caller(
        request,
        lambda who: messages.check_sender(ctx, who.account, sender),
        from_memory=lambda who: messages.check_sender_from_memory(ctx, who.account, sender),
    )
    data = {
        "sender": sender,
        "allowed": resolved is not None,
        "type": resolved.kind if resolved else None,
        "sendAs": resolved.value if resolved else None,
    }
    return envelope.ok("Sender allowed" if resolved else "Sender not allowed", data)
