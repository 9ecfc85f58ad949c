"""A real senderid server on a loopback port, for the client and ``senderid api`` tests.

``live_server`` serves ``create_app(settings, context=ctx, run_worker=True)`` with
uvicorn in a thread (:func:`tests.support.live.serve`), on the test database of ``ctx`` (SQLite and PostgreSQL, through
the ``database_url`` fixture), with the delivery worker running, so an OTP reaches
``GET /dev/inbox.json`` the way it does under ``senderid serve``. The clock is the
test's ``FrozenClock``: a test moves it forward (``clock.advance``) to leave a
cooldown behind, and the server sees it at once.

Import the fixture into a test module with ``from tests.support.live_server import live_server``.
"""

from __future__ import annotations

import functools
import re
import socket
import ssl
import time
from collections.abc import Iterator

import httpx
import pytest

from senderid.api.app import create_app
from senderid.domain.context import Context
from tests.support.live import serve

_CODE = re.compile(r"\bcode is (\d{6})\b")


@functools.cache
def tls() -> ssl.SSLContext:
    """One TLS context for every test HTTP client: httpx builds one per client by default,
    which costs ~30-100 ms, most of these tests' run time. The servers are plain HTTP."""
    return ssl.create_default_context()


@pytest.fixture
def live_server(ctx: Context) -> Iterator[str]:
    """The base URL (``http://127.0.0.1:<port>``) of a server running on ``ctx``."""
    app = create_app(ctx.settings, context=ctx, run_worker=True)
    with serve(app, loop="asyncio", ws="none", timeout_graceful_shutdown=5) as base_url:
        yield base_url


def codes(base_url: str, number: str) -> list[str]:
    """The OTPs in the developer inbox for ``number`` (E.164), newest first."""
    return [
        match.group(1)
        for message in inbox(base_url)
        if message["to"] == number and (match := _CODE.search(message["body"]))
    ]


def wait_for_code(base_url: str, number: str, *, count: int = 1, timeout: float = 10.0) -> str:
    """The newest OTP for ``number`` once at least ``count`` have arrived (the worker
    delivers them a moment after the request that queued them)."""
    deadline = time.monotonic() + timeout
    while True:
        found = codes(base_url, number)
        if len(found) >= count:
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} OTP(s) for {number} never reached /dev/inbox.json")
        time.sleep(0.02)


def inbox(base_url: str) -> list[dict[str, str]]:
    """Every SMS in the developer inbox, newest first."""
    response = httpx.get(f"{base_url}/dev/inbox.json", timeout=5, verify=tls())
    response.raise_for_status()
    messages: list[dict[str, str]] = response.json()
    return messages


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
