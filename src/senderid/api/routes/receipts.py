"""Delivery receipts pushed by providers (served only for the provider in use).

``POST /providers/twilio/status``: Twilio's status callback, form-encoded and
signed with ``X-Twilio-Signature`` (HMAC-SHA1 under the auth token, over the
callback URL as configured in ``SENDERID_TWILIO_STATUS_CALLBACK_URL``).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from senderid.api import envelope
from senderid.api.deps import context
from senderid.delivery.providers import receipt_recorder
from senderid.delivery.providers.twilio import parse_status_callback, verify_signature

router = APIRouter(prefix="/providers", tags=["delivery receipts"], include_in_schema=False)


@router.post("/twilio/status")
async def twilio_status(request: Request) -> Response:
    ctx = context(request)
    params = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    url = ctx.settings.twilio_status_callback_url or str(request.url)
    signature = request.headers.get("x-twilio-signature", "")
    if not verify_signature(url, params, signature, ctx.settings.twilio_auth_token or ""):
        return envelope.failure("The X-Twilio-Signature header does not match", 403)
    try:
        message_sid, status = parse_status_callback(params)
    except ValueError as exc:
        return envelope.failure(f"Not a message status callback: {exc}", 400)
    record = receipt_recorder(ctx.db, ctx.clock, "twilio")
    matched = await run_in_threadpool(record, message_sid, status)
    return envelope.ok("Receipt recorded" if matched else "No message with that id", {"matched": matched})
