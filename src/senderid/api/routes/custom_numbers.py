"""POST /api/v1/customNumber/add and /verifyCustomNumber (SPEC §1.3)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from senderid.api import envelope
from senderid.api.auth import actor
from senderid.api.body import json_object
from senderid.api.deps import caller, context
from senderid.domain import custom_numbers
from senderid.domain.accounts import Caller

router = APIRouter(prefix="/api/v1/customNumber", tags=["custom numbers"])

CREATED = "Custom number created"
CREATED_DATA = {"success": True, "message": "Success create new custom number"}
OTP_SENT = "OTP sent to your number successfully"
VERIFIED = "OTP Verified Successfully!"


@router.post("/add")
async def add(request: Request, who: Caller = Depends(caller)) -> Response:
    body = await json_object(request)
    result = await run_in_threadpool(
        custom_numbers.add,
        context(request),
        who.account,
        name=body.get("name"),
        number=body.get("number"),
        actor=actor(request, who),
    )
    if result.outcome is custom_numbers.AddOutcome.CREATED:
        return envelope.ok(CREATED, CREATED_DATA, show_message=1)
    return envelope.ok(OTP_SENT, {"success": True, "message": OTP_SENT}, show_message=1)


@router.post("/verifyCustomNumber")
async def verify(request: Request, who: Caller = Depends(caller)) -> Response:
    body = await json_object(request)
    await run_in_threadpool(
        custom_numbers.verify,
        context(request),
        who.account,
        name=body.get("name"),
        number=body.get("number"),
        code=body.get("otp"),
        actor=actor(request, who),
    )
    return envelope.ok(VERIFIED)
