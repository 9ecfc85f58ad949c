"""Retries against live servers: what is retried, how often, how long the waits are,
and that one logical POST keeps one Idempotency-Key across its retries."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from senderid.client import (
    AddResult,
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from senderid.client._retry import RetryPolicy

from . import _wire
from ._server import LiveServer, Reply, closed_port_url, script
from .conftest import Twin

UNAVAILABLE = Reply(503, _wire.failure("Service unavailable"))
OTP_SENT = Reply(200, _wire.ADD_OTP_SENT)
NUMBER = "+61491570156"

Serve = Callable[..., LiveServer]
MakeTwin = Callable[..., Twin]


def add(twin: Twin, **kwargs: Any) -> Any:
    return twin.call("add_custom_number", name="Support", number=NUMBER, **kwargs)


def test_post_retried_with_the_same_idempotency_key(make_twin: MakeTwin, serve: Serve) -> None:
    server = serve(script(UNAVAILABLE, UNAVAILABLE, OTP_SENT))
    result = add(make_twin(base_url=server.url, max_retries=2))
    assert isinstance(result, AddResult) and result.otp_sent
    keys = [seen.headers.get("idempotency-key") for seen in server.requests]
    assert len(keys) == 3
    assert len(set(keys)) == 1
    assert uuid.UUID(keys[0]).version == 4
    assert all(seen.json == {"name": "Support", "number": NUMBER} for seen in server.requests)


def test_each_logical_call_gets_its_own_key(make_twin: MakeTwin, serve: Serve) -> None:
    server = serve(script(OTP_SENT))
    twin = make_twin(base_url=server.url)
    add(twin)
    add(twin)
    first, second = (seen.headers["idempotency-key"] for seen in server.requests)
    assert first != second


def test_caller_key_is_sent_and_reused(make_twin: MakeTwin, serve: Serve) -> None:
    server = serve(script(UNAVAILABLE, OTP_SENT))
    add(make_twin(base_url=server.url), idempotency_key="order-1234")
    assert [seen.headers["idempotency-key"] for seen in server.requests] == ["order-1234"] * 2


@pytest.mark.parametrize("no_key", [False, None])
def test_post_without_key_is_sent_once(
    make_twin: MakeTwin, serve: Serve, no_key: bool | None
) -> None:
    server = serve(script(UNAVAILABLE, OTP_SENT))
    with pytest.raises(ServerError) as info:
        add(make_twin(base_url=server.url, max_retries=3), idempotency_key=no_key)
    assert info.value.status_code == 503
    assert len(server.requests) == 1
    assert "idempotency-key" not in server.requests[0].headers


def test_get_is_retried_without_a_key(make_twin: MakeTwin, serve: Serve) -> None:
    server = serve(
        script(Reply(502, "<html>Bad Gateway</html>"), Reply(200, _wire.token_verified("test-key")))
    )
    assert make_twin(base_url=server.url).call("verify_token").token == "test-key"
    assert len(server.requests) == 2
    assert all("idempotency-key" not in seen.headers for seen in server.requests)


def test_retry_after_is_honoured(make_twin: MakeTwin, serve: Serve) -> None:
    # Retry-After: 1 at time_scale 0.1 is a 0.1 s wait; backoff alone would be <= 0.05 s.
    server = serve(script(Reply(429, _wire.failure("Slow down"), {"Retry-After": "1"}), OTP_SENT))
    add(make_twin(base_url=server.url, _retry_policy=RetryPolicy(time_scale=0.1)))
    first, second = server.requests
    assert 0.095 <= second.at - first.at < 1.0


def test_long_retry_after_is_not_slept_through(make_twin: MakeTwin, serve: Serve) -> None:
    server = serve(
        script(Reply(429, _wire.failure("Hourly limit"), {"Retry-After": "3600"}), OTP_SENT)
    )
    with pytest.raises(RateLimitError) as info:
        add(make_twin(base_url=server.url))
    assert info.value.retry_after == 3600.0
    assert len(server.requests) == 1


def test_rate_limit_retries_run_out(make_twin: MakeTwin, serve: Serve) -> None:
    server = serve(script(Reply(429, _wire.failure("Slow down"), {"Retry-After": "0"})))
    with pytest.raises(RateLimitError) as info:
        add(make_twin(base_url=server.url, max_retries=2))
    assert info.value.retry_after == 0.0
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(400, _wire.ADD_NAME_REQUIRED), ValidationError),
        (Reply(401, _wire.TOKEN_EXPIRED), AuthenticationError),
        (Reply(404, _wire.failure("Not found")), NotFoundError),
        (Reply(409, _wire.failure("Conflict")), ConflictError),
    ],
)
def test_other_4xx_are_never_retried(
    make_twin: MakeTwin, serve: Serve, reply: Reply, error: type
) -> None:
    server = serve(script(reply, OTP_SENT))
    with pytest.raises(error):
        add(make_twin(base_url=server.url, max_retries=3))
    assert len(server.requests) == 1


def test_max_retries_zero_means_one_attempt(make_twin: MakeTwin, serve: Serve) -> None:
    server = serve(script(UNAVAILABLE, OTP_SENT))
    with pytest.raises(ServerError):
        add(make_twin(base_url=server.url, max_retries=0))
    assert len(server.requests) == 1


def test_connection_refused(make_twin: MakeTwin, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="senderid.client")
    with pytest.raises(APIConnectionError) as info:
        make_twin(base_url=closed_port_url(), max_retries=2).call("verify_token")
    assert not isinstance(info.value, APITimeoutError)
    assert info.value.request.method == "GET"
    assert info.value.message.startswith("Connection error: GET http://127.0.0.1:")
    retries = [
        r for r in caplog.records if r.name == "senderid.client" and "retrying" in r.getMessage()
    ]
    assert len(retries) == 2
    assert "test-key" not in caplog.text  # the key is never logged


def test_dropped_connection_is_retried(make_twin: MakeTwin, serve: Serve) -> None:
    server = serve(script(Reply(drop=True), OTP_SENT))
    assert add(make_twin(base_url=server.url)).otp_sent
    assert len(server.requests) == 2


def test_timeout(make_twin: MakeTwin, serve: Serve) -> None:
    server = serve(script(Reply(200, _wire.ADD_OTP_SENT, delay=0.5)))
    with pytest.raises(APITimeoutError) as info:
        add(make_twin(base_url=server.url, timeout=0.05, max_retries=1))
    assert isinstance(info.value, APIConnectionError)
    assert len(server.requests) == 2


def test_timeout_without_key_is_not_retried(make_twin: MakeTwin, serve: Serve) -> None:
    server = serve(script(Reply(200, _wire.ADD_OTP_SENT, delay=0.5)))
    with pytest.raises(APITimeoutError):
        add(make_twin(base_url=server.url, timeout=0.05, max_retries=2), idempotency_key=False)
    assert len(server.requests) == 1
