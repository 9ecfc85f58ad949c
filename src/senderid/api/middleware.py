"""Pure ASGI middleware: the request id, body size limit, the one-line-per-request access
log, and the last word on errors nothing else handled."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from senderid import logs, metrics
from senderid.api import envelope

access_log = logging.getLogger("senderid.access")
log = logging.getLogger("senderid.api")

SERVER_ERROR = "Something went wrong on our side; please try again later"


REQUEST_ID_HEADER = b"x-request-id"
MAX_REQUEST_ID = 128
# What a request may name itself: 1 to 128 printable ASCII characters, no space.
_REQUEST_ID = re.compile(rb"[\x21-\x7e]{1,%d}" % MAX_REQUEST_ID)


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    """The request's own ``X-Request-ID`` when it is one we can carry (1 to 128 printable
    ASCII characters, no space), else a new one (32 hex characters)."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER and _REQUEST_ID.fullmatch(value):
            return value.decode("ascii")
    return uuid.uuid4().hex


class RequestId:
    """Every request has an id: its ``X-Request-ID`` (see :func:`request_id_of`) or a new one.
    It is echoed on the answer (whatever answers: a route, an error, a 404), and set in
    :data:`senderid.logs.request_id` while the request is handled, so every log line and
    audit record of the request carries it. The outermost middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope["headers"])
        header = (REQUEST_ID_HEADER, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != REQUEST_ID_HEADER]
                message = {**message, "headers": [*headers, header]}
            await send(message)

        token = logs.request_id.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logs.request_id.reset(token)


class _Started:
    """``send`` that remembers whether the answer has begun (after that, no other answer
    can replace it)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


class Crashes:
    """An unexpected exception becomes a logged 500 in the envelope, and goes no further.

    Starlette's own catch-all (an ``Exception`` handler) sends its answer and then
    re-raises, and uvicorn closes the connection of any request whose application
    raised: the client's next request on that keep-alive connection would get no answer.
    Here the exception stops, so the connection stays usable."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracking = _Started(send)
        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            log.error("unhandled error", exc_info=exc, extra={"path": scope.get("path")})
            if tracking.started:  # half an answer is out: nothing better can be done
                raise
            await envelope.failure(SERVER_ERROR, 500)(scope, receive, send)


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Refuse bodies over ``max_bytes`` with a 413 in the envelope, before reading them all,
    and NUL characters in the query string (no database column can hold them)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if b"%00" in scope.get("query_string", b""):
            await envelope.failure("The query string must not contain NUL characters", 400)(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    too_large = int(value) > self.max_bytes
                except ValueError:
                    too_large = False
                if too_large:
                    await self._refuse(scope, receive, send)
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge()
            return message

        tracking = _Started(send)
        try:
            await self.app(scope, limited_receive, tracking)
        except BodyTooLarge:
            if not tracking.started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = envelope.failure(
            f"The request body is larger than {self.max_bytes} bytes", 413
        )
        await response(scope, receive, send)


class AccessLog:
    """One structured line per request: method, path, status, duration, account."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            state: dict[str, Any] = scope.get("state", {})
            route = getattr(scope.get("route"), "path", None)  # the template, never the raw path
            metrics.observe_request(scope["method"], route, status, time.perf_counter() - started)
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],  # never the query string: it may carry anything
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "account": state.get("account_id"),
                    "client": scope["client"][0] if scope.get("client") else None,
                },
            )
