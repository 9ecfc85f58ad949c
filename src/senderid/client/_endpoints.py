"""One function per API endpoint: what to send, and how to read the answer.

Each function turns a method's keyword arguments into a :class:`Call` (HTTP method,
path, query, JSON body, idempotency key, result parser). ``Client`` and
``AsyncClient`` hand the call to their shared base, so request shapes live here once.

Adding an endpoint: a result class in ``_models.py``, a function here, and a one-line
method with the same signature on both ``Client`` and ``AsyncClient`` (a test checks
that the two clients' methods and signatures match).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from ._gateway_models import CancelledMessage, CreditUsage, InboundPage, Message, MessagePage, OptOut, OptOutPage
from ._models import (
    AddResult,
    BusinessNamePage,
    BusinessNameRequest,
    CustomNumber,
    CustomNumberPage,
    SenderCheck,
    SendResult,
    TokenInfo,
    VerifyResult,
)

R = TypeVar("R")

#: A per-call ``idempotency_key`` argument: ``True`` (the default) sends a fresh uuid4,
#: a string sends that key, ``False`` or ``None`` sends none (and disables retries).
IdempotencyKey = str | bool | None


@dataclass(frozen=True)
class Call(Generic[R]):
    """One logical API call; retries send the same request again."""

    method: str
    path: str
    parse: Callable[[dict[str, Any]], R]
    params: dict[str, str] | None = None
    body: dict[str, Any] | None = None
    idempotency_key: str | None = None


def _key(value: IdempotencyKey) -> str | None:
    if value is True:
        return str(uuid.uuid4())
    if value is False or value is None:
        return None
    if isinstance(value, str) and value.strip():
        return value
    raise ValueError("idempotency_key must be True, False, None or a non-empty string")


def _post(
    path: str,
    parse: Callable[[dict[str, Any]], R],
    body: dict[str, Any] | None,
    idempotency_key: IdempotencyKey,
) -> Call[R]:
    return Call("POST", path, parse, body=body, idempotency_key=_key(idempotency_key))


def verify_token() -> Call[TokenInfo]:
    return Call("GET", "/api/v1/user/token/verify", TokenInfo.from_envelope)


def add_custom_number(
    *, name: str, number: str, idempotency_key: IdempotencyKey
) -> Call[AddResult]:
    return _post(
        "/api/v1/customNumber/add",
        AddResult.from_envelope,
        {"name": name, "number": number},
        idempotency_key,
    )


def verify_custom_number(
    *, name: str, number: str, otp: str, idempotency_key: IdempotencyKey
) -> Call[VerifyResult]:
    return _post(
        "/api/v1/customNumber/verifyCustomNumber",
        VerifyResult.from_envelope,
        {"name": name, "number": number, "otp": otp},
        idempotency_key,
    )


def add_business_name(
    *, name: str, contact: str | None, idempotency_key: IdempotencyKey
) -> Call[BusinessNameRequest]:
    body: dict[str, Any] = {"businessname": name}
    if contact is not None:
        body["customerContact"] = contact
    return _post("/api/v1/business/add", BusinessNameRequest.from_envelope, body, idempotency_key)


def _schedule(value: str | datetime | None) -> str | None:
    """``scheduleAt`` on the wire: ISO-8601 UTC with milliseconds (a naive datetime is UTC)."""
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _links(value: Mapping[str, str] | Sequence[Mapping[str, str]] | None) -> list[dict[str, str]] | None:
    """``longUrl`` on the wire: ``{"goo": "www.example.com"}`` (shortUrl -> longUrl), or the
    documented list of ``{"longUrl", "shortUrl"}``."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return [{"longUrl": long_url, "shortUrl": short} for short, long_url in value.items()]
    return [dict(item) for item in value]


def send_sms(
    *,
    message: str,
    contacts: Sequence[str] | str,
    sender: str | None,
    idempotency_key: IdempotencyKey,
    schedule_at: str | datetime | None = None,
    delay: int | None = None,
    custom_string: str | None = None,
    reply_stop_to_opt_out: bool | None = None,
    optout: bool | None = None,
    optout_id: str | None = None,
    long_url: Mapping[str, str] | Sequence[Mapping[str, str]] | None = None,
) -> Call[SendResult]:
    body: dict[str, Any] = {
        "message": message,
        "contacts": [contacts] if isinstance(contacts, str) else list(contacts),
    }
    optional = {
        "sender": sender, "scheduleAt": _schedule(schedule_at), "delay": delay, "customString": custom_string,
        "replyStopToOptOut": reply_stop_to_opt_out, "optout": optout, "optoutId": optout_id,
        "longUrl": _links(long_url),
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return _post("/api/v1/gateway", SendResult.from_envelope, body, idempotency_key)


def cancel_message(*, id: str) -> Call[CancelledMessage]:
    return Call("DELETE", f"/api/v1/gateway/messages/{_segment(id)}", CancelledMessage.from_envelope)


def get_message(*, id: str) -> Call[Message]:
    return Call("GET", f"/api/v1/gateway/messages/{_segment(id)}", Message.from_envelope)


def _when(value: str | datetime | None) -> str | None:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return value


def list_messages(*, status: str | None, to: str | None, custom_string: str | None,
                  since: str | datetime | None, until: str | datetime | None, limit: int, offset: int
                  ) -> Call[MessagePage]:
    params = _page_params(status, limit, offset)
    for name, value in (("to", to), ("customString", custom_string), ("since", _when(since)),
                        ("until", _when(until))):
        if value is not None:
            params[name] = value
    return Call("GET", "/api/v1/gateway/messages", MessagePage.from_envelope, params=params)


def list_optouts(*, limit: int, offset: int) -> Call[OptOutPage]:
    return Call("GET", "/api/v1/optouts", OptOutPage.from_envelope, params=_page_params(None, limit, offset))


def add_optout(*, number: str, idempotency_key: IdempotencyKey) -> Call[OptOut]:
    return _post("/api/v1/optouts", OptOut.from_envelope, {"number": number}, idempotency_key)


def remove_optout(*, number: str) -> Call[OptOut]:
    return Call("DELETE", f"/api/v1/optouts/{_segment(number)}", OptOut.from_envelope)


def list_inbound(*, from_number: str | None, since: datetime | str | None, limit: int,
                 offset: int) -> Call[InboundPage]:
    params = _page_params(None, limit, offset)
    if from_number is not None:
        params["from"] = from_number
    if since is not None:
        params["since"] = since.isoformat() if isinstance(since, datetime) else since
    return Call("GET", "/api/v1/inbound", InboundPage.from_envelope, params=params)


def credit_usage(*, page: int, limit: int) -> Call[CreditUsage]:
    for name, value in (("page", page), ("limit", limit)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int")
    return Call("GET", "/api/v2/report/message/quick-api-credit-usage", CreditUsage.from_envelope,
                params={"campType": "sms", "page": str(page), "limit": str(limit)})


def check_sender(*, sender: str) -> Call[SenderCheck]:
    return Call(
        "GET",
        "/api/v1/senderId/check",
        partial(SenderCheck.from_envelope, sender=sender),
        params={"sender": sender},
    )


# -- management (senderid extras; Cellcast v1 documents no such routes) --------------------


def _segment(id: str) -> str:
    """``id`` as one path segment: percent-encoded, so it can never reach another route."""
    if not isinstance(id, str) or not id.strip() or id in (".", ".."):
        raise ValueError("id must be a non-empty string (the record's _id)")
    return quote(id, safe="")


def _page_params(status: str | None, limit: int, offset: int) -> dict[str, str]:
    for name, value in (("limit", limit), ("offset", offset)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int")
    params = {"limit": str(limit), "offset": str(offset)}
    if status is not None:
        params["status"] = status
    return params


def list_custom_numbers(*, status: str | None, limit: int, offset: int) -> Call[CustomNumberPage]:
    return Call(
        "GET",
        "/api/v1/customNumber/list",
        CustomNumberPage.from_envelope,
        params=_page_params(status, limit, offset),
    )


def get_custom_number(*, id: str) -> Call[CustomNumber]:
    return Call("GET", f"/api/v1/customNumber/{_segment(id)}", CustomNumber.from_envelope)


def delete_custom_number(*, id: str) -> Call[CustomNumber]:
    return Call("DELETE", f"/api/v1/customNumber/{_segment(id)}", CustomNumber.from_envelope)


def resend_otp(*, id: str, idempotency_key: IdempotencyKey) -> Call[CustomNumber]:
    return _post(
        f"/api/v1/customNumber/{_segment(id)}/resend",
        CustomNumber.from_envelope,
        None,
        idempotency_key,
    )


def list_business_names(
    *, status: str | None, limit: int, offset: int
) -> Call[BusinessNamePage]:
    return Call(
        "GET",
        "/api/v1/business/list",
        BusinessNamePage.from_envelope,
        params=_page_params(status, limit, offset),
    )


def get_business_name(*, id: str) -> Call[BusinessNameRequest]:
    return Call("GET", f"/api/v1/business/{_segment(id)}", BusinessNameRequest.from_envelope)


def withdraw_business_name(*, id: str) -> Call[BusinessNameRequest]:
    return Call("DELETE", f"/api/v1/business/{_segment(id)}", BusinessNameRequest.from_envelope)
