"""POST /api/v1/business/add (SPEC §1.3, §5), and the account's own list, get and withdraw."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from senderid.api import envelope
from senderid.api.auth import actor
from senderid.api.body import NumberInput, RequestBody
from senderid.api.deps import caller, context, posted
from senderid.api.paging import Limit, Offset, page
from senderid.clock import iso_ms
from senderid.domain import business_names
from senderid.domain.business_names import BusinessName
from senderid.domain.types import Caller, UseCase

router = APIRouter(prefix="/api/v1/business", tags=["business names"])

ADDED = "Request added successfully for business name!"


def record(name: BusinessName) -> dict[str, Any]:
    """The request record in Cellcast's shape; ``customerContact`` only when given,
    ``reason`` only when rejected. ``createdBy`` names the account, as ``user`` does."""
    body: dict[str, Any] = {
        "isDeleted": name.status == business_names.WITHDRAWN,
        "isDefault": False,
        "_id": name.id,
        "businessname": name.businessname,
    }
    if name.customer_contact is not None:
        body["customerContact"] = name.customer_contact
    body.update({
        "user": name.account_id,
        "requestedAt": iso_ms(name.requested_at),
        "status": name.status,
        "createdBy": name.account_id,
        "createdAt": iso_ms(name.created_at),
        "updatedAt": iso_ms(name.updated_at),
        "__v": 0,
    })
    if name.status == business_names.REJECTED:
        body["reason"] = name.reason
    return body


def with_register(name: BusinessName) -> dict[str, Any]:
    """The record, with its fields for ACMA's SMS Sender ID Register (everywhere but the
    documented ``business/add`` answer, which stays as Cellcast documents it)."""
    return {
        **record(name),
        "abn": name.abn,
        "entityName": name.entity_name,
        "useCase": name.use_case,
        "useCaseReference": name.use_case_reference,
        "acmaStatus": name.acma_status,
        "acmaReference": name.acma_reference,
        "acmaUpdatedAt": iso_ms(name.acma_updated_at),
        "acmaAuthorisedProviders": list(name.acma_providers),  # []: every provider
    }


class AddBusinessName(RequestBody):
    businessname: str | None = Field(None, min_length=3, max_length=11)
    customerContact: NumberInput | None = None
    abn: Any = Field(None, description=(
        "the registrant's ABN for ACMA's SMS Sender ID Register: 11 digits, spaces allowed, valid by the "
        "ATO's check digits (a string; an integer is accepted)"))
    entityName: str | None = Field(None, max_length=200, description="the registrant entity")
    useCase: UseCase | None = None
    useCaseReference: str | None = Field(None, max_length=253, description=(
        "the registration, ACN, trade mark number, or a .au domain"))

    example = {"businessname": "Acme", "customerContact": "0491 570 156", "abn": "51 824 753 556",
               "entityName": "Acme Pty Ltd", "useCase": "domain", "useCaseReference": "acme.com.au"}


@router.post("/add", openapi_extra=AddBusinessName.openapi())
async def add(request: Request) -> Response:
    def work(who: Caller, body: dict[str, Any]) -> Response:
        name = business_names.request(
            context(request), who.account, businessname=body.get("businessname"),
            customer_contact=body.get("customerContact"), abn=body.get("abn"),
            entity_name=body.get("entityName"), use_case=body.get("useCase"),
            use_case_reference=body.get("useCaseReference"), actor=actor(request, who),
        )
        return envelope.ok(ADDED, record(name))  # as documented: nothing added

    return await posted(request, work)


# -- management (ours, beyond the Cellcast contract) ---------------------------------------


@router.get("/list")
async def list_names(
    request: Request,
    who: Caller = Depends(caller),
    status: Annotated[
        str | None, Query(description="REQUESTED, APPROVED, REJECTED or WITHDRAWN (any case)")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    """The account's business names, oldest first."""
    items, total = await run_in_threadpool(
        business_names.list_, context(request), account_id=who.account.id,
        status=status, limit=limit, offset=offset,
    )
    return envelope.ok("Business names", page([with_register(i) for i in items], total, limit, offset))


@router.get("/{name_id:objectid}")
async def get_name(name_id: str, request: Request, who: Caller = Depends(caller)) -> Response:
    name = await run_in_threadpool(business_names.get, context(request), name_id, who.account.id)
    return envelope.ok("Business name", with_register(name))


@router.delete("/{name_id:objectid}")
async def withdraw_name(name_id: str, request: Request, who: Caller = Depends(caller)) -> Response:
    """Withdraw a request still awaiting a decision. The record stays readable."""
    name = await run_in_threadpool(
        business_names.withdraw, context(request), who.account, name_id, actor=actor(request, who)
    )
    return envelope.ok("Business name request withdrawn", with_register(name))
