"""A fast local peer of an HTTP SMS provider: it answers every request after a fixed latency.

    python -m benchmarks.peers.http --protocol twilio|cellcast|webhook --latency 0.05 --port PORT

A raw ASGI app on uvicorn (uvloop, httptools, no access log), so that the latency, not the
peer's own Python, sets how fast it can take SMS: each request is read, recorded, then
answered after ``await asyncio.sleep(latency)``, with the answer the provider's API gives for an
accepted message (the shapes of ``src/senderid/delivery/providers/`` and ``tests/support/peers/``):

* ``twilio``: ``POST /2010-04-01/Accounts/{sid}/Messages.json``, basic auth, a form with
  ``To``/``Body``; 201 with a Message resource (``sid`` ``SM…``);
* ``cellcast``: ``POST /api/v1/gateway``, ``Authorization: Bearer``, JSON ``contacts``; the v1
  envelope with ``data.queueResponse[0].MessageId``;
* ``webhook``: ``POST /sms`` with the ``webhook-id`` header (senderid's message id); 200 ``{"id"}``.

Each accepted request is a hand-off, recorded under a key (twilio, cellcast: the destination
number; webhook: the ``webhook-id``) with its arrival time (``time.time()``). The benchmark
reads them over the same port:

* ``GET /_peer/stats``: ``{"handoffs", "distinct", "twice", "refused", "times": [...]}``
  (``twice``: keys handed over more than once);
* ``GET /_peer/first?key=K``: ``{"time", "index"}`` of K's first hand-off (nulls when unseen);
* ``POST /_peer/reset``: forget everything;
* ``GET /healthz``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import time
from typing import Any
from urllib.parse import parse_qs, unquote

TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "bench-twilio-token"
CELLCAST_KEY = "bench-cellcast-key"
PROTOCOLS = ("twilio", "cellcast", "webhook")


def path_for(protocol: str) -> str:
    """The path senderid's provider (and the plain client) POSTs each SMS to."""
    return {"twilio": f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json", "cellcast": "/api/v1/gateway",
            "webhook": "/sms"}[protocol]


def auth_header(protocol: str) -> str | None:
    if protocol == "twilio":
        return "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
    if protocol == "cellcast":
        return f"Bearer {CELLCAST_KEY}"
    return None


class Refused(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status, self.body = status, body


class Peer:
    def __init__(self, protocol: str, latency: float) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r}")
        self.protocol = protocol
        self.latency = latency
        self.path = path_for(protocol)
        auth = auth_header(protocol)
        self.auth = auth.encode() if auth else None
        self.reset()

    def reset(self) -> None:
        self.times: list[float] = []
        self.first: dict[str, tuple[float, int]] = {}
        self.seen: dict[str, int] = {}
        self.twice = 0
        self.refused = 0
        self.serial = 0

    # -- what each protocol sends and gets back -----------------------------------------

    def key_of(self, headers: dict[bytes, bytes], body: bytes) -> str:
        """The hand-off's key; raises :class:`Refused` for a request the provider would refuse."""
        if self.auth is not None and headers.get(b"authorization") != self.auth:
            raise Refused(401, {"code": 20003, "message": "Authenticate", "status": 401})
        try:
            if self.protocol == "twilio":
                form = parse_qs(body.decode(), keep_blank_values=True)
                to, text = form.get("To", [""])[0], form.get("Body", [""])[0]
                if not to or not text or not (form.get("From") or form.get("MessagingServiceSid")):
                    raise Refused(400, {"code": 21604, "message": "To, From and Body are required",
                                        "status": 400})
                return to
            payload = json.loads(body)
            if self.protocol == "cellcast":
                contacts = payload.get("contacts") or []
                if not payload.get("message") or len(contacts) != 1:
                    raise Refused(400, {"status": False, "message": "message and contacts are required"})
                return str(contacts[0])
            message_id = headers.get(b"webhook-id", b"").decode()
            if not message_id or not headers.get(b"webhook-signature") or payload.get("type") != "sms.send":
                raise Refused(400, {"error": "missing webhook headers or not an sms.send event"})
            return message_id
        except (ValueError, AttributeError):
            raise Refused(400, {"message": "unreadable body"}) from None

    def answer(self, key: str, serial: int) -> tuple[int, dict[str, Any]]:
        if self.protocol == "twilio":
            sid = f"SM{serial:032x}"
            return 201, {"account_sid": TWILIO_SID, "api_version": "2010-04-01", "sid": sid,
                         "status": "queued", "to": key, "direction": "outbound-api", "num_segments": "1",
                         "error_code": None, "error_message": None,
                         "uri": f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/{sid}.json"}
        if self.protocol == "cellcast":
            return 200, {"status": True, "message": "Request is being processed", "error": {},
                         "data": {"queueResponse": [{"Contact": key, "MessageId": f"{serial:024x}",
                                                     "Result": "Message added to queue.", "Number": key}],
                                  "invalidContacts": [], "unsubscribeContacts": [], "totalValidContact": 1,
                                  "totalInvalidContact": 0, "totalUnsubscribeContact": 0}}
        return 200, {"id": f"wh_{serial}"}

    # -- ASGI ----------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        if path == self.path and scope["method"] == "POST":
            arrived = time.time()
            try:
                key = self.key_of(dict(scope["headers"]), body)
            except Refused as refused:
                self.refused += 1
                await _respond(send, refused.status, refused.body)
                return
            self.serial += 1
            serial = self.serial
            self.times.append(arrived)
            count = self.seen.get(key, 0) + 1
            self.seen[key] = count
            if count == 1:
                self.first[key] = (arrived, len(self.times) - 1)
            elif count == 2:
                self.twice += 1
            await asyncio.sleep(self.latency)
            status, answer = self.answer(key, serial)
            await _respond(send, status, answer)
            return
        await self.control(path, scope, send)

    async def control(self, path: str, scope: dict[str, Any], send: Any) -> None:
        if path == "/healthz":
            await _respond(send, 200, {"status": "ok", "protocol": self.protocol})
        elif path == "/_peer/stats":
            await _respond(send, 200, {"handoffs": len(self.times), "distinct": len(self.seen),
                                       "twice": self.twice, "refused": self.refused, "times": self.times})
        elif path == "/_peer/first":
            query = parse_qs(scope.get("query_string", b"").decode())
            key = unquote(query.get("key", [""])[0])
            found = self.first.get(key)
            await _respond(send, 200, {"time": found[0] if found else None, "index": found[1] if found else None})
        elif path == "/_peer/reset" and scope["method"] == "POST":
            self.reset()
            await _respond(send, 200, {"reset": True})
        else:
            await _respond(send, 404, {"error": "not found"})


async def _respond(send: Any, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body, separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers.http", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", choices=PROTOCOLS, required=True)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds before each answer (default 0.05)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(Peer(args.protocol, args.latency), host=args.host, port=args.port, loop="uvloop",
                http="httptools", lifespan="off", access_log=False, log_level="warning",
                server_header=False, date_header=False, backlog=2048)


if __name__ == "__main__":
    main()
