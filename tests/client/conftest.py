"""Fixtures: every client test runs twice, once through ``Client`` and once through
``AsyncClient`` (the ``twin`` fixtures), against a live local server.

The developer's SENDERID_*/CELLCAST_* variables are cleared by ``tests/conftest.py``."""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from senderid.client import AsyncClient, Client
from senderid.client._retry import RetryPolicy

from ._server import OTP_KEY, Handler, LiveServer, SpecFake

#: Real backoff, a hundred times faster: retries wait at most 5 ms, 10 ms, ...
FAST = RetryPolicy(time_scale=0.01)


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for all test clients: building one per client (what a default
    httpx client does) costs ~30 ms, most of this suite's run time. The servers are
    plain HTTP; the clients' own default transports are covered by test_config."""
    return ssl.create_default_context()


class Twin:
    """Runs one operation through a fresh ``Client`` or ``AsyncClient`` (each sending
    through a fresh httpx client, closed afterwards).

    ``op`` receives the client and returns the method's result (sync) or its
    coroutine (async), so a test reads the same for both:
    ``twin.run(lambda c: c.verify_token())``.
    """

    def __init__(self, kind: str, **client_kwargs: Any) -> None:
        self.kind = kind
        self.client_kwargs = client_kwargs

    def run(self, op: Callable[[Any], Any], **overrides: Any) -> Any:
        kwargs = {**self.client_kwargs, **overrides}
        if self.kind == "sync":
            with httpx.Client(verify=_tls()) as http, Client(http_client=http, **kwargs) as client:
                return op(client)

        async def main() -> Any:
            async with (
                httpx.AsyncClient(verify=_tls()) as http,
                AsyncClient(http_client=http, **kwargs) as client,
            ):
                return await op(client)

        return asyncio.run(main())

    def call(self, method: str, /, **kwargs: Any) -> Any:
        return self.run(lambda client: getattr(client, method)(**kwargs))


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], LiveServer]]:
    """Start a live server for a handler; all are stopped after the test."""
    servers: list[LiveServer] = []

    def start(handler: Handler) -> LiveServer:
        server = LiveServer(handler).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


@pytest.fixture
def spec_server(serve: Callable[[Handler], LiveServer]) -> LiveServer:
    return serve(SpecFake())


@pytest.fixture
def twin(kind: str, spec_server: LiveServer) -> Twin:
    """A client of the contract-following fake, as the OTP-requiring account."""
    return Twin(kind, base_url=spec_server.url, api_key=OTP_KEY, _retry_policy=FAST)


@pytest.fixture
def make_twin(kind: str) -> Callable[..., Twin]:
    def make(**client_kwargs: Any) -> Twin:
        return Twin(kind, **{"api_key": "test-key", "_retry_policy": FAST, **client_kwargs})

    return make
