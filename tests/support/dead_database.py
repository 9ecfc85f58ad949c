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
