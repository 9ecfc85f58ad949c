"""The delivery worker: claim due messages, hand them to the provider, record the outcome.

Each message is handled in three short steps, never holding a transaction
open across the network call::

    1. claim (one write transaction): status sending, lease, attempts + 1
    2. provider.send()            (no transaction)
    3. record (one write transaction): sent | retry later | failed | dead

A crash between 1 and 3 leaves a leased message that the next claim takes
again after the lease: nothing is lost. A crash between the provider's
acceptance and step 3 sends that SMS twice, with the same text (the code is
drawn once, when the message is queued), so the user never gets two codes.

Each round also delivers one batch of account webhook events the same way
(:mod:`senderid.delivery.webhooks`), so every worker handles both.

A circuit breaker (:mod:`senderid.delivery.breaker`) sits in front of the
provider: after ``SENDERID_DELIVERY_BREAKER_FAILURES`` transient failures in a
row the worker stops claiming SMS for a cool-off, and puts back the ones it
holds, unsent and without using an attempt.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from datetime import datetime, timedelta

from sqlalchemy import Connection

from senderid import metrics
from senderid.clock import Clock
from senderid.delivery import breaker, events, outbox, webhooks
from senderid.delivery.providers.base import (
    OutgoingSms,
    PermanentError,
    Provider,
    ProviderError,
    TransientError,
)
from senderid.settings import Settings
from senderid.store.db import Database

log = logging.getLogger("senderid.worker")


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: about base·2^(attempt-1), between half and all of it."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return ceiling * (0.5 + 0.5 * (rng or random).random())


class Worker:
    def __init__(
        self, db: Database, settings: Settings, provider: Provider, clock: Clock,
        name: str | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.provider = provider
        self.clock = clock
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        self._wake = threading.Event()
        self.webhooks = webhooks.Dispatcher(db, settings, clock, backoff=backoff_delay)
        self.breaker = breaker.CircuitBreaker(
            clock,
            failures=settings.delivery_breaker_failures,
            cool_off=settings.delivery_breaker_seconds,
            max_cool_off=settings.delivery_backoff_max_seconds,
            on_change=self._breaker_changed,
        )
        metrics.BREAKER_STATE.labels(provider.name).set(breaker.STATE_VALUES[breaker.CLOSED])

    def wake(self) -> None:
        self._wake.set()

    def run_once(self) -> int:
        """Claim one batch of SMS and one of account webhook events, and handle them.

        Returns how many messages and events were handled. While the circuit breaker
        is open no SMS is claimed; once it half-opens, one (the trial).
        """
        state = self.breaker.state
        batch: list[outbox.Claimed] = []
        if state != breaker.OPEN:
            with self.db.write() as conn:
                batch = outbox.claim(
                    conn, now=self.clock.now(), worker=self.name,
                    lease_seconds=self.settings.worker_lease_seconds,
                    limit=1 if state == breaker.HALF_OPEN else self.settings.worker_batch_size,
                )
        for message in batch:
            self._deliver(message)
        return len(batch) + self.webhooks.run_once()

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set; sleep between empty polls unless woken."""
        log.info("worker started", extra={"worker": self.name, "provider": self.provider.name})
        while not stop.is_set():
            try:
                handled = self.run_once()
            except Exception:
                log.exception("worker loop failed; retrying")
                handled = 0
            if handled == 0:
                self._wake.wait(self.settings.worker_poll_seconds)
                self._wake.clear()
        log.info("worker stopped", extra={"worker": self.name})

    def _deliver(self, message: outbox.Claimed) -> None:
        now = self.clock.now()
        provider = self.provider.name
        if message.expires_at is not None and message.expires_at <= now:
            self._record(message, outbox.CANCELLED, "expired before it could be delivered")
            metrics.SMS_SENDS.labels(provider, "cancelled").inc()
            return
        if not self.breaker.allow():
            self._defer(message)
            return
        sms = OutgoingSms(message.id, message.to, message.sender, message.body)
        started = time.perf_counter()
        try:
            try:
                result = self.provider.send(sms)
            finally:
                metrics.SMS_SEND_SECONDS.labels(provider).observe(time.perf_counter() - started)
        except PermanentError as exc:
            self.breaker.record_success()  # it answered: refused for good, but up
            self._record(message, outbox.FAILED, exc.reason)
            metrics.SMS_SENDS.labels(provider, "permanent_error").inc()
            return
        except TransientError as exc:
            self.breaker.record_failure()
            self._retry_or_die(message, exc)
            return
        except Exception as exc:  # a provider bug: never lose the message over it
            log.exception("provider %s raised unexpectedly", provider)
            self.breaker.record_failure()
            self._retry_or_die(message, TransientError(f"unexpected {type(exc).__name__}"))
            return
        self.breaker.record_success()
        with self.db.write() as conn:
            now = self.clock.now()
            outbox.mark_sent(
                conn, message.id, now=now, provider=provider,
                provider_message_id=result.provider_message_id,
            )
            self._emit(conn, message, "message.sent", now)
            if result.provider_message_id:
                # a receipt that came before this write (the SMSC was quicker than us)
                outbox.apply_early_receipts(
                    conn, provider=provider, provider_message_id=result.provider_message_id, now=now,
                )
        metrics.SMS_SENDS.labels(provider, "sent").inc()
        log.info("sms sent", extra={"message_id": message.id, "attempts": message.attempts})

    def _defer(self, message: outbox.Claimed) -> None:
        """The breaker is open: put the message back for when it half-opens, attempt unused."""
        with self.db.write() as conn:
            outbox.release(conn, message.id, now=self.clock.now(), next_attempt_at=self.breaker.reopens_at)
        metrics.SMS_DEFERRED.labels(self.provider.name).inc()

    def _breaker_changed(self, state: str) -> None:
        provider = self.provider.name
        metrics.BREAKER_STATE.labels(provider).set(breaker.STATE_VALUES[state])
        if state == breaker.OPEN:
            metrics.BREAKER_OPENED.labels(provider).inc()
            log.warning(
                "sms provider keeps failing: circuit breaker open",
                extra={"provider": provider, "cool_off_seconds": self.breaker.cool_off},
            )
        else:
            log.info("circuit breaker %s", state.replace("_", "-"), extra={"provider": provider})

    def _retry_or_die(self, message: outbox.Claimed, error: ProviderError) -> None:
        if message.attempts >= self.settings.delivery_max_attempts:
            self._record(message, outbox.DEAD, f"gave up after {message.attempts} attempts: {error.reason}")
            metrics.SMS_SENDS.labels(self.provider.name, "dead").inc()
            return
        delay = backoff_delay(
            message.attempts, self.settings.delivery_backoff_seconds,
            self.settings.delivery_backoff_max_seconds,
        )
        if error.retry_after is not None:
            delay = max(delay, error.retry_after)
        now = self.clock.now()
        with self.db.write() as conn:
            outbox.mark_retry(
                conn, message.id, now=now, next_attempt_at=now + timedelta(seconds=delay),
                error=error.reason,
            )
        metrics.SMS_SENDS.labels(self.provider.name, "transient_error").inc()
        log.warning(
            "sms send failed; will retry",
            extra={"message_id": message.id, "attempts": message.attempts, "error": error.reason},
        )

    def _record(self, message: outbox.Claimed, status: str, error: str) -> None:
        with self.db.write() as conn:
            now = self.clock.now()
            outbox.mark_ended(conn, message.id, now=now, status=status, error=error)
            if status in (outbox.FAILED, outbox.DEAD):
                self._emit(conn, message, "message.failed", now, status=status, error=error)
        log.warning(
            "sms not delivered",
            extra={"message_id": message.id, "status": status, "error": error},
        )

    @staticmethod
    def _emit(conn: Connection, message: outbox.Claimed, type: str, now: datetime, **extra: str) -> None:
        """Tell the account's webhook about a gateway message (not about OTP SMS)."""
        if message.kind != "sms" or message.account_id is None:
            return
        events.emit(conn, now=now, account_id=message.account_id, type=type,
                    data={"id": message.id, "to": message.to, "sender": message.sender, **extra})


class WorkerThread:
    """A worker running in a daemon thread of the server process."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=worker.run, args=(self._stop,), name="senderid-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self.worker.wake()
        self._thread.join(timeout)


