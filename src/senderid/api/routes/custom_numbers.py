"""POST /api/v1/customNumber/add and /verifyCustomNumber (SPEC §1.3); the registrations'
management, re-verification (`/{id}/reverify`) and reclaim by possession (`/reclaim`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from senderid.api import envelope
from senderid.api.auth import actor
from senderid.api.body import NUMBER_HELP, NumberInput, RequestBody
from senderid.api.deps import caller, context, posted
from senderid.api.paging import Limit, Offset, page
from senderid.clock import iso_ms
from senderid.domain import custom_numbers
from senderid.domain.types import Caller, CustomNumberStatus, Registration

router = APIRouter(prefix="/api/v1/customNumber", tags=["custom numbers"])

CREATED = "Custom number created"
CREATED_DATA = {"success": True, "message": "Success create new custom number"}
OTP_SENT = "OTP sent to your number successfully"
VERIFIED = "OTP Verified Successfully!"
CLAIM_OPENED = "OTP verified: the number moves to your account unless its holder proves possession first"


class AddCustomNumber(RequestBody):
    name: str | None = Field(None, max_length=100)
    number: NumberInput | None = None

    example = {"name": "Custom Number", "number": "+61400000000"}


class VerifyCustomNumber(RequestBody):
    """The fields are untyped: a missing or blank name is answered with HTTP 200 (status
    false, "Name is Required") before anything else is looked at, so no body shape is
    refused with a 4xx."""

    name: Any = Field(None, description="string, at most 100 characters")
    number: Any = Field(None, description=NUMBER_HELP)
    otp: Any = Field(None, description="the 6-digit code (a string; an integer is accepted)")

    example = {"name": "Custom Number", "number": "+61400000000", "otp": "123456"}


class ReclaimCustomNumber(RequestBody):
    """A number another account holds: a code goes to it; its right code opens a claim."""

    name: str | None = Field(None, max_length=100)
    number: NumberInput | None = None

    example = {"name": "My mobile", "number": "+61491570159"}


@router.post("/add", openapi_extra=AddCustomNumber.openapi())
async def add(request: Request) -> Response:
    def work(who: Caller, body: dict[str, Any]) -> Response:
        result = custom_numbers.add(
            context(request), who.account, name=body.get("name"), number=body.get("number"),
            actor=actor(request, who),
        )
        if result.outcome is custom_numbers.AddOutcome.CREATED:
            return envelope.ok(CREATED, CREATED_DATA, show_message=1)
        return envelope.ok(OTP_SENT, {"success": True, "message": OTP_SENT}, show_message=1)

    return await posted(request, work, short=True)


@router.post("/verifyCustomNumber", openapi_extra=VerifyCustomNumber.openapi())
async def verify(request: Request) -> Response:
    def work(who: Caller, body: dict[str, Any]) -> Response:
        verified = custom_numbers.verify_number(
            context(request), who.account, name=body.get("name"), number=body.get("number"),
            code=body.get("otp"), actor=actor(request, who),
        )
        if verified.decides_at is not None:
            return envelope.ok(
                CLAIM_OPENED, {"status": CustomNumberStatus.CLAIMING, "decidesAt": iso_ms(verified.decides_at)}
            )
        return envelope.ok(VERIFIED)

    return await posted(request, work, short=True)


@router.post("/reclaim", openapi_extra=ReclaimCustomNumber.openapi())
async def reclaim(request: Request) -> Response:
    def work(who: Caller, body: dict[str, Any]) -> Response:
        custom_numbers.reclaim(
            context(request), who.account, name=body.get("name"), number=body.get("number"),
            actor=actor(request, who),
        )
        return envelope.ok(OTP_SENT, {"success": True, "message": OTP_SENT}, show_message=1)

    return await posted(request, work, short=True)


# -- management (ours, beyond the Cellcast contract) ---------------------------------------


def registration_body(view: Registration) -> dict[str, object]:
    return {
        "_id": view.id,
        "name": view.name,
        "number": view.number,
        "status": view.status,
        "otpExpiresAt": iso_ms(view.otp_expires_at),
        "createdAt": iso_ms(view.created_at),
        "updatedAt": iso_ms(view.updated_at),
        "verifiedAt": iso_ms(view.verified_at),
        "endedAt": iso_ms(view.ended_at),
        "verifiedBy": view.verified_by,
        "reverifyBy": iso_ms(view.reverify_by),
        "decidesAt": iso_ms(view.decides_at),
    }


@router.get("/list")
async def list_numbers(
    request: Request,
    who: Caller = Depends(caller),
    status: Annotated[str | None, Query(description="pending, expired, active, cancelled, deleted, lapsed, "
                                              "released, claiming or reclaimed")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    """The account's registrations, newest first."""
    items, total = await run_in_threadpool(
        custom_numbers.list_registrations, context(request), who.account.id,
        status=status, limit=limit, offset=offset,
    )
    return envelope.ok("Custom numbers", page([registration_body(i) for i in items], total, limit, offset))


@router.get("/{registration_id:objectid}")
async def get_number(registration_id: str, request: Request, who: Caller = Depends(caller)) -> Response:
    view = await run_in_threadpool(
        custom_numbers.get_registration, context(request), who.account.id, registration_id
    )
    return envelope.ok("Custom number", registration_body(view))


@router.delete("/{registration_id:objectid}")
async def delete_number(registration_id: str, request: Request, who: Caller = Depends(caller)) -> Response:
    """End a registration; the number is free for other accounts. The record stays readable."""
    view = await run_in_threadpool(
        custom_numbers.delete, context(request), who.account, registration_id, actor=actor(request, who)
    )
    return envelope.ok("Custom number deleted", registration_body(view))


@router.post("/{registration_id:objectid}/resend")
async def resend_code(registration_id: str, request: Request) -> Response:
    """A fresh OTP for a pending registration (cooldown and hourly limits apply)."""
    def work(who: Caller, _body: dict[str, Any]) -> Response:
        view = custom_numbers.resend(context(request), who.account, registration_id, actor=actor(request, who))
        return envelope.ok(OTP_SENT, registration_body(view), show_message=1)

    return await posted(request, work, short=True)


@router.post("/{registration_id:objectid}/reverify")
async def reverify_number(registration_id: str, request: Request) -> Response:
    """A code to prove possession again, for an active or lapsed registration (the sending
    limits apply); `verifyCustomNumber` with it renews the proof."""
    def work(who: Caller, _body: dict[str, Any]) -> Response:
        custom_numbers.reverify(context(request), who.account, registration_id, actor=actor(request, who))
        return envelope.ok(OTP_SENT, {"success": True, "message": OTP_SENT}, show_message=1)

    return await posted(request, work, short=True)
