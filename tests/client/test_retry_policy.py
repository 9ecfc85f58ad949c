"""The retry rules of ``senderid.client._retry`` as pure functions (no server needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from senderid.client._retry import RetryPolicy, parse_retry_after

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
EXACT = RetryPolicy(jitter=lambda ceiling: ceiling)  # the top of each jitter range


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("1", 1.0),
        (" 2 ", 2.0),
        ("1.5", 1.5),
        ("0", 0.0),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),
        ("Thu, 02 Jan 2025 03:04:15 -0000", 10.0),
        (None, None),
        ("", None),
        ("-1", None),
        ("nan", None),
        ("inf", None),
        ("soon", None),
    ],
)
@pytest.mark.unit
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


@pytest.mark.unit
def test_backoff_doubles_up_to_the_cap() -> None:
    assert [EXACT.backoff(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert EXACT.backoff(10_000) == 8.0


@pytest.mark.unit
def test_full_jitter_stays_in_range() -> None:
    policy = RetryPolicy()
    for retry in range(6):
        ceiling = min(8.0, 0.5 * 2**retry)
        samples = [policy.backoff(retry) for _ in range(200)]
        assert all(0.0 <= s <= ceiling for s in samples)
        assert len(set(samples)) > 1


def wait(
    method: str = "GET",
    status: int | None = 503,
    *,
    headers: dict[str, str] | None = None,
    retries_done: int = 0,
    max_retries: int = 2,
    policy: RetryPolicy = EXACT,
) -> float | None:
    request = httpx.Request(method, "http://127.0.0.1/api/v1/x", headers=headers)
    response = None if status is None else httpx.Response(status, headers=headers)
    return policy.next_wait(
        retries_done=retries_done, max_retries=max_retries, request=request, response=response
    )


KEY = {"Idempotency-Key": "k"}


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"status": 503}, 0.5),
        ({"status": 500}, 0.5),
        ({"status": 429}, 0.5),
        ({"status": None}, 0.5),  # connection error on a GET
        ({"status": 503, "retries_done": 1}, 1.0),
        ({"status": 503, "retries_done": 2}, None),  # out of retries
        ({"status": 503, "max_retries": 0}, None),
        ({"status": 400}, None),
        ({"status": 401}, None),
        ({"status": 404}, None),
        ({"status": 408}, None),
        ({"status": 409}, None),
        ({"method": "POST", "status": 503}, None),  # no key: never replayed
        ({"method": "POST", "status": None}, None),
        ({"method": "POST", "status": 503, "headers": KEY}, 0.5),
        ({"method": "POST", "status": None, "headers": KEY}, 0.5),
        ({"method": "POST", "status": 400, "headers": KEY}, None),
        ({"status": 429, "headers": {"Retry-After": "3"}}, 3.0),
        ({"status": 503, "headers": {"Retry-After": "30"}}, 30.0),
        ({"status": 429, "headers": {"Retry-After": "31"}}, None),  # longer than max_retry_after
        ({"status": 429, "headers": {"Retry-After": "junk"}}, 0.5),
        (
            {"status": 429, "headers": {"Retry-After": "3"}, "policy": RetryPolicy(time_scale=0.1)},
            0.3,
        ),
    ],
)
@pytest.mark.unit
def test_next_wait(kwargs: dict[str, Any], expected: float | None) -> None:
    result = wait(**kwargs)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)
