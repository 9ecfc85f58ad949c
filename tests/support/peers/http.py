"""The common part of the HTTP peers: a ThreadingHTTPServer on 127.0.0.1, a record of
every request, and queued faults that the next requests meet instead of the real answer.

A peer is a context manager; ``handle(request)`` (per subclass) speaks the protocol.
Faults: ``fail(n, status)``, ``throttle(retry_after)``, ``stall(seconds)`` (answer
late; released at once when the peer stops) and ``drop(n)`` (close the connection
without answering).
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs

LOOPBACK = "127.0.0.1"


@dataclass
class Request:
    method: str
    path: str
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

    @classmethod
    def json(cls, status: int, value: Any, **headers: str) -> "Response":
        return cls(status, json.dumps(value).encode(), {"Content-Type": "application/json", **headers})


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
    def __init__(self) -> None:
        self.requests: list[Request] = []
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

    # plumbing --------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        request = Request(
            handler.command,
            handler.path,
            {name.lower(): value for name, value in handler.headers.items()},
            handler.rfile.read(length),
        )
        with self._arrived:
            fault = self._faults.popleft() if self._faults else None
            request.fault = fault.kind if fault else None
            self.requests.append(request)
            self._arrived.notify_all()
        if fault is not None and fault.kind == "drop":
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault is not None and fault.kind == "stall":
            self._release.wait(fault.seconds)
        response = fault.response if fault is not None and fault.response else self.handle(request)
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
