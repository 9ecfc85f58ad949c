"""A real HTTP server for tests: uvicorn in a thread on a free loopback port.

Like ``senderid serve`` (which freezes what start-up built, ``gc.freeze()``), the objects
alive when the server starts are kept out of garbage collection while it runs: the server
shares the test process's heap, and a full collection of everything the test run built
so far pauses every thread, its event loop included, for a tenth of a second or more.
"""

from __future__ import annotations

import gc
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI


@contextmanager
def serve(app: FastAPI, port: int | None = None, **config: Any) -> Iterator[str]:
    """Run ``app`` until the block ends; yields its base URL (``http://127.0.0.1:PORT``).

    ``port``: one from :func:`peers.processes.free_port`, when the app must know its own URL beforehand
    (otherwise a free one, bound here before the server starts, so nothing can take it in
    between). ``config``: further :class:`uvicorn.Config` options (``loop``, ``http``, ...).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port or 0))
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                           access_log=False, lifespan="on", **config))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="test-server",
                              daemon=True)
    gc.collect()
    gc.freeze()
    try:
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.005)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        gc.unfreeze()
    if thread.is_alive():
        raise RuntimeError("the test server did not stop")
