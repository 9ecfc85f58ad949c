"""A Standard Webhooks receiver peer: the customer's endpoint for the ``webhook`` provider.

It takes a POST of ``application/json`` carrying the ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature`` headers (400 without them), keeps the
raw body and headers exactly as received so a test can verify the signature itself,
and answers 200 ``{"id": ...}``, or 422 for a number it is told is invalid.
It does not verify signatures: the tests do, with their own implementation.
"""

from __future__ import annotations

import itertools
import json

from peers.http import HttpPeer, Request, Response

REQUIRED_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class WebhookPeer(HttpPeer):
    send_path = "/sms"  # any path is taken; this is the one the benchmarks give the provider

    def __init__(self) -> None:
        super().__init__()
        self.invalid_numbers: set[str] = {"+61491570000"}
        self.accepted: list[tuple[str, Request]] = []  # (our id, request)
        self._ids = itertools.count(1)

    def handle(self, request: Request) -> Response:
        if request.method != "POST":
            return Response.json(405, {"error": "POST only"})
        if not request.headers.get("content-type", "").startswith("application/json"):
            return Response.json(415, {"error": "JSON only"})
        missing = [name for name in REQUIRED_HEADERS if not request.headers.get(name)]
        if missing:
            return Response.json(400, {"error": f"missing {', '.join(missing)}"})
        try:
            event = json.loads(request.body)
        except ValueError:
            return Response.json(400, {"error": "not JSON"})
        data = event.get("data") if isinstance(event, dict) else None
        if not isinstance(data, dict) or event.get("type") != "sms.send":
            return Response.json(400, {"error": "not an sms.send event"})
        if data.get("to") in self.invalid_numbers:
            # Receivers may echo what they got: the provider must not pass it on.
            return Response.json(422, {"error": "invalid number", "received": event})
        delivery_id = f"wh_{next(self._ids)}"
        self.accepted.append((delivery_id, request))
        answer = Response.json(200, {"id": delivery_id})
        answer.handoffs = (request.headers["webhook-id"],)
        return answer
