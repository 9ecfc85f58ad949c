"""The one pure ASGI middleware every request passes through (:class:`Edge`): the request
id, refusals before the route (NUL in the query, body size, the developer inbox's rules),
the last word on errors nothing else handled, and the one-line-per-request access log."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from senderid import logs, metrics
from senderid.api import envelope, inbox_guard
from senderid.api.from_memory import Shortcuts

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


class BodyTooLarge(Exception):
    pass


class Edge:
    """Everything every request passes through, in one layer (each layer of ASGI middleware
    costs a call and a ``send`` wrapper per request):

    * **the request id**: the request's ``X-Request-ID`` (see :func:`request_id_of`) or a
      new one, echoed on the answer (whatever answers: a route, an error, a 404) and set
      in :data:`senderid.logs.request_id` while the request is handled, so every log line
      and audit record of the request carries it;
    * **refusals before the route**: NUL characters in the query string (400; no database
      column can hold them), a body over ``max_bytes`` (413, before reading it all: by its
      ``Content-Length``, or while it is read when it has none), and the developer inbox's
      rules for ``/dev/inbox*`` (:mod:`senderid.api.inbox_guard`, when ``inbox`` is on);
    * **answers from memory**: a per-message route's answer that this process holds in
      memory, given before the framework routes the request (:mod:`senderid.api.from_memory`;
      the route answers everything else), after the refusals;
    * **the last word on errors**: an unexpected exception becomes a logged 500 in the
      envelope and goes no further. Starlette's own catch-all sends its answer and then
      re-raises, and uvicorn closes the connection of any request whose application
      raised: the client's next request on that keep-alive connection would get no
      answer. Here the exception stops, so the connection stays usable;
    * **the access log and the request metrics**: one structured line per request (method,
      path, status, duration, account) and the request counters."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, inbox: bool = False, inbox_allow_remote: bool = False,
                 shortcuts: Shortcuts | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.inbox = inbox
        self.inbox_allow_remote = inbox_allow_remote
        self.shortcuts = shortcuts or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        request_id = request_id_of(scope["headers"])
        id_header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        status = 500
        started = False

        async def answer(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != REQUEST_ID_HEADER]
                message = {**message, "headers": [*headers, id_header]}
            await send(message)

        token = logs.request_id.set(request_id)
        try:
            refusal, sized = self._refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, answer)
                return
            if scope["method"] == "GET" and scope["path"] in self.shortcuts:
                route, memory_answer = self.shortcuts[scope["path"]]
                remembered = memory_answer(Request(scope))
                if remembered is not None:
                    scope["route"] = route  # as the router would: the metrics' and the log's template
                    await remembered(scope, receive, answer)
                    return
            try:
                await self.app(scope, receive if sized else self._limited(receive), answer)
            except BodyTooLarge:
                if not started:
                    await self._too_large()(scope, receive, answer)
            except Exception as exc:
                log.error("unhandled error", exc_info=exc, extra={"path": scope.get("path")})
                if started:  # half an answer is out: nothing better can be done
                    raise
                await envelope.failure(SERVER_ERROR, 500)(scope, receive, answer)
        finally:
            self._log(scope, status, time.perf_counter() - began)
            logs.request_id.reset(token)

    def _refusal(self, scope: Scope) -> tuple[Response | None, bool]:
        """An answer that refuses the request before any route runs (or None), and whether
        its body is bounded by a ``Content-Length`` within the limit (the server reads no
        more than that, so it needs no counting)."""
        if b"%00" in scope.get("query_string", b""):
            return envelope.failure("The query string must not contain NUL characters", 400), True
        if self.inbox and inbox_guard.covered(scope["path"]):
            refused = inbox_guard.refusal(scope, allow_remote=self.inbox_allow_remote)
            if refused is not None:
                return envelope.failure(refused, 403), True
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    too_large = int(value) > self.max_bytes
                except ValueError:
                    return None, False
                return (self._too_large(), True) if too_large else (None, True)
        return None, False

    def _limited(self, receive: Receive) -> Receive:
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge()
            return message

        return limited_receive

    def _too_large(self) -> Response:
        return envelope.failure(f"The request body is larger than {self.max_bytes} bytes", 413)

    @staticmethod
    def _log(scope: Scope, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None)  # the template, never the raw path
        metrics.observe_request(scope["method"], route, status, seconds)
        state: dict[str, Any] = scope.get("state", {})
        logs.info(access_log, "request", {
            "method": scope["method"],
            "path": scope["path"],  # never the query string: it may carry anything
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "account": state.get("account_id"),
            "client": scope["client"][0] if scope.get("client") else None,
        })
