"""The ``cellcast`` provider: Cellcast's v1 gateway (or another senderid in front of it).

One SMS is one ``POST {base_url}/api/v1/gateway`` with ``Authorization: Bearer <key>``
and the JSON body ``{"message": ..., "contacts": [to], "sender": ...}`` (``sender`` is
left out to use the account's default). The answer is the v1 envelope; an accepted
message is listed in ``data.queueResponse`` with its ``MessageId``, a refused number
in ``data.invalidContacts`` or ``data.unsubscribeContacts``.

Cellcast reports each message's status to the account's *Status URL* as JSON
``{"_id", "status", "type": "send", "sender", "receiver"}``, where ``_id`` is the
``MessageId`` the send answered; :func:`parse_status_webhook` reads it. The report
carries no time of its own.
"""

from __future__ import annotations

from typing import Any

from senderid.delivery.providers import _http
from senderid.delivery.providers.base import OutgoingSms, PermanentError, SendResult
from senderid.domain.types import OutboxStatus

NAME = "cellcast"

# Cellcast's message statuses -> a receipt's: delivered, failed, or still on its way.
_STATUS = {
    "delivered": OutboxStatus.DELIVERED,
    "failed": OutboxStatus.FAILED,
    "undelivered": OutboxStatus.FAILED,
    "expired": OutboxStatus.FAILED,
    "dead": OutboxStatus.FAILED,
    "rejected": OutboxStatus.FAILED,
    "blocked": OutboxStatus.FAILED,
    "canceled": OutboxStatus.FAILED,
    "cancelled": OutboxStatus.FAILED,
    "queued": OutboxStatus.SENT,
    "sent": OutboxStatus.SENT,
    "received": OutboxStatus.SENT,  # taken by Cellcast's network, not yet the phone's word
}


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


def parse_status_webhook(report: Any) -> tuple[str, str]:
    """``(MessageId, status)`` of a status webhook; status is sent/delivered/failed.

    Raises ValueError for anything that is not the status of a sent message.
    """
    if not isinstance(report, dict):
        raise ValueError("not a JSON object")
    message_id, given = report.get("_id"), report.get("status")
    if not isinstance(message_id, str) or not message_id.strip():
        raise ValueError("_id is missing")
    if report.get("type", "send") != "send":
        raise ValueError(f"type is {report.get('type')!r}, not 'send'")
    status = _STATUS.get(given.strip().lower()) if isinstance(given, str) else None
    if status is None:
        raise ValueError(f"unknown message status {given!r}")
    return message_id.strip(), status


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
