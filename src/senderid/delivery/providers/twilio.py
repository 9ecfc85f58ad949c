"""The ``twilio`` provider: Twilio's Programmable Messaging REST API.

Sending is ``POST {base_url}/2010-04-01/Accounts/{sid}/Messages.json`` with HTTP basic
auth (account SID, auth token) and a form body ``To``, ``From`` (or
``MessagingServiceSid`` when the sender is an ``MG...`` SID), ``Body`` and optionally
``StatusCallback``. The created Message resource's ``sid`` is the provider message id.

Twilio later POSTs status callbacks to ``StatusCallback``; :func:`verify_signature`
checks their ``X-Twilio-Signature``, :func:`parse_status_callback` reads them and
:func:`status_callback_time` reads the carrier's time of a delivered or undelivered one
(``RawDlrDoneDate``, ``YYMMDDhhmm``, when the carrier gave one).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import httpx

from senderid.clock import parse_done_date
from senderid.delivery.providers import _http
from senderid.delivery.providers.base import (
    OutgoingSms,
    PermanentError,
    SendResult,
    TransientError,
)
from senderid.domain.types import OutboxStatus

NAME = "twilio"
# Twilio error codes worth retrying even when the HTTP status is a 4xx.
TRANSIENT_CODES = frozenset({14107, 20429, 20500, 20503, 30001})

_STATUS = {
    "delivered": OutboxStatus.DELIVERED,
    "read": OutboxStatus.DELIVERED,
    "failed": OutboxStatus.FAILED,
    "undelivered": OutboxStatus.FAILED,
    "canceled": OutboxStatus.FAILED,
    "queued": OutboxStatus.SENT,
    "accepted": OutboxStatus.SENT,
    "scheduled": OutboxStatus.SENT,
    "sending": OutboxStatus.SENT,
    "sent": OutboxStatus.SENT,
    "partially_delivered": OutboxStatus.SENT,
}


class TwilioProvider:
    name = NAME
    max_in_flight: int | None = None  # as many as the worker keeps in flight

    def __init__(
        self,
        base_url: str,
        account_sid: str,
        auth_token: str,
        default_from: str,
        status_callback_url: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._default_from = default_from
        self._status_callback_url = status_callback_url
        basic = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode("ascii")
        # HTTP basic auth as a fixed header: the same bytes as httpx's auth=, without its
        # per-request auth flow
        self._clients = _http.Clients(
            timeout=timeout, headers={"Accept": "application/json", "Authorization": f"Basic {basic}"}
        )

    def send(self, sms: OutgoingSms) -> SendResult:
        sender = sms.sender or self._default_from
        form = {"To": sms.to, "Body": sms.body}
        if _is_messaging_service(sender):
            form["MessagingServiceSid"] = sender
        else:
            form["From"] = sender
        if self._status_callback_url:
            form["StatusCallback"] = self._status_callback_url
        response = _http.post(self._clients.get(), NAME, self._url, body=sms.body, data=form)
        resource = _http.json_or_none(response)
        if not response.is_success:
            raise _error(response, resource, sms.body)
        if not isinstance(resource, dict) or not resource.get("sid"):
            raise TransientError(f"{NAME}: HTTP {response.status_code} without a message sid")
        return SendResult(str(resource["sid"]))

    def close(self) -> None:
        self._clients.close()


def _is_messaging_service(sender: str) -> bool:
    return len(sender) == 34 and sender.startswith("MG")


def _error(response: httpx.Response, resource: object, body: str) -> Exception:
    code = resource.get("code") if isinstance(resource, dict) else None
    message = resource.get("message") if isinstance(resource, dict) else None
    detail = _http.redact(f"error {code}: {message}" if code else str(message or ""), body)
    if isinstance(code, int) and code in TRANSIENT_CODES:
        reason = f"{NAME}: HTTP {response.status_code}: {detail}"
        return TransientError(reason, retry_after=_http.retry_after(response))
    error = _http.status_error(NAME, response, detail)
    if isinstance(error, PermanentError) and response.status_code == 401:
        return PermanentError(f"{error.reason} (check the account SID and auth token)")
    return error


def parse_status_callback(form: Mapping[str, str]) -> tuple[str, str]:
    """``(MessageSid, status)`` of a status callback; status is sent/delivered/failed.

    Raises ValueError for a form that is not a message status callback.
    """
    sid = form.get("MessageSid") or form.get("SmsSid")
    twilio_status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if not sid:
        raise ValueError("status callback without MessageSid")
    if twilio_status not in _STATUS:
        raise ValueError(f"unknown message status {twilio_status!r}")
    return sid, _STATUS[twilio_status]


def status_callback_time(form: Mapping[str, str]) -> datetime | None:
    """The carrier's time of a delivered or undelivered message (``RawDlrDoneDate``,
    minute resolution, no time zone: read as UTC), or None when the callback has none."""
    return parse_done_date(form.get("RawDlrDoneDate"))


def signature_for(url: str, params: Mapping[str, str | Sequence[str]], auth_token: str) -> str:
    """Twilio's signature: base64 HMAC-SHA1 of the URL followed by the sorted params."""
    data = url
    for key in sorted(params):
        values = params[key]
        for value in sorted([values] if isinstance(values, str) else values):
            data += key + value
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_signature(
    url: str, params: Mapping[str, str | Sequence[str]], signature: str, auth_token: str
) -> bool:
    """Whether ``signature`` (the X-Twilio-Signature header) is Twilio's for this request.

    ``url`` is the full URL Twilio called, query string included; ``params`` the POST
    form. The URL is also tried with its default port added or removed, as Twilio's
    own libraries do, because proxies often change that part.
    """
    if not signature:
        return False
    given = signature.encode()
    return any(
        hmac.compare_digest(signature_for(candidate, params, auth_token).encode(), given)
        for candidate in _url_variants(url)
    )


def _url_variants(url: str) -> list[str]:
    parts = urlsplit(url)
    default_port = {"https": 443, "http": 80}.get(parts.scheme)
    if default_port is None or parts.hostname is None:
        return [url]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    if parts.port is None:
        other = parts._replace(netloc=f"{prefix}{host}:{default_port}")
    elif parts.port == default_port:
        other = parts._replace(netloc=f"{prefix}{host}")
    else:
        return [url]
    return [url, urlunsplit(other)]
