"""The ``webhook`` provider: hand each SMS to your own HTTP endpoint, signed.

Each SMS is one POST of the JSON

    {"type": "sms.send", "timestamp": "<ISO 8601>",
     "data": {"id": ..., "to": ..., "sender": ..., "body": ...}}

with the Standard Webhooks headers ``webhook-id`` (senderid's message id, the same
on every retry, so the receiver can drop duplicates), ``webhook-timestamp`` and
``webhook-signature`` (see :mod:`senderid.signing`).

A 2xx answer means accepted; a JSON answer with a string ``id`` gives the provider
message id. 408/425/429/5xx and network trouble are retried; other 4xx are not.
"""

from __future__ import annotations

import json

from senderid import signing
from senderid.clock import Clock
from senderid.delivery.providers import _http
from senderid.delivery.providers.base import OutgoingSms, SendResult

NAME = "webhook"
EVENT_TYPE = "sms.send"


class WebhookProvider:
    name = NAME
    max_in_flight: int | None = None  # as many as the worker keeps in flight

    def __init__(
        self, url: str, secret: str, timeout: float = 10.0, clock: Clock | None = None
    ) -> None:
        signing.secret_key(secret)  # refuse a malformed secret at start, not on first send
        self._url = url
        self._secret = secret
        self._clock = clock or Clock()
        self._clients = _http.Clients(timeout=timeout)

    def send(self, sms: OutgoingSms) -> SendResult:
        now = self._clock.now()
        event = {
            "type": EVENT_TYPE,
            "timestamp": now.isoformat().replace("+00:00", "Z"),
            "data": {"id": sms.message_id, "to": sms.to, "sender": sms.sender, "body": sms.body},
        }
        payload = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        headers = signing.headers(self._secret, sms.message_id, int(now.timestamp()), payload)
        response = _http.post(
            self._clients.get(), NAME, self._url, body=sms.body, content=payload, headers=headers
        )
        if not response.is_success:
            # The receiver's own text may echo the payload: report the status only.
            raise _http.status_error(NAME, response, "")
        answer = _http.json_or_none(response)
        provider_id = answer.get("id") if isinstance(answer, dict) else None
        return SendResult(provider_id if isinstance(provider_id, str) and provider_id else None)

    def close(self) -> None:
        self._clients.close()
