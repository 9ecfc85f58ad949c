"""The common part of the HTTP provider peers: one peer object, served two ways.

A peer's subclass speaks its protocol: ``handle(request)`` returns the provider's answer,
and a successful answer names the SMS it took (:attr:`Response.handoffs`: the destination
numbers or, for the webhook receiver, the message ids). Around it the peer keeps

* ``requests``: every request it received, in order (``wait_for(n)`` waits for them);
* ``handoffs`` (:class:`Handoffs`): each SMS taken, keyed, with its arrival time, how many
  keys came more than once and how many requests were refused (answered 4xx/5xx);
* ``latency``: seconds it waits before each answer (0 by default);
* queued faults that the next requests meet instead of the real answer: ``fail(n, status)``,
  ``throttle(retry_after)``, ``stall(seconds)`` (answer late; released at once when the
  peer stops) and ``drop(n)`` (close the connection without answering).

Served in a thread (``with peer:``; ``peer.url``) it is a ThreadingHTTPServer on 127.0.0.1
with a listen backlog of 128 and TCP_NODELAY on every connection, for the tests. Served as
an ASGI app (``peer.asgi``, run under uvicorn by ``python -m peers.serve``) it answers from
an event loop, so that ``latency``, not the peer's own Python, sets how fast it can take
SMS, for the benchmarks (faults are for the threaded peer only).

Both answer the control paths: ``GET /healthz``; ``GET /_peer/stats`` (``{"handoffs",
"distinct", "twice", "refused", "times"}``); ``GET /_peer/first?key=K`` (``{"time",
"index"}`` of K's first hand-off, nulls when unseen); ``POST /_peer/reset`` (forget the
requests and the hand-offs).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

LOOPBACK = "127.0.0.1"


@dataclass
class Request:
    method: str
    path: str  # with the query string, as sent
    headers: dict[str, str]  # lower-case names
    body: bytes
    fault: str | None = None

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        parsed = parse_qs(self.body.decode(), keep_blank_values=True, strict_parsing=False)
        return {key: values[-1] for key, values in parsed.items()}


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    handoffs: tuple[str, ...] = ()  # the keys of the SMS this answer accepted

    @classmethod
    def json(cls, status: int, value: Any, **headers: str) -> Response:
        return cls(status, json.dumps(value).encode(), {"Content-Type": "application/json", **headers})


class Handoffs:
    """The SMS a peer took, each under its key, with its arrival time (``time.time()``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.times: list[float] = []
            self.first: dict[str, tuple[float, int]] = {}  # key -> (time, index) of its first hand-off
            self.seen: dict[str, int] = {}
            self.twice = 0  # keys handed over more than once
            self.refused = 0  # requests answered 4xx/5xx

    def count(self, response: Response, arrived: float) -> None:
        with self._lock:
            if response.status >= 400:
                self.refused += 1
            for key in response.handoffs:
                self.times.append(arrived)
                seen = self.seen.get(key, 0) + 1
                self.seen[key] = seen
                if seen == 1:
                    self.first[key] = (arrived, len(self.times) - 1)
                elif seen == 2:
                    self.twice += 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"handoffs": len(self.times), "distinct": len(self.seen), "twice": self.twice,
                    "refused": self.refused, "times": list(self.times)}


@dataclass
class _Fault:
    kind: str  # "status", "stall" or "drop"
    response: Response | None = None
    seconds: float = 0.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # A provider's server takes a burst of new connections (a worker's whole window at its
    # start); socketserver's backlog of 5 drops some and the client sees resets.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away (timeouts, drops) is part of the tests


class HttpPeer:
    #: where the provider (and a plain client) POSTs each SMS, per subclass
    send_path = "/"

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.handoffs = Handoffs()
        self.latency = 0.0
        self._faults: deque[_Fault] = deque()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._release = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # protocol, per subclass -----------------------------------------------------------

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def error_response(self, status: int, retry_after: int | None = None) -> Response:
        """What this service answers with an HTTP error (used by injected faults)."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return Response.json(status, {"error": f"HTTP {status}"}, **headers)

    def authorization(self) -> str | None:
        """The ``Authorization`` header this peer accepts (None: it checks none)."""
        return None

    # lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "peer not started"
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._server = _Server((LOOPBACK, 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    # faults ----------------------------------------------------------------------------

    def fail(self, times: int = 1, status: int = 500) -> None:
        self._queue(*[_Fault("status", self.error_response(status))] * times)

    def throttle(self, retry_after: int = 7, times: int = 1) -> None:
        self._queue(*[_Fault("status", self.error_response(429, retry_after))] * times)

    def stall(self, seconds: float) -> None:
        self._queue(_Fault("stall", seconds=seconds))

    def drop(self, times: int = 1) -> None:
        self._queue(*[_Fault("drop")] * times)

    def _queue(self, *faults: _Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Request]:
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise TimeoutError(f"expected {count} requests, got {len(self.requests)}")
            return list(self.requests)

    def reset(self) -> None:
        """Forget the requests and the hand-offs (queued faults stay)."""
        with self._lock:
            self.requests.clear()
        self.handoffs.reset()

    # plumbing --------------------------------------------------------------------------

    def _arrive(self, request: Request, *, faults: bool) -> _Fault | None:
        """Record ``request``; the queued fault it meets, if any (only with ``faults``)."""
        with self._arrived:
            fault = self._faults.popleft() if faults and self._faults else None
            request.fault = fault.kind if fault else None
            self.requests.append(request)
            self._arrived.notify_all()
        return fault

    def _control(self, request: Request) -> Response | None:
        """The answer to a control request (see the module's doc), or None for any other."""
        target = urlsplit(request.path)
        if request.method == "GET" and target.path == "/healthz":
            return Response.json(200, {"status": "ok", "peer": type(self).__name__})
        if request.method == "GET" and target.path == "/_peer/stats":
            return Response.json(200, self.handoffs.stats())
        if request.method == "GET" and target.path == "/_peer/first":
            key = parse_qs(target.query).get("key", [""])[0]
            found = self.handoffs.first.get(key)
            return Response.json(200, {"time": found[0] if found else None, "index": found[1] if found else None})
        if request.method == "POST" and target.path == "/_peer/reset":
            self.reset()
            return Response.json(200, {"reset": True})
        return None

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        request = Request(
            handler.command,
            handler.path,
            {name.lower(): value for name, value in handler.headers.items()},
            handler.rfile.read(length),
        )
        arrived = time.time()
        response = self._control(request)
        if response is None:
            fault = self._arrive(request, faults=True)
            if fault is not None and fault.kind == "drop":
                handler.close_connection = True
                handler.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault is not None and fault.kind == "stall":
                self._release.wait(fault.seconds)
            response = fault.response if fault is not None and fault.response else self.handle(request)
            self.handoffs.count(response, arrived)
            if self.latency > 0:
                self._release.wait(self.latency)
        handler.send_response(response.status)
        for name, value in response.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(response.body)))
        handler.end_headers()
        handler.wfile.write(response.body)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go in two writes: without this, Nagle's algorithm and
                # delayed ACKs hold every answer back ~40 ms.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:
                peer._serve(self)

            do_GET = do_PUT = do_DELETE = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    async def asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The peer as an ASGI app (no faults: those are the threaded peer's)."""
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = scope.get("query_string", b"").decode("latin-1")
        request = Request(scope["method"], scope["path"] + (f"?{query}" if query else ""),
                          {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]},
                          body)
        arrived = time.time()
        response = self._control(request)
        if response is None:
            self._arrive(request, faults=False)
            response = self.handle(request)
            self.handoffs.count(response, arrived)
            if self.latency > 0:
                await asyncio.sleep(self.latency)
        headers = [(name.lower().encode("latin-1"), value.encode("latin-1"))
                   for name, value in response.headers.items()]
        headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})
