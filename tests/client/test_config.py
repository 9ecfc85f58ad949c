"""Construction: environment fallbacks, base URL handling, lifecycles, own http clients."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from senderid.client import (
    CELLCAST_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    AsyncClient,
    Client,
    MissingAPIKeyError,
    MissingBaseURLError,
    SenderIdError,
)

from . import _wire
from ._server import LiveServer, Reply, Seen, script
from .conftest import Twin

CLIENTS = [Client, AsyncClient]
Serve = Callable[..., LiveServer]


@pytest.fixture
def echo(serve: Serve) -> LiveServer:
    """Answers token/verify with whatever key it was sent."""

    def handler(seen: Seen) -> Reply:
        return Reply(200, _wire.token_verified(seen.headers["authorization"].split()[1]))

    return serve(handler)


def key_seen(kind: str, server: LiveServer, **client_kwargs: object) -> str:
    twin = Twin(kind, base_url=server.url, **client_kwargs)
    return str(twin.call("verify_token").token)


def test_key_from_senderid_env(
    kind: str, echo: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENDERID_API_KEY", "from-senderid-env")
    monkeypatch.setenv("CELLCAST_API_KEY", "from-cellcast-env")
    assert key_seen(kind, echo) == "from-senderid-env"


def test_key_falls_back_to_cellcast_env(
    kind: str, echo: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENDERID_API_KEY", "  ")  # blank counts as unset
    monkeypatch.setenv("CELLCAST_API_KEY", "from-cellcast-env")
    assert key_seen(kind, echo) == "from-cellcast-env"


def test_key_is_stripped(kind: str, echo: LiveServer) -> None:
    assert key_seen(kind, echo, api_key=" read-from-a-file\n") == "read-from-a-file"


def test_key_argument_beats_env(
    kind: str, echo: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENDERID_API_KEY", "from-env")
    assert key_seen(kind, echo, api_key="from-argument") == "from-argument"


@pytest.mark.unit
@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize("api_key", [None, ""])
def test_no_key_is_a_clear_error(cls: type, api_key: str | None) -> None:
    with pytest.raises(MissingAPIKeyError, match=r"SENDERID_API_KEY.*CELLCAST_API_KEY") as info:
        cls(api_key=api_key, base_url="http://127.0.0.1:8080")
    assert isinstance(info.value, SenderIdError)


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize("base_url", [None, "", "  "])
def test_no_base_url_refuses_rather_than_defaulting_to_a_third_party(
    cls: type, base_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forgotten base_url must not send a senderid key to Cellcast: no default server."""
    monkeypatch.setenv("SENDERID_BASE_URL", " ")  # blank counts as unset
    with pytest.raises(MissingBaseURLError) as info:
        cls(api_key="sid_secret", base_url=base_url)
    message = str(info.value)
    assert "base_url" in message and "SENDERID_BASE_URL" in message
    assert "sid_secret" not in message
    assert isinstance(info.value, SenderIdError)


def test_base_url_from_env(kind: str, echo: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDERID_BASE_URL", echo.url)
    assert Twin(kind, api_key="k").call("verify_token").token == "k"
    assert echo.requests[0].path == "/api/v1/user/token/verify"


def test_base_url_argument_beats_env(
    kind: str, echo: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENDERID_BASE_URL", "http://127.0.0.1:9")
    assert key_seen(kind, echo, api_key="k") == "k"


@pytest.mark.parametrize("suffix", ["", "/", "/api/v1", "/api/v1/"])
def test_base_url_may_carry_api_v1(kind: str, echo: LiveServer, suffix: str) -> None:
    Twin(kind, api_key="k", base_url=echo.url + suffix).call("verify_token")
    assert echo.requests[0].path == "/api/v1/user/token/verify"


@pytest.mark.unit
@pytest.mark.parametrize("cls", CLIENTS)
def test_defaults(cls: type) -> None:
    client = cls(api_key="secret-key", base_url=CELLCAST_BASE_URL)  # Cellcast, when asked for
    assert client.base_url == CELLCAST_BASE_URL == "https://api.cellcast.com"
    assert client.timeout == httpx.Timeout(DEFAULT_TIMEOUT) == httpx.Timeout(10.0)
    assert client.max_retries == DEFAULT_MAX_RETRIES == 2
    assert "secret-key" not in repr(client)
    if cls is Client:
        client.close()
    else:
        asyncio.run(client.aclose())


@pytest.mark.unit
@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_url": "ftp://example.com"},
        {"base_url": "not a url"},
        {"max_retries": -1},
        {"max_retries": 1.5},
    ],
)
def test_bad_arguments(cls: type, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        cls(api_key="k", **{"base_url": "http://127.0.0.1:8080", **kwargs})


def test_bad_idempotency_key(make_twin: Callable[..., Twin], serve: Serve) -> None:
    server = serve(script(Reply(200, _wire.ADD_OTP_SENT)))
    with pytest.raises(ValueError):
        make_twin(base_url=server.url).call(
            "add_custom_number", name="x", number="y", idempotency_key=""
        )
    assert server.requests == []


@pytest.mark.unit
def test_wrong_http_client_type() -> None:
    with httpx.Client() as sync_http, pytest.raises(TypeError):
        AsyncClient(api_key="k", http_client=sync_http)

    async def main() -> None:
        async with httpx.AsyncClient() as async_http:
            with pytest.raises(TypeError):
                Client(api_key="k", http_client=async_http)

    asyncio.run(main())


def test_sync_lifecycle_and_own_http_client(echo: LiveServer) -> None:
    with Client(api_key="k", base_url=echo.url) as client:
        client.verify_token()
    assert client._http.is_closed

    with httpx.Client(headers={"X-Trace": "mine"}) as http:
        with Client(api_key="k", base_url=echo.url, http_client=http) as client:
            client.verify_token()
        assert not http.is_closed  # the caller's client is the caller's to close
        Client(api_key="k", base_url=echo.url, http_client=http).verify_token()
    assert [seen.headers.get("x-trace") for seen in echo.requests] == [None, "mine", "mine"]


def test_async_lifecycle_and_own_http_client(echo: LiveServer) -> None:
    async def main() -> None:
        async with AsyncClient(api_key="k", base_url=echo.url) as client:
            await client.verify_token()
        assert client._http.is_closed

        async with httpx.AsyncClient(headers={"X-Trace": "mine"}) as http:
            async with AsyncClient(api_key="k", base_url=echo.url, http_client=http) as client:
                await client.verify_token()
            assert not http.is_closed

    asyncio.run(main())
    assert [seen.headers.get("x-trace") for seen in echo.requests] == [None, "mine"]
