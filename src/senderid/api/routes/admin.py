"""The operators' API under ``/admin/v1`` (ours, beyond the Cellcast contract).

Mounted only when ``SENDERID_ADMIN_TOKEN`` is set; without it every path here is
an unknown route (404). Every request carries ``Authorization: Bearer <admin
token>``, compared in constant time; a missing or wrong token is the contract's
401 body. Answers are in the envelope. Each endpoint calls the same domain
function as the CLI; the audit log names the actor ``admin-api`` and the
caller's IP.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from senderid import edge
from senderid.api import envelope
from senderid.api.auth import AuthError, bearer_key
from senderid.api.body import NULLABLE, RequestBody, json_object
from senderid.api.deps import context
from senderid.api.paging import Limit, Offset, page
from senderid.api.routes.business import with_register
from senderid.api.routes.custom_numbers import registration_body
from senderid.clock import iso_ms
from senderid.domain import accounts, acma, audit, business_names, credits, custom_numbers, registrant
from senderid.domain.business_names import BusinessName
from senderid.domain.context import Context
from senderid.domain.types import Account, AcmaStatus, Actor, ApiKey
from senderid.errors import InvalidRequest, NotFound

ACTOR_NAME = "admin-api"


async def require_admin(request: Request) -> None:
    token = request.app.state.settings.admin_token
    if not token:  # not mounted without a token; refuse anyway if it ever is
        raise NotFound(f"No such endpoint: {request.method} {request.url.path}")
    given = bearer_key(request)  # AuthError "Authorization token is required"
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise AuthError(envelope.TOKEN_EXPIRED)


router = APIRouter(prefix="/admin/v1", tags=["admin"], dependencies=[Depends(require_admin)])


def _actor(request: Request) -> Actor:
    return edge.actor(request, ACTOR_NAME)


# -- shapes ----------------------------------------------------------------------------------


def account_body(account: Account, defaults: registrant.Defaults | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": account.id,
        "name": account.name,
        "otp_required": account.otp_required,
        "reverify_after_days": account.reverify_after_days,
        "created_at": iso_ms(account.created_at),
    }
    if defaults is not None:  # one account's answers: its default registrant for ACMA's register
        body.update({"abn": defaults.abn, "entity_name": defaults.entity_name})
    return body


def key_body(key: ApiKey, now: datetime) -> dict[str, Any]:
    status = key.status(now)
    return {
        "id": key.id,
        "account_id": key.account_id,
        "prefix": key.prefix,
        "status": status,
        "created_at": iso_ms(key.created_at),
        "expires_at": iso_ms(key.expires_at),
        "revoked_at": iso_ms(key.revoked_at),
    }


def business_body(name: BusinessName) -> dict[str, Any]:
    return {**with_register(name), "decidedBy": name.decided_by, "decidedAt": iso_ms(name.decided_at),
            "acmaUpdatedBy": name.acma_updated_by, "missingForRegister": name.missing_for_register()}


def _bool(body: dict[str, Any], field: str, default: bool | None = None) -> bool | None:
    value = body.get(field, default)
    if value is not None and not isinstance(value, bool):
        raise InvalidRequest(f"{field} must be true or false")
    return value


# -- request bodies ----------------------------------------------------------------------------


class CreateAccount(RequestBody):
    name: str | None = Field(None, min_length=1, max_length=200)
    otp_required: bool = True

    example = {"name": "Acme Pty Ltd", "otp_required": True}


class UpdateAccount(RequestBody):
    otp_required: bool | None = None
    reason: str | None = Field(None, max_length=500, description="required with otp_required false: kept in "
                               "the audit record")
    reverify_after_days: Annotated[float | None, NULLABLE] = Field(
        None, ge=0, description="the account's own SENDERID_REVERIFY_AFTER_DAYS (0: never); null: the setting's")
    abn: Annotated[str | None, NULLABLE] = Field(None, description="default ABN of business-name requests")
    entity_name: Annotated[str | None, NULLABLE] = Field(None, max_length=200)

    example = {"otp_required": False, "reason": "numbers checked against the carrier's records",
               "abn": "51 824 753 556", "entity_name": "Acme Pty Ltd"}


class SetCredits(RequestBody):
    credits: Annotated[float, Field(ge=0, le=1e9)] | None = Field(
        description="a prepaid balance in credits; null: unlimited")

    example = {"credits": 500}


class CreateKey(RequestBody):
    expires_in_days: int | None = Field(None, ge=1)

    example = {"expires_in_days": 90}


class SetAcmaStatus(RequestBody):
    status: AcmaStatus
    reference: str | None = Field(None, max_length=100)
    authorisedProviders: list[str] | None = Field(None, description=(
        "the providers (as the routes file names them) that have authorised the name on the register; "
        "[] every provider; omitted: kept as they are"))

    example = {"status": "registered", "reference": "APP-12345", "authorisedProviders": ["primary"]}


class RejectBusinessName(RequestBody):
    reason: str | None = Field(None, min_length=1, max_length=500)

    example = {"reason": "The name belongs to a bank"}


# -- accounts ----------------------------------------------------------------------------------


@router.post("/accounts", openapi_extra=CreateAccount.openapi())
async def create_account(request: Request) -> Response:
    body = await json_object(request)
    name = body.get("name")
    if not isinstance(name, str):
        raise InvalidRequest("name is required: a string of 1 to 200 characters")
    otp_required = _bool(body, "otp_required", True)
    account = await run_in_threadpool(
        accounts.create_account, context(request), name, otp_required=bool(otp_required),
        actor=_actor(request),
    )
    return envelope.ok("Account created", account_body(account))


@router.get("/accounts")
async def list_accounts(request: Request, limit: Limit = 50, offset: Offset = 0) -> Response:
    items, total = await run_in_threadpool(
        accounts.list_accounts, context(request), limit=limit, offset=offset
    )
    return envelope.ok("Accounts", page([account_body(a) for a in items], total, limit, offset))


def _account_with_defaults(ctx: Context, account_id: str) -> dict[str, Any]:
    return account_body(accounts.get_account(ctx, account_id), registrant.get_defaults(ctx, account_id))


@router.get("/accounts/{account_id:objectid}")
async def get_account(account_id: str, request: Request) -> Response:
    body = await run_in_threadpool(_account_with_defaults, context(request), account_id)
    return envelope.ok("Account", body)


def _update_account(ctx: Context, account_id: str, body: dict[str, Any], actor: Actor) -> dict[str, Any]:
    otp_required = _bool(body, "otp_required")
    changes = {f: body[f] for f in ("abn", "entity_name") if f in body}
    days = body.get("reverify_after_days")
    if otp_required is None and not changes and "reverify_after_days" not in body:
        raise InvalidRequest("Nothing to change: give otp_required (true or false), reverify_after_days, abn or "
                             "entity_name")
    if days is not None and (isinstance(days, bool) or not isinstance(days, (int, float))):
        raise InvalidRequest("reverify_after_days must be a number of days (0: never), or null for the setting's")
    if otp_required is False and not (isinstance(body.get("reason"), str) and body["reason"].strip()):
        raise InvalidRequest("otp_required false needs a reason (kept in the audit record)")
    for field, value in changes.items():  # checked before anything is written
        if value is not None and not isinstance(value, str):
            raise InvalidRequest(f"{field} must be a string, or null to clear it")
    if changes:
        registrant.clean_abn(changes.get("abn"))
        registrant.clean_entity_name(changes.get("entity_name"), "entity_name")
    if "reverify_after_days" in body:
        accounts.set_reverify_after_days(ctx, account_id, None if days is None else float(days), actor=actor)
    if otp_required is not None:
        accounts.set_otp_required(ctx, account_id, otp_required, reason=body.get("reason"), actor=actor)
    if changes:
        registrant.set_defaults(ctx, account_id, **changes, actor=actor)
    return _account_with_defaults(ctx, account_id)


@router.patch("/accounts/{account_id:objectid}", openapi_extra=UpdateAccount.openapi())
async def update_account(account_id: str, request: Request) -> Response:
    """``otp_required``; ``abn`` and ``entity_name``: the registrant a business-name request
    names when it names none (null or "" clears)."""
    body = await json_object(request)
    updated = await run_in_threadpool(_update_account, context(request), account_id, body, _actor(request))
    return envelope.ok("Account updated", updated)


@router.get("/accounts/{account_id:objectid}/credits")
async def get_credits(account_id: str, request: Request) -> Response:
    """The account's prepaid balance in credits; ``null``: unlimited."""
    balance = await run_in_threadpool(credits.balance, context(request), account_id)
    return envelope.ok("Credits", {"account_id": account_id, "credits": balance})


@router.put("/accounts/{account_id:objectid}/credits", openapi_extra=SetCredits.openapi())
async def set_credits(account_id: str, request: Request) -> Response:
    """``{"credits": 500}`` sets a prepaid balance; ``{"credits": null}`` makes the account unlimited."""
    body = await json_object(request)
    if "credits" not in body:
        raise InvalidRequest("Give credits: a number of credits, or null for unlimited")
    value = body["credits"]
    if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
        raise InvalidRequest("credits must be a number of credits, or null for unlimited")
    balance = await run_in_threadpool(
        lambda: credits.set_balance(context(request), account_id, value, actor=_actor(request)))
    return envelope.ok("Credits set", {"account_id": account_id, "credits": balance})


# -- keys ----------------------------------------------------------------------------------------


@router.post("/accounts/{account_id:objectid}/keys", openapi_extra=CreateKey.openapi())
async def create_key(account_id: str, request: Request) -> Response:
    """A new key; it is in ``data.key`` this once and never again."""
    body = await json_object(request)
    days = body.get("expires_in_days")
    if days is not None and (not isinstance(days, int) or isinstance(days, bool)):
        raise InvalidRequest("expires_in_days must be a whole number of days")
    ctx = context(request)
    key, secret = await run_in_threadpool(
        accounts.create_key, ctx, account_id, expires_in_days=days, actor=_actor(request)
    )
    return envelope.ok(
        "Key created; it is shown only this once", {**key_body(key, ctx.clock.now()), "key": secret}
    )


def _keys(ctx: Context, account_id: str) -> list[ApiKey]:
    accounts.get_account(ctx, account_id)  # NotFound for an unknown account
    return accounts.list_keys(ctx, account_id)


@router.get("/accounts/{account_id:objectid}/keys")
async def list_keys(account_id: str, request: Request) -> Response:
    ctx = context(request)
    keys = await run_in_threadpool(_keys, ctx, account_id)
    now = ctx.clock.now()
    return envelope.ok("Keys", {"items": [key_body(k, now) for k in keys], "total": len(keys)})


@router.delete("/keys/{key_id:objectid}")
async def revoke_key(key_id: str, request: Request) -> Response:
    """Revoke a key by its id (never by the key itself: it would land in access logs)."""
    ctx = context(request)
    key = await run_in_threadpool(accounts.revoke_key, ctx, key_id, actor=_actor(request))
    return envelope.ok("Key revoked", key_body(key, ctx.clock.now()))


# -- business names --------------------------------------------------------------------------------


@router.get("/business-names")
async def list_business_names(
    request: Request,
    status: Annotated[str | None, Query(description="REQUESTED, APPROVED, REJECTED or WITHDRAWN")] = None,
    account_id: Annotated[str | None, Query(description="Only this account's names.")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    """Every account's business names, oldest first: ``?status=REQUESTED`` is the review queue."""
    items, total = await run_in_threadpool(
        business_names.list_, context(request), account_id=account_id or None, status=status,
        limit=limit, offset=offset,
    )
    return envelope.ok("Business names", page([business_body(n) for n in items], total, limit, offset))


@router.get("/business-names/export.csv")
async def export_business_names(
    request: Request,
    status: Annotated[
        str | None, Query(description="Only names in this status (default: REQUESTED and APPROVED)")
    ] = None,
) -> Response:
    """The CSV for ACMA's SMS Sender ID Register: one row per sender ID."""
    rows = await run_in_threadpool(acma.export_rows, context(request), status=status)
    return PlainTextResponse(acma.to_csv(rows), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="acma-sender-ids.csv"'})


@router.get("/business-names/{name_id:objectid}")
async def get_business_name(name_id: str, request: Request) -> Response:
    name = await run_in_threadpool(business_names.get, context(request), name_id)
    return envelope.ok("Business name", business_body(name))


def _acma_history(ctx: Context, name_id: str) -> dict[str, Any]:
    name = business_names.get(ctx, name_id)  # NotFound for an unknown id
    items = [{**h, "at": iso_ms(h["at"])} for h in acma.history(ctx, name_id)]
    return {"id": name.id, "businessname": name.businessname, "acmaStatus": name.acma_status,
            "acmaReference": name.acma_reference, "acmaAuthorisedProviders": list(name.acma_providers),
            "items": items}


@router.get("/business-names/{name_id:objectid}/acma")
async def acma_history(name_id: str, request: Request) -> Response:
    """The name's status on ACMA's register and every change of it (``at``, ``by``,
    ``acmaStatus``, ``acmaReference``), newest first."""
    body = await run_in_threadpool(_acma_history, context(request), name_id)
    return envelope.ok("ACMA register history", body)


@router.post("/business-names/{name_id:objectid}/acma", openapi_extra=SetAcmaStatus.openapi())
async def set_acma_status(name_id: str, request: Request) -> Response:
    """Record the name's status on ACMA's register: ``{"status": "registered", "reference": "...",
    "authorisedProviders": ["primary"]}`` (the providers that have authorised it; ``[]``: every
    provider; omitted: kept)."""
    body = await json_object(request)
    name = await run_in_threadpool(
        acma.set_status, context(request), name_id, status=body.get("status"),
        reference=body.get("reference"), providers=body.get("authorisedProviders"), actor=_actor(request),
    )
    return envelope.ok("ACMA register status recorded", business_body(name))


@router.post("/business-names/{name_id:objectid}/approve")
async def approve_business_name(name_id: str, request: Request) -> Response:
    name = await run_in_threadpool(
        business_names.approve, context(request), name_id, actor=_actor(request)
    )
    return envelope.ok("Business name approved", business_body(name))


@router.post("/business-names/{name_id:objectid}/reject", openapi_extra=RejectBusinessName.openapi())
async def reject_business_name(name_id: str, request: Request) -> Response:
    body = await json_object(request)
    name = await run_in_threadpool(
        business_names.reject, context(request), name_id, reason=body.get("reason"),
        actor=_actor(request),
    )
    return envelope.ok("Business name rejected", business_body(name))


# -- custom numbers --------------------------------------------------------------------------------


@router.get("/custom-numbers")
async def search_custom_numbers(
    request: Request,
    number: Annotated[str | None, Query(description="Any accepted form, e.g. 0491 570 156.")] = None,
    status: Annotated[
        str | None, Query(description="pending, expired, active, cancelled or deleted")
    ] = None,
    account_id: Annotated[str | None, Query(description="Only this account's registrations.")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    """Registrations across accounts, newest first (read-only)."""
    items, total = await run_in_threadpool(
        custom_numbers.search, context(request), number=number, status=status,
        account_id=account_id or None, limit=limit, offset=offset,
    )
    bodies = [{**registration_body(i), "user": i.account_id} for i in items]
    return envelope.ok("Custom numbers", page(bodies, total, limit, offset))


# -- audit ---------------------------------------------------------------------------------------------


def _when(value: str | None, field: str) -> datetime | None:
    if value is None or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidRequest(f"{field} must be an ISO-8601 time, e.g. 2026-01-01T00:00:00Z") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _audit_events(ctx: Context, **filters: Any) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        return audit.events(conn, **filters)


@router.get("/audit")
async def audit_events(
    request: Request,
    account_id: Annotated[str | None, Query(description="Only this account's events.")] = None,
    action: Annotated[str | None, Query(description="e.g. business_name.approved")] = None,
    since: Annotated[str | None, Query(description="ISO-8601; events at or after.")] = None,
    until: Annotated[str | None, Query(description="ISO-8601; events before.")] = None,
    limit: Limit = 100,
) -> Response:
    """Audit events, newest first."""
    rows = await run_in_threadpool(
        _audit_events, context(request), account_id=account_id or None, action=action or None,
        since=_when(since, "since"), until=_when(until, "until"), limit=limit,
    )
    items = [
        {
            "id": row["id"],
            "at": iso_ms(row["at"]),
            "actor": row["actor"],
            "ip": row["ip"],
            "account_id": row["account_id"],
            "action": row["action"],
            "subject": row["subject"],
            "details": row["details"],
        }
        for row in rows
    ]
    return envelope.ok("Audit events", {"items": items, "limit": limit})
