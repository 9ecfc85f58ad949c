"""Databases in trouble, for real: a TCP server that accepts connections and never
answers (a hanging PostgreSQL), and a port nothing listens on (an outage)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.live_server import closed_port


@contextmanager
def hanging_server() -> Iterator[int]:
    """A loopback port whose server accepts every connection, reads what it is sent and
    never writes a byte back; yields the port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _peer = listener.accept()
            except OSError:
                continue
            conn.setblocking(False)
            held.append(conn)

    thread = threading.Thread(target=accept, name="hanging-database", daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        listener.close()


def postgres_url(port: int) -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/senderid"


@contextmanager
def hanging_postgres() -> Iterator[str]:
    with hanging_server() as port:
        yield postgres_url(port)


def unreachable_postgres() -> str:
    return postgres_url(closed_port())


class StallingProxy:
    """A TCP proxy on a loopback port in front of a real server, that can be told to stop
    forwarding: :meth:`freeze` holds every byte of the connections open now (it reads
    them and sends nothing on) while connections opened afterwards are forwarded;
    :meth:`stall` holds every connection, new ones included (they are accepted, then
    nothing goes through); :meth:`resume` forwards everything again, what was held first.

    A socket on either side sees nothing wrong: no reset, no close, only silence, as when
    a database server or a network path hangs.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._flows: list[threading.Event] = []  # one per connection: set while it flows
        self._sockets: list[socket.socket] = []
        self._stalled = False
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="stalling-proxy", daemon=True).start()

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        with self._lock:
            return len(self._flows)

    def freeze(self) -> None:
        with self._lock:
            for flow in self._flows:
                flow.clear()

    def stall(self) -> None:
        with self._lock:
            self._stalled = True
            for flow in self._flows:
                flow.clear()

    def resume(self) -> None:
        with self._lock:
            self._stalled = False
            for flow in self._flows:
                flow.set()

    def close(self) -> None:
        self._closed.set()
        self.resume()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.close()
                except OSError:
                    pass

    def _accept(self) -> None:
        self._listener.settimeout(0.05)
        while not self._closed.is_set():
            try:
                client, _peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            flow = threading.Event()
            with self._lock:
                if not self._stalled:
                    flow.set()
                self._flows.append(flow)
                self._sockets += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target, flow),
                                 name="stalling-proxy-pump", daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, flow: threading.Event) -> None:
        try:
            while True:
                data = source.recv(65536)
                while not flow.wait(0.05):  # held: read, kept, not sent on
                    if self._closed.is_set():
                        return
                if not data:
                    target.shutdown(socket.SHUT_WR)
                    return
                target.sendall(data)
        except OSError:
            for sock in (source, target):
                try:
                    sock.close()
                except OSError:
                    pass


@contextmanager
def stalling_proxy(url: str) -> Iterator[tuple[StallingProxy, str]]:
    """A :class:`StallingProxy` in front of the PostgreSQL server of ``url``; yields it and
    the same URL through it."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    proxy = StallingProxy((parsed.host or "127.0.0.1", parsed.port or 5432))
    try:
        yield proxy, parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    finally:
        proxy.close()
