"""The ``cellcast`` provider: Cellcast's v1 gateway (or another senderid in front of it).

One SMS is one ``POST {base_url}/api/v1/gateway`` with ``Authorization: Bearer <key>``
and the JSON body ``{"message": ..., "contacts": [to], "sender": ...}`` (``sender`` is
left out to use the account's default). The answer is the v1 envelope; an accepted
message is listed in ``data.queueResponse`` with its ``MessageId``, a refused number
in ``data.invalidContacts`` or ``data.unsubscribeContacts``.
"""

from __future__ import annotations

from typing import Any

from senderid.delivery.providers import _http
from senderid.delivery.providers.base import OutgoingSms, PermanentError, SendResult

NAME = "cellcast"


class CellcastProvider:
    name = NAME
    max_in_flight: int | None = None  # as many as the worker keeps in flight

    def __init__(self, base_url: str, api_key: str, timeout: float = 10.0) -> None:
        self._url = base_url.rstrip("/") + "/api/v1/gateway"
        self._clients = _http.Clients(
            timeout=timeout,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
        )

    def send(self, sms: OutgoingSms) -> SendResult:
        payload: dict[str, Any] = {"message": sms.body, "contacts": [sms.to]}
        if sms.sender:
            payload["sender"] = sms.sender
        response = _http.post(self._clients.get(), NAME, self._url, body=sms.body, json=payload)
        envelope = _http.json_or_none(response)
        if not response.is_success:
            raise _http.status_error(NAME, response, _http.redact(_describe(envelope), sms.body))
        if not isinstance(envelope, dict) or envelope.get("status") is not True:
            detail = _http.redact(_describe(envelope), sms.body) or "no status in the answer"
            raise PermanentError(f"{NAME}: message refused: {detail}")
        return SendResult(_message_id(envelope.get("data"), sms.to))

    def close(self) -> None:
        self._clients.close()


def _message_id(data: Any, to: str) -> str:
    data = data if isinstance(data, dict) else {}
    queued = data.get("queueResponse") or []
    if queued and isinstance(queued[0], dict) and queued[0].get("MessageId"):
        return str(queued[0]["MessageId"])
    if data.get("unsubscribeContacts"):
        raise PermanentError(f"{NAME}: {to} has unsubscribed")
    if data.get("invalidContacts"):
        raise PermanentError(f"{NAME}: {to} is not a valid number")
    raise PermanentError(f"{NAME}: the gateway queued nothing")


def _describe(envelope: Any) -> str:
    """A short text for an error answer: the envelope's message and error values."""
    if not isinstance(envelope, dict):
        return ""
    parts = [str(envelope["message"])] if envelope.get("message") else []
    error = envelope.get("error")
    if isinstance(error, dict):
        parts += [str(value) for value in error.values() if value and str(value) not in parts]
    return "; ".join(parts)
