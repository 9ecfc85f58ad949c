"""A circuit breaker in front of the SMS provider.

When the provider keeps failing (timeouts, 5xx, throttling: transient errors), calling
it for every queued message only burns the messages' attempts, and an OTP dies before
the provider is back. The breaker stops that::

    closed --N consecutive transient failures--> open (cool-off)
    open   --cool-off over-->                    half-open: one trial send
    half-open --trial accepted (or refused for good)--> closed
    half-open --trial failed transiently-->       open again, cool-off doubled (capped)

While it is open the worker does not claim SMS at all, and messages it had already
claimed are put back in the queue, due when the breaker half-opens, without counting
the attempt. Any answer from the provider that is not a transient failure (an
accepted message, or a permanent refusal such as an invalid number) proves it is up
and resets the count.

One breaker per worker (per process): workers do not share its state. Time comes
from the worker's clock, so tests drive it with a FrozenClock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from senderid.clock import Clock

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
STATE_VALUES = {CLOSED: 0, OPEN: 1, HALF_OPEN: 2}  # the metrics gauge's values


class CircuitBreaker:
    def __init__(
        self,
        clock: Clock,
        *,
        failures: int = 5,
        cool_off: float = 30.0,
        max_cool_off: float = 300.0,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        if failures < 1 or cool_off <= 0:
            raise ValueError("failures must be at least 1 and cool_off positive")
        self._clock = clock
        self.threshold = failures
        self.base_cool_off = cool_off
        self.max_cool_off = max(cool_off, max_cool_off)
        self._on_change = on_change
        self._lock = threading.RLock()  # on_change may read the breaker
        self._state = CLOSED
        self._failures = 0  # consecutive transient failures while closed
        self._cool_off = cool_off  # the current (doubling) cool-off
        self._open_until: datetime | None = None
        self._trial_in_flight = False

    # -- reading ---------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """closed, open or half_open (an open breaker whose cool-off is over reads half_open)."""
        with self._lock:
            return self._current_state()

    @property
    def reopens_at(self) -> datetime:
        """When an open breaker lets a trial through (now, when it is not open)."""
        with self._lock:
            if self._state == OPEN and self._open_until is not None:
                return self._open_until
            return self._clock.now()

    @property
    def cool_off(self) -> float:
        with self._lock:
            return self._cool_off

    def admits(self) -> bool:
        """Would :meth:`allow` say yes now (without taking the half-open trial)?"""
        with self._lock:
            state = self._current_state()
            return state == CLOSED or (state == HALF_OPEN and not self._trial_in_flight)

    # -- deciding --------------------------------------------------------------------------

    def allow(self) -> bool:
        """May the worker call the provider now? In half-open, True once: the trial."""
        with self._lock:
            state = self._current_state()
            if state == CLOSED:
                return True
            if state == OPEN:
                return False
            if self._trial_in_flight:
                return False
            if self._state != HALF_OPEN:
                self._set(HALF_OPEN)
            self._trial_in_flight = True
            return True

    def record_success(self) -> None:
        """The provider answered (accepted, or refused for good): it is up."""
        with self._lock:
            self._failures = 0
            self._trial_in_flight = False
            self._cool_off = self.base_cool_off
            self._open_until = None
            if self._state != CLOSED:
                self._set(CLOSED)

    def record_failure(self) -> None:
        """A transient failure (no answer, 5xx, throttled, connection lost)."""
        with self._lock:
            if self._state == HALF_OPEN or self._trial_in_flight:
                self._trial_in_flight = False
                self._cool_off = min(self._cool_off * 2, self.max_cool_off)
                self._open()
                return
            if self._state == OPEN:
                return  # a send that started before the breaker opened
            self._failures += 1
            if self._failures >= self.threshold:
                self._cool_off = self.base_cool_off
                self._open()

    # -- internals -------------------------------------------------------------------------

    def _current_state(self) -> str:
        if self._state == OPEN and self._open_until is not None and self._clock.now() >= self._open_until:
            return HALF_OPEN
        return self._state

    def _open(self) -> None:
        self._failures = 0
        self._open_until = self._clock.now() + timedelta(seconds=self._cool_off)
        self._set(OPEN)

    def _set(self, state: str) -> None:
        self._state = state
        if self._on_change is not None:
            self._on_change(state)
