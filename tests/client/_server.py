"""Real HTTP servers on 127.0.0.1 for the client tests (stdlib, one thread each).

``LiveServer(handler)`` records every request it receives (``.requests``) and answers
with what ``handler`` returns. Two handlers: :func:`script` replays a fixed list of
replies (for retry tests), :class:`SpecFake` is a small in-memory server that answers
the way SPEC.md says, with the bodies of :mod:`._wire`.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import _wire


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None  # dict/list: JSON; str: text/html; bytes: as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering
    drop: bool = False  # close the connection without answering


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    json: Any
    at: float  # time.monotonic() on arrival


Handler = Callable[[Seen], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout tests) is expected, not news


class LiveServer:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), self._request_handler_class())
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}
        )

    def __enter__(self) -> LiveServer:
        self._thread.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.requests.append(seen)

    def _request_handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def do_DELETE(self) -> None:
                self._serve()

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    payload = json.loads(raw) if raw else None
                except ValueError:
                    payload = raw.decode("latin-1")
                url = urlsplit(self.path)
                seen = Seen(
                    method=self.command,
                    path=url.path,
                    query=parse_qs(url.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    json=payload,
                    at=time.monotonic(),
                )
                server._record(seen)
                reply = server.handler(seen)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    return
                self._send(reply)

            def _send(self, reply: Reply) -> None:
                if isinstance(reply.body, (dict, list)):
                    content, ctype = json.dumps(reply.body).encode(), "application/json"
                elif isinstance(reply.body, str):
                    content, ctype = reply.body.encode(), "text/html; charset=utf-8"
                else:
                    content, ctype = reply.body or b"", "application/octet-stream"
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(content)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(content)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return _Handler


def script(*replies: Reply) -> Handler:
    """Answer the n-th request with the n-th reply; the last reply repeats."""
    lock = threading.Lock()
    count = 0

    def handler(seen: Seen) -> Reply:
        nonlocal count
        with lock:
            index = min(count, len(replies) - 1)
            count += 1
        return replies[index]

    return handler


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- a small server that follows the contract ---------------------------------------------

OTP_KEY = "key-otp-required"  # account that must verify numbers
INSTANT_KEY = "key-no-otp"  # account whose numbers are active at once
OTP = "123456"
TAKEN_NUMBER = "+61491570110"  # active for another account from the start
APPROVED_NAME = "ACME"  # approved business name of OTP_KEY's account

_BEARER = re.compile(r"^bearer\s+(\S+)$", re.IGNORECASE)
_AU_MOBILE = re.compile(r"^(?:\+?61|0)?(4\d{8})$")


def normalise(number: Any) -> str | None:
    """The fake's stand-in for libphonenumber: Australian mobiles only, to E.164."""
    if not isinstance(number, str):
        return None
    digits = re.sub(r"[\s\-.()]", "", number.replace("(0)", ""))
    match = _AU_MOBILE.match(digits)
    return f"+61{match.group(1)}" if match else None


def _blank(value: Any) -> bool:
    return not isinstance(value, str) or not value.strip()


class SpecFake:
    """In-memory senderid following SPEC §1-§6 closely enough to exercise the client."""

    def __init__(self) -> None:
        self.accounts = {OTP_KEY: uuid.uuid4().hex[:24], INSTANT_KEY: uuid.uuid4().hex[:24]}
        self.otp_required = {OTP_KEY: True, INSTANT_KEY: False}
        self.active: dict[str, str] = {TAKEN_NUMBER: "someone-else"}  # number -> account key
        self.pending: set[tuple[str, str]] = set()  # (account key, number)
        self.approved_names = {(OTP_KEY, APPROVED_NAME.casefold())}
        self.routes: dict[tuple[str, str], Callable[[str, Seen], Reply]] = {
            ("GET", "/api/v1/user/token/verify"): self.token_verify,
            ("POST", "/api/v1/customNumber/add"): self.add_number,
            ("POST", "/api/v1/customNumber/verifyCustomNumber"): self.verify_number,
            ("POST", "/api/v1/business/add"): self.add_business,
            ("POST", "/api/v1/gateway"): self.gateway,
            ("GET", "/api/v1/senderId/check"): self.check_sender,
        }

    def __call__(self, seen: Seen) -> Reply:
        match = _BEARER.match(seen.headers.get("authorization", "").strip())
        if not match:
            return Reply(401, _wire.TOKEN_REQUIRED)
        key = match.group(1)
        if key not in self.accounts:
            return Reply(401, _wire.TOKEN_EXPIRED)
        route = self.routes.get((seen.method, seen.path))
        if route is None:
            return Reply(404, _wire.failure("Not found"))
        body = seen.json if isinstance(seen.json, dict) else {}
        return route(key, Seen(seen.method, seen.path, seen.query, seen.headers, body, seen.at))

    def token_verify(self, key: str, seen: Seen) -> Reply:
        return Reply(200, _wire.token_verified(key))

    def add_number(self, key: str, seen: Seen) -> Reply:
        if _blank(seen.json.get("name")):
            return Reply(400, _wire.ADD_NAME_REQUIRED)
        if _blank(seen.json.get("number")):
            return Reply(400, _wire.ADD_NUMBER_REQUIRED)
        number = normalise(seen.json["number"])
        if number is None:
            return Reply(400, _wire.ADD_NUMBER_INVALID)
        if number in self.active:
            return Reply(400, _wire.ADD_ALREADY_EXISTS)
        if not self.otp_required[key]:
            self.active[number] = key
            return Reply(200, _wire.ADD_CREATED)
        self.pending.add((key, number))
        return Reply(200, _wire.ADD_OTP_SENT)

    def verify_number(self, key: str, seen: Seen) -> Reply:
        if _blank(seen.json.get("name")):
            return Reply(200, _wire.VERIFY_NAME_REQUIRED)
        if _blank(seen.json.get("number")):
            return Reply(400, _wire.VERIFY_NUMBER_REQUIRED)
        number = normalise(seen.json["number"])
        if seen.json.get("otp") != OTP or (key, number) not in self.pending or number is None:
            return Reply(400, _wire.VERIFY_OTP_FAILED)
        self.pending.discard((key, number))
        self.active[number] = key
        return Reply(200, _wire.VERIFY_OK)

    def add_business(self, key: str, seen: Seen) -> Reply:
        name = seen.json.get("businessname")
        if _blank(name):
            return Reply(400, _wire.BUSINESS_NAME_REQUIRED)
        if not 3 <= len(name) <= 11:
            return Reply(400, _wire.failure("businessname must be 3 to 11 characters"))
        now = "2025-01-02T03:04:05.678Z"
        record = {
            "isDeleted": False,
            "isDefault": False,
            "_id": uuid.uuid4().hex[:24],
            "businessname": name,
            "user": self.accounts[key],
            "requestedAt": now,
            "status": "REQUESTED",
            "createdBy": self.accounts[key],
            "createdAt": now,
            "updatedAt": now,
            "__v": 0,
        }
        return Reply(200, _wire.business_added(record))

    def _resolve_sender(self, key: str, sender: str) -> tuple[str, str] | None:
        """(kind, sender as sent) when the account may send as ``sender``."""
        number = normalise(sender)
        if sender in ("", "#SharedNum#"):
            return "shared", "#SharedNum#"
        if number is not None and self.active.get(number) == key:
            return "custom_number", number
        if (key, sender.casefold()) in self.approved_names:
            return "business_name", APPROVED_NAME
        return None

    def gateway(self, key: str, seen: Seen) -> Reply:
        message, contacts = seen.json.get("message"), seen.json.get("contacts")
        if _blank(message):
            return Reply(400, _wire.failure("message is required"))
        if not isinstance(contacts, list) or not 1 <= len(contacts) <= 1000:
            return Reply(400, _wire.failure("contacts must be a list of 1 to 1000 numbers"))
        sender = seen.json.get("sender") or ""
        if self._resolve_sender(key, sender) is None:
            return Reply(403, _wire.failure(f"You may not send as {sender!r}"))
        queue, invalid = [], []
        for contact in contacts:
            number = normalise(contact)
            if number is None:
                invalid.append(contact)
            else:
                queue.append(
                    {
                        "Contact": number[3:],
                        "MessageId": uuid.uuid4().hex[:24],
                        "Result": "Message added to queue.",
                        "Number": contact,
                    }
                )
        return Reply(200, _wire.gateway_queued(queue, invalid, encoding="GSM-7", messageParts=1))

    def check_sender(self, key: str, seen: Seen) -> Reply:
        sender = seen.query.get("sender", [""])[0]
        kind, send_as = self._resolve_sender(key, sender) or (None, None)
        return Reply(200, _wire.sender_checked(sender, kind=kind, send_as=send_as))
