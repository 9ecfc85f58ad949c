"""What providers push to this server (served only for the provider in use).

``POST /providers/twilio/status``: Twilio's status callback, form-encoded and
signed with ``X-Twilio-Signature`` (HMAC-SHA1 under the auth token, over the
callback URL as configured in ``SENDERID_TWILIO_STATUS_CALLBACK_URL``); its
``RawDlrDoneDate``, when there is one, is the delivery's time.

``POST /providers/twilio/inbound``: Twilio's incoming-message webhook (a phone's reply,
form fields ``From``, ``To``, ``Body``), signed the same way over
``SENDERID_TWILIO_INBOUND_URL``; answered with an empty TwiML ``<Response/>``.

``POST /providers/cellcast/inbound``: a reply relayed as JSON ``{"from", "to", "body"}``,
signed with ``X-Cellcast-Signature: sha256=<hex HMAC-SHA256 of the body>`` under
``SENDERID_CELLCAST_INBOUND_SECRET``.

``POST /providers/cellcast/status``: Cellcast's status webhook relayed as it comes,
JSON ``{"_id", "status", "type": "send", ...}``, signed the same way under the same
secret; ``_id`` is the ``MessageId`` the cellcast provider stored.

A reply that is a STOP word puts its sender on the opt-out list of the account whose SMS
it last received from that number (:mod:`senderid.domain.optouts`).
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from senderid.api import envelope
from senderid.api.deps import context
from senderid.delivery.providers import inbound_recorder, receipt_recorder
from senderid.delivery.providers.cellcast import parse_status_webhook
from senderid.delivery.providers.twilio import parse_status_callback, status_callback_time, verify_signature

router = APIRouter(prefix="/providers", tags=["delivery receipts"], include_in_schema=False)
cellcast_router = APIRouter(prefix="/providers", tags=["inbound"], include_in_schema=False)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


async def _twilio_params(request: Request, url: str | None) -> dict[str, str] | None:
    """The form's fields when ``X-Twilio-Signature`` matches, else None."""
    ctx = context(request)
    params = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    signature = request.headers.get("x-twilio-signature", "")
    if not verify_signature(url or str(request.url), params, signature, ctx.settings.twilio_auth_token or ""):
        return None
    return params


@router.post("/twilio/status")
async def twilio_status(request: Request) -> Response:
    ctx = context(request)
    params = await _twilio_params(request, ctx.settings.twilio_status_callback_url)
    if params is None:
        return envelope.failure("The X-Twilio-Signature header does not match", 403)
    try:
        message_sid, status = parse_status_callback(params)
    except ValueError as exc:
        return envelope.failure(f"Not a message status callback: {exc}", 400)
    record = receipt_recorder(ctx.db, ctx.clock, "twilio")
    matched = await run_in_threadpool(record, message_sid, status, status_callback_time(params))
    return envelope.ok("Receipt recorded" if matched else "No message with that id", {"matched": matched})


@router.post("/twilio/inbound")
async def twilio_inbound(request: Request) -> Response:
    ctx = context(request)
    params = await _twilio_params(request, ctx.settings.twilio_inbound_url)
    if params is None:
        return envelope.failure("The X-Twilio-Signature header does not match", 403)
    if not params.get("From"):
        return envelope.failure("Not an incoming message: From is missing", 400)
    record = inbound_recorder(ctx, "twilio")
    await run_in_threadpool(record, params["From"], params.get("To", ""), params.get("Body", ""))
    return Response(EMPTY_TWIML, 200, media_type="text/xml")


def cellcast_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def _cellcast_json(request: Request) -> tuple[bool, object]:
    """(signed, the body as JSON or None): ``X-Cellcast-Signature`` checked first."""
    secret = context(request).settings.cellcast_inbound_secret
    raw = await request.body()
    given = request.headers.get("x-cellcast-signature", "")
    if not secret or not hmac.compare_digest(cellcast_signature(secret, raw), given.strip()):
        return False, None
    try:
        return True, orjson.loads(raw)
    except orjson.JSONDecodeError:
        return True, None


@cellcast_router.post("/cellcast/status")
async def cellcast_status(request: Request) -> Response:
    ctx = context(request)
    signed, report = await _cellcast_json(request)
    if not signed:
        return envelope.failure("The X-Cellcast-Signature header does not match", 403)
    try:
        message_id, status = parse_status_webhook(report)
    except ValueError as exc:
        return envelope.failure(f'Not a message status: {exc}; send {{"_id", "status", "type": "send"}}', 400)
    record = receipt_recorder(ctx.db, ctx.clock, "cellcast")
    matched = await run_in_threadpool(record, message_id, status, None)  # Cellcast's report has no time
    return envelope.ok("Receipt recorded" if matched else "No message with that id", {"matched": matched})


@cellcast_router.post("/cellcast/inbound")
async def cellcast_inbound(request: Request) -> Response:
    ctx = context(request)
    signed, reply = await _cellcast_json(request)
    if not signed:
        return envelope.failure("The X-Cellcast-Signature header does not match", 403)
    if not isinstance(reply, dict) or not all(isinstance(reply.get(k), str) for k in ("from", "body")):
        return envelope.failure('Not an inbound message: send {"from", "to", "body"} as JSON', 400)
    given_to = reply.get("to")
    to = given_to if isinstance(given_to, str) else ""
    record = inbound_recorder(ctx, "cellcast")
    reply_kept = await run_in_threadpool(record, reply["from"], to, reply["body"])
    return envelope.ok("Reply received", {"optedOut": reply_kept is not None and reply_kept.opted_out})
