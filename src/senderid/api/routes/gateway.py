"""POST /api/v1/gateway (send SMS) and GET /api/v1/senderId/check (SPEC §6)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from senderid import ids
from senderid.api import envelope, from_memory
from senderid.api.auth import actor
from senderid.api.body import NumberInput, RequestBody
from senderid.api.deps import as_caller, context, posted
from senderid.api.paging import Limit, Offset, page
from senderid.clock import iso_ms
from senderid.domain import acma, credits, messages, scheduled
from senderid.domain.context import Context
from senderid.domain.outbox import views
from senderid.domain.senders import Miss, Sender
from senderid.domain.types import Caller
from senderid.errors import NotFound, SenderIdError
from senderid.numbers import national_significant

router = APIRouter(prefix="/api/v1", tags=["sending"])  # what gateways call per message
# Reading and cancelling messages: included after the per-registration routes, since
# routes are matched in the order they are included (see api/app.py).
messages_router = APIRouter(prefix="/api/v1", tags=["sending"])

QUEUED = "Message added to queue."
PROCESSING = "Request is being processed"
REGISTERED = "success register all valid contacts to queue"


class ShortLink(BaseModel):
    longUrl: str = Field(max_length=2000, description="http(s); https:// is added when there is no scheme")
    shortUrl: str = Field(pattern="^[A-Za-z0-9]{3,32}$", description=(
        "gosite.au/<shortUrl> in the message becomes a short link under SENDERID_SHORT_LINK_BASE "
        "(400 when unset)"))


class SendSms(RequestBody):
    message: str = Field(description=(
        "The text. Custom fields such as {{[First Name]}} are refused (400): senderid keeps no contact book."))
    contacts: list[NumberInput] = Field(min_length=1, max_length=1000, description=(
        "Missing, empty or without one valid number: the documented 400 {code, message, stack} body. "
        "Numbers on the account's opt-out list are not sent and come back in unsubscribeContacts."))
    sender: str | None = Field(None, description=(
        "empty or #SharedNum# (any case), an active custom number, or an approved business name of the account"))
    countryCode: Literal[61, "61"] | None = Field(None, description="Only 61.")
    scheduleAt: str | None = Field(None, examples=["2024-08-14T14:58:00.981Z"], description=(
        "Send at this time: ISO-8601 UTC (2024-08-14T14:58:00.981Z) or Y-m-d H:i:s read as UTC; in the "
        "future, at most a year ahead. Not with delay."))
    delay: int | None = Field(None, ge=1, le=86_400_000, description=(
        "Send this many milliseconds from now. Not with scheduleAt."))
    replyStopToOptOut: bool | None = Field(None, description=(
        "Add the line 'Reply STOP to opt out' (counted in the parts)."))
    optout: bool | None = Field(None, description=(
        "Honour the opt-out list named by optoutId (the account's own list is always honoured)."))
    optoutId: str | None = Field(None, description=(
        "The account's opt-out list id (GET /api/v1/optouts, data.optoutId); any other value is a 400."))
    longUrl: list[ShortLink] | None = Field(None, max_length=10)
    customString: str | None = Field(None, pattern="^[A-Za-z0-9-]{1,64}$", description=(
        "Kept with each message; the credit usage report sums by it."))

    example = {"message": "Your order is ready: gosite.au/goo", "contacts": ["0491 570 157"],
               "sender": "+61491570156", "longUrl": [{"longUrl": "www.example.com/orders", "shortUrl": "goo"}],
               "customString": "shop", "replyStopToOptOut": True}


# senderId/check first: gateways call it per message, and routes are matched in order.
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
        short=True,
    )
    return _check_answer(ctx, sender, resolved)


@from_memory.answers(check)
def check_from_memory(request: Request) -> Response | None:
    """The route's answer when the key and the (account, sender) answer are in memory, else
    None (see api/from_memory.py). ``sender`` is read as FastAPI reads it for the route: the
    last value when it is given more than once."""
    who = from_memory.caller(request)
    if who is None:
        return None
    ctx = context(request)
    sender = request.query_params.get("sender", "")
    try:
        resolved = messages.check_sender_from_memory(ctx, who.account, sender)
    except SenderIdError:  # the route refuses it, in its own words
        return None
    if isinstance(resolved, Miss):
        return None
    return _check_answer(ctx, sender, resolved)


def _check_answer(ctx: Context, sender: str, resolved: Sender | None) -> Response:
    business = resolved is not None and resolved.kind == "business_name"
    registered = resolved.acma_registered if resolved is not None else None
    unregistered = business and acma.refuses(ctx, registered)
    allowed = resolved is not None and not unregistered
    data: dict[str, Any] = {
        "sender": sender,
        "allowed": allowed,
        "type": resolved.kind if resolved else None,
        "sendAs": resolved.value if resolved and allowed else None,
    }
    if business and acma.tells(ctx):  # SENDERID_UNREGISTERED_ALPHA=warn|refuse
        data["acmaRegistered"] = registered
    if unregistered:
        return envelope.ok(f"Sender not allowed: it is not registered on {acma.REGISTER}", data)
    return envelope.ok("Sender allowed" if allowed else "Sender not allowed", data)


@router.post("/gateway", openapi_extra=SendSms.openapi())
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
        fields={k: v for k, v in body.items() if k not in ("message", "contacts", "sender")},
    )
    data = {
        "queueResponse": [
            {"Contact": national_significant(q.number), "MessageId": q.message_id, "Result": QUEUED,
             "Number": q.given}
            for q in outcome.queued
        ],
        "message": REGISTERED,
        "invalidContacts": outcome.invalid,
        "unsubscribeContacts": outcome.unsubscribed,
        "totalValidContact": len(outcome.queued),
        "totalInvalidContact": len(outcome.invalid),
        "totalUnsubscribeContact": len(outcome.unsubscribed),
        "encoding": outcome.encoding,
        "messageParts": outcome.parts,
    }
    if outcome.scheduled_at is not None:
        data["scheduledAt"] = iso_ms(outcome.scheduled_at)
    return envelope.ok(PROCESSING, data)


def message_body(message: views.MessageView, *, events: bool) -> dict[str, Any]:
    """A gateway message as ``GET /api/v1/gateway/messages[/{MessageId}]`` shows it."""
    body: dict[str, Any] = {
        "MessageId": message.id, "to": message.to, "sender": message.sender, "status": message.status,
        "customString": message.custom_string, "parts": message.parts,
        "credits": credits.as_credits(message.credits) if message.credits is not None else None,
        "scheduledAt": iso_ms(message.scheduled_at), "queuedAt": iso_ms(message.queued_at),
        "sentAt": iso_ms(message.sent_at), "deliveredAt": iso_ms(message.delivered_at),
        "attempts": message.attempts, "error": message.error,
    }
    if events:
        body["events"] = [{"status": e.status, "at": iso_ms(e.at), "detail": e.describe()}
                          for e in message.events]
    return body


@messages_router.get("/gateway/messages")
async def list_messages(
    request: Request,
    limit: Limit = 50,
    offset: Offset = 0,
    status: Annotated[str | None, Query(description=(
        "scheduled, queued, sending, sent, delivered, failed, dead or cancelled"))] = None,
    to: Annotated[str | None, Query(max_length=40, description="The recipient, in any accepted form")] = None,
    customString: Annotated[str | None, Query(max_length=64, description="The customString it was sent with")
                            ] = None,
    since: Annotated[str | None, Query(max_length=40, description="Queued at or after (ISO-8601)")] = None,
    until: Annotated[str | None, Query(max_length=40, description="Queued at or before (ISO-8601)")] = None,
) -> Response:
    """The account's gateway messages, newest first, paged and filtered (no history: ask for
    one message for its events)."""
    ctx = context(request)

    def work(who: Caller) -> tuple[list[views.MessageView], int]:
        filters = views.Filters.parse(status=status, to=to, custom_string=customString, since=since, until=until)
        return views.page(ctx, who.account.id, filters, limit=limit, offset=offset)

    items, total = await as_caller(request, work)
    return envelope.ok("Success", page([message_body(m, events=False) for m in items], total, limit, offset))


@messages_router.get("/gateway/messages/{message_id}")
async def get_message(message_id: str, request: Request) -> Response:
    """One gateway message of the account: its status, fields and history (``events``)."""
    ctx = context(request)

    def work(who: Caller) -> views.MessageView:
        if not ids.is_id(message_id):
            raise NotFound(f"No message {message_id[:40]} in your account")
        return views.view(ctx, who.account.id, message_id)

    return envelope.ok("Success", message_body(await as_caller(request, work), events=True))


@messages_router.delete("/gateway/messages/{message_id}")
async def cancel(message_id: str, request: Request) -> Response:
    """Cancel a message not handed to the provider yet (a scheduled one, typically)."""
    ctx = context(request)

    def work(who: Caller) -> scheduled.Cancelled:
        if not ids.is_id(message_id):
            raise NotFound(f"No message {message_id[:40]} in your account")
        return scheduled.cancel(ctx, who.account.id, message_id, actor=actor(request, who))

    done = await as_caller(request, work)
    return envelope.ok("Message cancelled", {
        "MessageId": done.message_id, "status": done.status, "scheduledAt": iso_ms(done.due_at)})
