"""One named provider as a worker serves it: a *channel*.

A worker serves every provider of the deployment's routes (:mod:`senderid.routing`), and
each has its own

* circuit breaker (:mod:`senderid.delivery.breaker`): a provider that keeps failing is
  left alone for a cool-off, and its messages go to the next provider of their route;
* window: how many of its sends may be in flight at once, ``SENDERID_DELIVERY_CONCURRENCY``
  or the provider's own limit (SMPP: window x binds), whichever is lower;
* rate cap (its ``max_per_second``, SMS parts per second): a token bucket in
  ``rate_buckets`` under the provider's name, shared by every worker
  (:class:`senderid.delivery.lanes.RateBucket`). The worker takes tokens from it in a
  claim's transaction (or one of their own when messages wait for them) and hands a
  message over only while it holds one (:attr:`Channel.allowance`); a message of several
  parts may take the allowance below zero, and the next take pays that back first;
* health row (:class:`senderid.delivery.health.HealthReport`: one per worker and provider)
  and metrics, labelled with the provider's name.

Which channel a message goes to is the router's choice (:mod:`senderid.delivery.router`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Connection

from senderid import metrics
from senderid.clock import Clock
from senderid.delivery import breaker as breakers
from senderid.delivery import health, lanes
from senderid.delivery.providers.base import Provider, max_in_flight
from senderid.settings import Settings


class Channel:
    """A provider with its breaker, window, rate bucket and health row."""

    def __init__(
        self, provider: Provider, settings: Settings, clock: Clock, *, worker: str, max_per_second: float,
        on_change: Callable[[Channel, str], None],
    ) -> None:
        self.provider = provider
        self.name = provider.name
        self.clock = clock
        own_limit = max_in_flight(provider)
        self.window = max(1, min(settings.delivery_concurrency, own_limit or settings.delivery_concurrency))
        self.breaker = breakers.CircuitBreaker(
            clock,
            failures=settings.delivery_breaker_failures,
            cool_off=settings.delivery_breaker_seconds,
            max_cool_off=settings.delivery_backoff_max_seconds,
            on_change=lambda state: on_change(self, state),
        )
        self.bucket = lanes.RateBucket(self.name, max_per_second) if max_per_second > 0 else None
        self.allowance = 0.0  # tokens taken from the bucket and not used yet (may be below 0)
        self.rate_wait_until: datetime | None = None  # the bucket holds less than a token until then
        self.in_flight = 0  # sends handed to a send thread and not finished (the worker's loop keeps it)
        self.health = health.HealthReport(worker, self.name, self.breaker)
        metrics.BREAKER_STATE.labels(self.name).set(breakers.STATE_VALUES[breakers.CLOSED])

    def __repr__(self) -> str:
        return f"Channel({self.name!r})"

    # -- what the router asks --------------------------------------------------------------

    def admits(self) -> bool:
        """May a message be given to it now? Closed; or half-open with nothing of its own in
        flight (the trial goes alone). Open: no."""
        if self.breaker.state == breakers.HALF_OPEN:
            return self.in_flight == 0 and self.breaker.admits()
        return self.breaker.admits()

    def has_room(self) -> bool:
        """A free slot in its window and, when capped, a token in hand."""
        return self.in_flight < self.window and self.has_token()

    def has_token(self) -> bool:
        return self.bucket is None or self.allowance >= 1

    def claim_room(self) -> int:
        """How many claimed messages it can take on: two windows when closed (one in flight,
        one held ready), the trial when half-open, none when open."""
        state = self.breaker.state
        if state == breakers.OPEN:
            return 0
        if state == breakers.HALF_OPEN:
            return 1 if self.admits() else 0
        return 2 * self.window

    # -- the rate cap ------------------------------------------------------------------------

    def rate_due(self, now: datetime) -> bool:
        """Worth asking the bucket now (capped, and not known to be empty until later)."""
        return self.bucket is not None and (self.rate_wait_until is None or now >= self.rate_wait_until)

    def tokens_for_claim(self, conn: Connection, now: datetime) -> float:
        """In a claim's transaction (locking the bucket's row): the whole messages it could
        send now, counting what it holds; pays back what it owes first. Infinite when uncapped."""
        if self.bucket is None:
            return math.inf
        if not self.rate_due(now):
            return max(0.0, math.floor(self.allowance))
        tokens = self._pay_back(conn, now)
        return max(0.0, math.floor(self.allowance + tokens))

    def take(self, conn: Connection, now: datetime, wanted: float) -> None:
        """Take up to ``wanted`` parts' worth from the bucket (what it holds first), in the
        caller's transaction; when the bucket has less than a token left, wait for it."""
        if self.bucket is None or not self.rate_due(now):
            return
        tokens = self._pay_back(conn, now)
        need = max(0.0, wanted - self.allowance)
        taken = min(tokens, need) if self.allowance + tokens >= 1 else 0.0
        if taken > 0:
            self.bucket.spend(conn, now, tokens, taken)
            self.allowance += taken
        left = tokens - taken
        self.rate_wait_until = None if left >= 1 else now + timedelta(seconds=self.bucket.wait_for(left))

    def spend(self, parts: int) -> None:
        """A message of ``parts`` parts handed over."""
        if self.bucket is not None:
            self.allowance -= parts

    def _pay_back(self, conn: Connection, now: datetime) -> float:
        """The bucket's tokens after paying what this channel owes (allowance below 0)."""
        assert self.bucket is not None
        tokens = self.bucket.available(conn, now)
        if self.allowance < 0 and tokens > 0:
            paid = min(tokens, -self.allowance)
            self.bucket.spend(conn, now, tokens, paid)
            self.allowance += paid
            tokens -= paid
        return tokens

    def rate_wait(self, now: datetime) -> float | None:
        """Seconds until its bucket is worth asking again; None when it is now or uncapped."""
        if self.rate_wait_until is None or self.rate_wait_until <= now:
            return None
        return (self.rate_wait_until - now).total_seconds()
