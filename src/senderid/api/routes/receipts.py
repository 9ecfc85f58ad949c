"""What providers push to this server: ``POST /providers/<name>/status`` (delivery
receipts) and ``POST /providers/<name>/inbound`` (replies from phones), for each provider
whose kind takes them (:data:`senderid.provider_names.CALLBACKS`: ``twilio``, ``cellcast``).

``<name>`` is a provider's name: with ``SENDERID_ROUTES_FILE``, a provider the file names
(``[providers.<name>]``), checked with that provider's own settings from the file; without
it, the single provider, named after its kind (``SENDERID_SMS_PROVIDER``), so the paths
are ``/providers/twilio/...`` and ``/providers/cellcast/...`` as they always were. With a
file, ``/providers/twilio/status`` is the provider the file names ``twilio`` (whatever its
kind), or no path at all. Any other name, or a kind without that callback (``smpp``,
``webhook``, ``devinbox``), is a 404 like any unknown path. Receipts and replies are
recorded under the provider's name: the name the worker recorded the message under.

Twilio (``kind = "twilio"``): ``status`` is Twilio's status callback, form-encoded and
signed with ``X-Twilio-Signature`` (HMAC-SHA1 under the provider's auth token, over the
callback URL as configured in its ``status_callback_url``, else the URL the request
arrived at); its ``RawDlrDoneDate``, when there is one, is the delivery's time.
``inbound`` is Twilio's incoming-message webhook (a phone's reply, form fields ``From``,
``To``, ``Body``), signed the same way over its ``inbound_url``; answered with an empty
TwiML ``<Response/>``.

Cellcast (``kind = "cellcast"``): ``inbound`` is a reply relayed as JSON
``{"from", "to", "body"}``, signed with ``X-Cellcast-Signature: sha256=<hex HMAC-SHA256 of
the body>`` under the provider's ``inbound_secret``; ``status`` is Cellcast's status
webhook relayed as it comes, JSON ``{"_id", "status", "type": "send", ...}``, signed the
same way under the same secret; ``_id`` is the ``MessageId`` the provider stored.

A reply that is a STOP word puts its sender on the opt-out list of the account whose SMS
it last received from that number (:mod:`senderid.domain.optouts`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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
from senderid.domain.context import Context
from senderid.provider_names import CALLBACKS
from senderid.settings import Settings

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@dataclass(frozen=True)
class Callee:
    """A provider that takes callbacks: its name, its kind and its own settings."""

    name: str
    kind: str
    settings: Settings


def callees(ctx: Context) -> dict[str, Callee]:
    """The providers of the deployment whose kind takes callbacks, by name (built once, when
    the app is: a named provider's settings are validated from the file's then)."""
    routes = ctx.routes
    return {
        name: Callee(name, spec.kind, routes.settings_of(name, ctx.settings))
        for name, spec in routes.providers.items() if spec.kind in CALLBACKS
    }


def router_for(ctx: Context) -> APIRouter | None:
    """The callback paths of the deployment's providers: ``POST /providers/<name>/status`` and
    ``/inbound`` for each provider whose kind takes them, its name written in the path (so
    the metrics' route label names the provider, and any other path is an unknown one, a 404
    like any other); None when no provider takes callbacks."""
    found = callees(ctx)
    if not found:
        return None
    router = APIRouter(prefix="/providers", tags=["delivery receipts"], include_in_schema=False)
    for callee in found.values():
        status, inbound = _STATUS[callee.kind], _INBOUND[callee.kind]
        router.add_api_route(f"/{callee.name}/status", _bound(status, callee), methods=["POST"],
                             name=f"{callee.name}_status")
        router.add_api_route(f"/{callee.name}/inbound", _bound(inbound, callee), methods=["POST"],
                             name=f"{callee.name}_inbound")
    return router


Handler = Callable[[Request, Callee], Awaitable[Response]]


def _bound(handler: Handler, callee: Callee) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await handler(request, callee)

    return endpoint


# -- twilio ---------------------------------------------------------------------------------


async def _twilio_params(request: Request, callee: Callee, url: str | None) -> dict[str, str] | None:
    """The form's fields when ``X-Twilio-Signature`` matches, else None."""
    params = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    signature = request.headers.get("x-twilio-signature", "")
    if not verify_signature(url or str(request.url), params, signature, callee.settings.twilio_auth_token or ""):
        return None
    return params


async def _twilio_status(request: Request, callee: Callee) -> Response:
    ctx = context(request)
    params = await _twilio_params(request, callee, callee.settings.twilio_status_callback_url)
    if params is None:
        return envelope.failure("The X-Twilio-Signature header does not match", 403)
    try:
        message_sid, status = parse_status_callback(params)
    except ValueError as exc:
        return envelope.failure(f"Not a message status callback: {exc}", 400)
    record = receipt_recorder(ctx.db, ctx.clock, callee.name)
    matched = await run_in_threadpool(record, message_sid, status, status_callback_time(params))
    return envelope.ok("Receipt recorded" if matched else "No message with that id", {"matched": matched})


async def _twilio_inbound(request: Request, callee: Callee) -> Response:
    ctx = context(request)
    params = await _twilio_params(request, callee, callee.settings.twilio_inbound_url)
    if params is None:
        return envelope.failure("The X-Twilio-Signature header does not match", 403)
    if not params.get("From"):
        return envelope.failure("Not an incoming message: From is missing", 400)
    record = inbound_recorder(ctx, callee.name, kind=callee.kind, settings=callee.settings)
    await run_in_threadpool(record, params["From"], params.get("To", ""), params.get("Body", ""))
    return Response(EMPTY_TWIML, 200, media_type="text/xml")


# -- cellcast -------------------------------------------------------------------------------


def cellcast_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def _cellcast_json(request: Request, callee: Callee) -> tuple[bool, object]:
    """(signed, the body as JSON or None): ``X-Cellcast-Signature`` checked first."""
    secret = callee.settings.cellcast_inbound_secret
    raw = await request.body()
    given = request.headers.get("x-cellcast-signature", "")
    if not secret or not hmac.compare_digest(cellcast_signature(secret, raw), given.strip()):
        return False, None
    try:
        return True, orjson.loads(raw)
    except orjson.JSONDecodeError:
        return True, None


async def _cellcast_status(request: Request, callee: Callee) -> Response:
    ctx = context(request)
    signed, report = await _cellcast_json(request, callee)
    if not signed:
        return envelope.failure("The X-Cellcast-Signature header does not match", 403)
    try:
        message_id, status = parse_status_webhook(report)
    except ValueError as exc:
        return envelope.failure(f'Not a message status: {exc}; send {{"_id", "status", "type": "send"}}', 400)
    record = receipt_recorder(ctx.db, ctx.clock, callee.name)
    matched = await run_in_threadpool(record, message_id, status, None)  # Cellcast's report has no time
    return envelope.ok("Receipt recorded" if matched else "No message with that id", {"matched": matched})


async def _cellcast_inbound(request: Request, callee: Callee) -> Response:
    ctx = context(request)
    signed, reply = await _cellcast_json(request, callee)
    if not signed:
        return envelope.failure("The X-Cellcast-Signature header does not match", 403)
    if not isinstance(reply, dict) or not all(isinstance(reply.get(k), str) for k in ("from", "body")):
        return envelope.failure('Not an inbound message: send {"from", "to", "body"} as JSON', 400)
    given_to = reply.get("to")
    to = given_to if isinstance(given_to, str) else ""
    record = inbound_recorder(ctx, callee.name, kind=callee.kind, settings=callee.settings)
    reply_kept = await run_in_threadpool(record, reply["from"], to, reply["body"])
    return envelope.ok("Reply received", {"optedOut": reply_kept is not None and reply_kept.opted_out})


_STATUS: dict[str, Handler] = {"twilio": _twilio_status, "cellcast": _cellcast_status}
_INBOUND: dict[str, Handler] = {"twilio": _twilio_inbound, "cellcast": _cellcast_inbound}
