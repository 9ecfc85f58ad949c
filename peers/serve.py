"""One HTTP provider peer in a process of its own, answering every SMS after a fixed latency.

    python -m peers.serve --protocol twilio|cellcast|webhook --latency 0.05 --port PORT

The peer is the tests' (:mod:`peers.cellcast`, :mod:`peers.twilio`, :mod:`peers.webhook`,
with their default credentials), served as an ASGI app on uvicorn (uvloop, httptools, no
access log, a listen backlog of 2048), so that the latency, not the peer's own Python, sets
how fast it can take SMS. Each SMS goes to ``send_path(protocol)``; ``authorization(protocol)``
is the header it accepts. Counters and ``/healthz``: the control paths of :mod:`peers.http`.
:func:`started` runs it in a subprocess on a free port, until the block ends.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from peers import processes
from peers.cellcast import CellcastPeer
from peers.http import HttpPeer
from peers.twilio import TwilioPeer
from peers.webhook import WebhookPeer

PEERS: dict[str, type[HttpPeer]] = {"cellcast": CellcastPeer, "twilio": TwilioPeer, "webhook": WebhookPeer}
PROTOCOLS = tuple(PEERS)


def make(protocol: str, latency: float = 0.0) -> HttpPeer:
    """The peer of ``protocol`` with its default credentials, answering after ``latency`` seconds."""
    if protocol not in PEERS:
        raise ValueError(f"unknown protocol {protocol!r}")
    peer = PEERS[protocol]()
    peer.latency = latency
    return peer


def send_path(protocol: str) -> str:
    """The path senderid's provider (and a plain client) POSTs each SMS to."""
    return make(protocol).send_path


def authorization(protocol: str) -> str | None:
    """The ``Authorization`` header the peer of ``protocol`` accepts (None: it checks none)."""
    return make(protocol).authorization()


@contextmanager
def started(protocol: str, latency: float, log_path: Path | None = None) -> Iterator[processes.Process]:
    """``python -m peers.serve`` on a free loopback port until the block ends (``process.base``)."""
    port = processes.free_port()
    argv = [sys.executable, "-m", "peers.serve", "--protocol", protocol, "--latency", str(latency),
            "--port", str(port)]
    env = processes.environment(pythonpath=[processes.REPO])
    with processes.serving(f"{protocol} peer", argv, port=port, env=env, log_path=log_path, stop_timeout=15) as peer:
        yield peer


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m peers.serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", choices=PROTOCOLS, required=True)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds before each answer (default 0.05)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(make(args.protocol, args.latency).asgi, host=args.host, port=args.port, loop="uvloop",
                http="httptools", interface="asgi3", lifespan="off", access_log=False, log_level="warning",
                server_header=False, date_header=False, backlog=2048)


if __name__ == "__main__":
    main()
