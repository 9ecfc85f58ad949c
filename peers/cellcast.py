"""A Cellcast v1 gateway peer: ``POST /api/v1/gateway`` as documented by Cellcast (and
pinned by SPEC §1 and §6 for senderid's own gateway).

It checks ``Authorization: Bearer <key>`` (401 body ``{"code", "message", "stack"}``),
a JSON body with a non-empty ``message``, 1 to 1,000 ``contacts`` and an optional
``sender`` that the account may use, and answers the v1 envelope with
``data.queueResponse`` (one ``MessageId`` of 24 hex per queued contact) and
``data.invalidContacts``.

:meth:`CellcastPeer.status_webhook` then POSTs a queued message's status to a Status URL
the way Cellcast reports it (JSON ``{"_id", "status", "type": "send", "sender",
"receiver"}``, no time of its own), signed with ``X-Cellcast-Signature`` when given the
secret of the relay in front of senderid.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from peers.http import HttpPeer, Request, Response

PATH = "/api/v1/gateway"
API_KEY = "cellcast-test-key"
_NUMBER = re.compile(r"^\+?\d{8,15}$")


@dataclass
class Queued:
    message_id: str
    to: str
    sender: str
    body: str


def envelope(status: bool, message: str, data: Any, error: Any = None, show: int = 0) -> dict[str, Any]:
    return {
        "app_type": "web", "app_version": "1.0", "maintainence": 0, "new_version": 0,
        "force_update": 0, "invalid_token": 0, "refresh_token": "", "show_message": show,
        "is_enc": False, "status": status, "message": message, "message_type": "toast",
        "data": data, "error": error if error is not None else {},
    }


class CellcastPeer(HttpPeer):
    send_path = PATH

    def __init__(self, api_key: str = API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.invalid_numbers: set[str] = {"+61491570000"}
        self.senders: set[str] | None = None  # None: any sender is registered
        self.queued: list[Queued] = []
        self._ids = itertools.count(1)

    def authorization(self) -> str:
        return f"Bearer {self.api_key}"

    def error_response(self, status: int, retry_after: int | None = None) -> Response:
        text = "Too many requests" if status == 429 else "Something went wrong"
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return Response.json(status, envelope(False, text, {}, {"error": text}, show=1), **headers)

    def handle(self, request: Request) -> Response:
        denied = self._authenticate(request.headers.get("authorization", ""))
        if denied:
            return Response.json(401, {"code": 401, "message": denied, "stack": f"APIError: {denied}"})
        if request.method != "POST" or request.path != PATH:
            return Response.json(404, envelope(False, "Not found", {}, {"error": "Not found"}, 1))
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._bad("Request body must be a JSON object")
        message, contacts, sender = body.get("message"), body.get("contacts"), body.get("sender", "")
        if not isinstance(message, str) or not message.strip():
            return self._bad("Message is required")
        if not isinstance(contacts, list) or not 1 <= len(contacts) <= 1000:
            return self._bad("Contacts are required (1 to 1000 numbers)")
        if not isinstance(sender, str) or (self.senders is not None and sender not in self.senders):
            return self._bad("Your sender id is not registered.")
        queue, invalid = [], []
        for number in contacts:
            if not isinstance(number, str) or not _NUMBER.match(number) or number in self.invalid_numbers:
                invalid.append(number)
                continue
            message_id = f"{next(self._ids):024x}"
            self.queued.append(Queued(message_id, number, sender, message))
            national = number.lstrip("+").removeprefix("61")
            queue.append({"Contact": national, "MessageId": message_id,
                          "Result": "Message added to queue.", "Number": number})
        data = {
            "queueResponse": queue,
            "message": "success register all valid contacts to queue",
            "invalidContacts": invalid, "unsubscribeContacts": [],
            "totalValidContact": len(queue), "totalInvalidContact": len(invalid),
            "totalUnsubscribeContact": 0,
        }
        answer = Response.json(200, envelope(True, "Request is being processed", data))
        answer.handoffs = tuple(entry["Number"] for entry in queue)
        return answer

    def status_webhook(self, message_id: str, status: str, url: str, secret: str | None = None) -> int:
        """POST the status of a queued message to ``url``; the HTTP status of the answer."""
        queued = next(q for q in self.queued if q.message_id == message_id)
        assert url.startswith("http://127.0.0.1:"), "webhooks stay on loopback"
        body = json.dumps({"_id": message_id, "status": status, "type": "send",
                           "sender": queued.sender or "cellcast", "receiver": queued.to}).encode()
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Cellcast-Signature"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as refused:
            return int(refused.code)

    def _authenticate(self, header: str) -> str | None:
        scheme, _, key = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return "Authorization token is required"
        return None if key.strip() == self.api_key else "Token expired"

    @staticmethod
    def _bad(message: str) -> Response:
        return Response.json(400, envelope(False, message, {}, {"error": message}, show=1))
