"""The client's retry policy, all of it.

What is retried
    A connection failure (refused, reset, DNS, TLS, timeout), HTTP 429 and HTTP 5xx,
    and only when the request is safe to send again: a GET/HEAD/OPTIONS, a DELETE
    (idempotent by HTTP's definition: deleting twice leaves what deleting once leaves),
    or a request that carries an ``Idempotency-Key`` header. Every other 4xx is final. A POST
    without the header is sent once, whatever happens.

How long to wait
    Exponential backoff with full jitter: before retry *n* (0-based) wait a uniformly
    random time in ``[0, min(max_delay, base_delay * 2**n)]`` (0.5 s base, 8 s cap).
    When the answer carries ``Retry-After`` (seconds or an HTTP-date) the client waits
    exactly that long instead, provided it is at most ``max_retry_after`` (30 s); a
    longer ask (an hourly OTP limit, say) is not slept through: the error is raised at
    once, with its ``retry_after``, for the caller to schedule.

``time_scale`` multiplies every wait; it exists so tests can check the waits
without sleeping for seconds.
"""

from __future__ import annotations

import email.utils
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

IDEMPOTENCY_HEADER = "Idempotency-Key"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Methods whose repetition has the effect of one request (RFC 9110 §9.2.2).
IDEMPOTENT_METHODS = SAFE_METHODS | {"DELETE"}


def _full_jitter(ceiling: float) -> float:
    return random.uniform(0.0, ceiling)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value; ``None`` if absent or unreadable.

    Accepts delay-seconds (``"1"``, also ``"1.5"``) and an HTTP-date; a date in the past
    gives ``0.0``. Negative, infinite or NaN numbers are unreadable.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" zones parse naive; HTTP-dates are GMT
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def is_replayable(request: httpx.Request) -> bool:
    """True when sending ``request`` twice cannot do the work twice."""
    return request.method in IDEMPOTENT_METHODS or IDEMPOTENCY_HEADER in request.headers


def is_retryable_status(status_code: int) -> bool:
    return status_code == 429 or status_code >= 500


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff parameters; see the module docstring for the rules."""

    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0
    time_scale: float = 1.0
    jitter: Callable[[float], float] = field(default=_full_jitter, repr=False, compare=False)

    def backoff(self, retry: int) -> float:
        """The (unscaled) jittered wait before retry number ``retry`` (0-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(retry, 32))
        return self.jitter(ceiling)

    def next_wait(
        self,
        *,
        retries_done: int,
        max_retries: int,
        request: httpx.Request,
        response: httpx.Response | None = None,
    ) -> float | None:
        """Seconds to wait before sending ``request`` again, or ``None`` to stop.

        ``response`` is the answer just received, or ``None`` when the attempt failed
        without one (a connection error or timeout).
        """
        if retries_done >= max_retries or not is_replayable(request):
            return None
        if response is None:
            return self.backoff(retries_done) * self.time_scale
        if not is_retryable_status(response.status_code):
            return None
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is None:
            return self.backoff(retries_done) * self.time_scale
        if retry_after > self.max_retry_after:
            return None
        return retry_after * self.time_scale
