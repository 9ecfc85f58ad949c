"""One bind: its session (re-bound on its own when it dies) and its ``submit_sm`` window.

The window is the number of ``submit_sm`` a bind keeps outstanding at once. Its
effective size follows the SMSC (additive increase, multiplicative decrease):

* ``ESME_RTHROTTLED`` or ``ESME_RMSGQFUL`` on a ``submit_sm_resp`` halves it (never
  below 1) and pauses the bind: nothing more is submitted on it for a back-off that
  starts at ``backoff`` seconds and doubles while the SMSC keeps throttling, up to
  ``backoff_max``. A throttled answer to a ``submit_sm`` written before the current
  pause began belongs to the same episode and changes nothing more;
* each ``ESME_ROK`` grows it by ``1/size`` (about one slot per window of accepted
  submits) back up to the configured ``window``, and a success submitted after the
  pause ends the back-off sequence.

Slots are handed out first come, first served (a send waits behind at most
``window x binds`` others when the caller keeps to ``max_in_flight``), except that a
message already under way (its next part, or a part submitted again after a throttle)
goes to the front, so that started messages finish first.

A bind's load counts every send that chose it and has not finished with it (``sends``),
not only those holding or queued for a slot: a send counts from the moment it is
chosen, while it waits for the session to bind, between the parts of a message and
during a throttle pause. So threads that choose at the same moment, or while a bind is
still binding, see each other and spread over the binds instead of all taking the one
that looked idle.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from smpplib import consts

from senderid.delivery.providers.base import ProviderError, TransientError
from senderid.delivery.providers.smpp.protocol import NAME, THROTTLE_STATUSES
from senderid.delivery.providers.smpp.session import Session

log = logging.getLogger("senderid.delivery.smpp")

SessionFactory = Callable[[socket.socket, str], Session]
Binder = Callable[[Session], None]  # sends bind_transceiver; raises ProviderError


class _Ticket:
    __slots__ = ("event", "granted")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.granted = False


class Bind:
    def __init__(
        self,
        index: int,
        host: str,
        port: int,
        timeout: float,
        window: int,
        new_session: SessionFactory,
        bind_session: Binder,
        backoff: float,
        backoff_max: float,
    ) -> None:
        self.index = index
        self._host, self._port = host, port
        self._timeout = timeout
        self._new_session = new_session
        self._bind_session = bind_session
        self.window = window
        self._backoff_base = backoff
        self._backoff_max = backoff_max
        self._lock = threading.Lock()  # the window's state
        self._limit = float(window)  # the effective window (AIMD)
        self.in_flight = 0
        self.sends = 0  # sends that chose this bind and have not finished (the provider's lock)
        self._queue: deque[_Ticket] = deque()
        self._paused_until = 0.0
        self._episode_started = float("-inf")  # when the current throttle pause began
        self._backoff = 0.0  # the last pause; 0 once a submit after it was accepted
        self._connect_lock = threading.Lock()
        self.session: Session | None = None
        self.connect_failures = 0
        self.retry_connect_at = 0.0
        self.closed = False

    # state the provider reads to choose a bind (without locks: a hint) ----------------

    @property
    def alive(self) -> bool:
        session = self.session
        return session is not None and session.alive

    @property
    def effective_window(self) -> int:
        return max(1, int(self._limit))

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def load(self) -> float:
        """How busy the bind is: the sends on it per usable slot; paused binds last."""
        busy = self.sends / self.effective_window
        return busy + (1_000.0 if time.monotonic() < self._paused_until else 0.0)

    # the session ----------------------------------------------------------------------

    def ensure_session(self) -> Session:
        """The bound session, binding a new one when there is none (or it died)."""
        with self._connect_lock:
            if self.closed:
                raise TransientError(f"{NAME}: the provider is closed")
            session = self.session
            if session is not None and session.alive:
                return session
            self.session = None
            try:
                session = self._connect()
            except ProviderError:
                self.connect_failures += 1
                self.retry_connect_at = time.monotonic() + min(
                    30.0, 0.5 * 2 ** min(self.connect_failures - 1, 6))
                raise
            self.connect_failures = 0
            self.session = session
            return session

    def _connect(self) -> Session:
        try:
            sock = socket.create_connection((self._host, self._port), timeout=self._timeout)
        except OSError as exc:
            raise TransientError(
                f"{NAME}: cannot connect to {self._host}:{self._port} ({exc.strerror or type(exc).__name__})"
            ) from None
        # Without Nagle: a window's next submit_sm leaves at once instead of waiting for the
        # answer to the one before (PDUs are small and written whole).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = self._new_session(sock, f"smpp-bind-{self.index}")
        try:
            self._bind_session(session)
        except ProviderError:
            session.kill()
            raise
        return session

    def close(self, grace: float) -> None:
        with self._lock:
            self.closed = True
            for ticket in self._queue:
                ticket.event.set()
        with self._connect_lock:
            session, self.session = self.session, None
        if session is not None:
            session.close(grace)

    # the window -----------------------------------------------------------------------

    def acquire(self, deadline: float, urgent: bool = False) -> bool:
        """Take a window slot, waiting until ``deadline`` (monotonic); False if none came.

        ``urgent`` (a message under way) queues at the front instead of the back.
        """
        ticket = _Ticket()
        with self._lock:
            if self.closed:
                raise TransientError(f"{NAME}: the provider is closed")
            if urgent:
                self._queue.appendleft(ticket)
            else:
                self._queue.append(ticket)
            self._grant()
        while True:
            ticket.event.wait(max(deadline - time.monotonic(), 0.0))
            with self._lock:
                if ticket.granted:
                    if self.closed:
                        self.in_flight -= 1
                        raise TransientError(f"{NAME}: the provider is closed")
                    return True
                if self.closed or time.monotonic() >= deadline:
                    self._queue.remove(ticket)
                    if self.closed:
                        raise TransientError(f"{NAME}: the provider is closed")
                    return False

    def _grant(self) -> None:
        """Hand free slots to the queue's head (with ``_lock`` held)."""
        if self.closed or time.monotonic() < self._paused_until:
            return
        while self._queue and self.in_flight < self.effective_window:
            ticket = self._queue.popleft()
            ticket.granted = True
            self.in_flight += 1
            ticket.event.set()

    def release(self, status: int | None, sent_at: float) -> None:
        """Give the slot back with the submit_sm_resp's status (None: no response)."""
        with self._lock:
            self.in_flight -= 1
            if status in THROTTLE_STATUSES:
                self._throttled(sent_at)
            elif status == consts.SMPP_ESME_ROK:
                self._limit = min(float(self.window), self._limit + 1.0 / self._limit)
                if sent_at >= self._paused_until:
                    self._backoff = 0.0
            self._grant()

    def _throttled(self, sent_at: float) -> None:
        if sent_at < self._episode_started:
            return  # submitted before the current pause: the same episode
        now = time.monotonic()
        self._backoff = self._backoff_base if self._backoff == 0 else min(
            self._backoff_max, self._backoff * 2)
        self._episode_started = now
        self._paused_until = now + self._backoff
        self._limit = max(1.0, self._limit / 2)
        resume = threading.Timer(self._backoff, self._resume)
        resume.daemon = True
        resume.start()
        log.info("SMSC throttled bind %d: pausing %.2fs, window %d", self.index, self._backoff,
                 self.effective_window)

    def _resume(self) -> None:
        with self._lock:
            self._grant()

    def state(self) -> dict[str, Any]:
        """A snapshot for logs and tests."""
        with self._lock:
            return {"index": self.index, "alive": self.alive, "sends": self.sends,
                    "in_flight": self.in_flight, "waiting": self.waiting,
                    "window": self.effective_window,
                    "paused_for": max(0.0, self._paused_until - time.monotonic())}
