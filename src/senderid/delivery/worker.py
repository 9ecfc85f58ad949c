"""The delivery worker: claim due messages, hand them to the provider, record the outcomes.

A worker keeps a *window* of sends in flight — up to ``SENDERID_DELIVERY_CONCURRENCY``
(and no more than the provider can use, e.g. SMPP's window × binds) — and never holds a
transaction open across a network call::

    claim (one write transaction: the free slots' worth, OTP lane first; see lanes.py)
      -> each message to a send thread: provider.send()            (no transaction)
      -> outcomes collected; all that finished since the last record are
         recorded in one write transaction: sent | retry later | failed | dead

A crash between the claim and the record leaves leased messages that the next claim
takes again once the lease runs out: nothing is lost. A crash after the provider
accepted a message but before its record hands that SMS over again (same id, same
text: the code is drawn once, when the message is queued): delivery is
*at-least-once*, and the message id lets a provider or receiver drop the repeat.

A circuit breaker (:mod:`senderid.delivery.breaker`) sits in front of the provider:
after ``SENDERID_DELIVERY_BREAKER_FAILURES`` transient failures in a row the worker
stops claiming SMS for a cool-off, and messages it already holds but has not handed
over go back to the queue without using an attempt (sends already on the wire finish
and are recorded as they come back).

Account webhook events go out from a thread of the same worker of their own
(:mod:`senderid.delivery.webhooks`): a slow webhook receiver never delays SMS.

:meth:`Worker.run_once` is one deterministic round (claim a batch, send one at a time,
record), for tests and tools; :meth:`Worker.run` is the concurrent loop.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from senderid import metrics
from senderid.clock import Clock
from senderid.delivery import breaker, health, lanes, webhooks
from senderid.delivery.providers.base import (
    OutgoingSms,
    PermanentError,
    Provider,
    ProviderError,
    TransientError,
    max_in_flight,
)
from senderid.domain import custom_numbers, outbox, retention
from senderid.domain.outbox import DEFERRED, Claimed, Outcome
from senderid.settings import Settings
from senderid.sms_parts import MessageTooLong, split
from senderid.store.db import Database

log = logging.getLogger("senderid.worker")

RETRY_RECORD_SECONDS = 1.0  # after a failed record (database trouble), try again this soon
RECORD_LINGER_SECONDS = 0.1  # an outcome waits at most this long for others to share its record
HOUSEKEEPING_SECONDS = 300.0  # how often a running worker blanks old bodies and purges expired rows
RIGHT_OF_USE_SECONDS = 1.0  # how often it looks for notices, lapses, releases and claims due


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: about base·2^(attempt-1), between half and all of it."""
    return float(min(cap, base * (2 ** max(0, attempt - 1))) * (0.5 + 0.5 * (rng or random).random()))


def parts_of(body: str) -> int:
    """SMS parts a text goes out as (what a carrier's TPS counts)."""
    try:
        return len(split(body, 0).parts)
    except MessageTooLong:
        return 1


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
        self.forget_senders: Callable[[str], None] | None = None  # this process's sender cache
        own_limit = max_in_flight(provider)
        self.window = max(1, min(settings.delivery_concurrency, own_limit or settings.delivery_concurrency))
        self._batch = max(1, self.window // 2)  # claims and records in batches, not one at a time
        self._wake = threading.Event()
        self._webhooks_wake = threading.Event()
        self._cursor = lanes.FairCursor()
        self._bucket = (
            lanes.RateBucket(provider.name, settings.provider_max_per_second)
            if settings.provider_max_per_second > 0 else None
        )
        self._rate_wait_until: datetime | None = None  # the rate bucket is empty until then
        self.webhooks = webhooks.Dispatcher(db, settings, clock, backoff=backoff_delay)
        self.breaker = breaker.CircuitBreaker(
            clock,
            failures=settings.delivery_breaker_failures,
            cool_off=settings.delivery_breaker_seconds,
            max_cool_off=settings.delivery_backoff_max_seconds,
            on_change=self._breaker_changed,
        )
        metrics.BREAKER_STATE.labels(provider.name).set(breaker.STATE_VALUES[breaker.CLOSED])
        self._swept_before: datetime | None = None  # retention: ended before this is blanked
        self._next_sweep = 0.0  # time.monotonic() of the next housekeeping round
        self._next_tick = 0.0  # time.monotonic() of the next right-of-use tick
        # The breaker's state and the last failure, for the console (another process).
        self.health = health.HealthReport(self.name, provider.name, self.breaker)

    def wake(self) -> None:
        """Something was queued: look now rather than at the next poll."""
        self._wake.set()
        self._webhooks_wake.set()

    # -- one round (tests, tools) ----------------------------------------------------------

    def run_once(self) -> int:
        """Claim one batch of SMS and one of account webhook events, and handle them, one
        message at a time, recording the batch's outcomes in one transaction.

        Returns how many messages and events were handled. While the circuit breaker
        is open no SMS is claimed; once it half-opens, one (the trial).
        """
        batch = self._claim(self.settings.worker_batch_size)
        if batch:
            self._record([self._attempt(message) for message in batch])
        return len(batch) + self.webhooks.run_once()

    # -- the concurrent loop -----------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set, keeping up to ``window`` sends in flight.

        The loop holds up to one more window of claimed messages ready (OTP ones first),
        so a slot that frees is filled at once rather than after the next claim's round
        trip. On stop, the sends in flight finish and are recorded; messages held ready
        but not sent go back to the queue without using an attempt.
        """
        log.info("worker started", extra={"worker": self.name, "provider": self.provider.name,
                                          "window": self.window})
        self._report_health(start=True)
        hooks = threading.Thread(target=self._run_webhooks, args=(stop,), name="senderid-webhooks", daemon=True)
        hooks.start()
        finished: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        ready: deque[tuple[Claimed, float]] = deque()  # claimed (when), not handed to a send thread yet
        unrecorded: list[Outcome] = []
        first_unrecorded = 0.0  # time.monotonic() of the oldest outcome not recorded yet
        in_flight = 0

        def send(message: Claimed) -> None:
            try:
                outcome = self._attempt(message)
            except Exception:  # never leak a slot or lose the message over a bug here
                log.exception("handling a send failed", extra={"message_id": message.id})
                outcome = self._retry_or_die(message, TransientError("internal error while sending"))
            finished.put(outcome)
            self._wake.set()

        def hand_over() -> int:
            """Fill free slots from the messages held ready; ones held past half their lease
            go back to the queue instead (another worker may take them once it runs out)."""
            started = 0
            while ready and in_flight + started < self.window:
                message, claimed_at = ready.popleft()
                if time.monotonic() - claimed_at > self.settings.worker_lease_seconds / 2:
                    unrecorded.append(Outcome(message, DEFERRED, next_attempt_at=self.clock.now()))
                    continue
                started += 1
                pool.submit(send, message)
            return started

        with ThreadPoolExecutor(self.window, thread_name_prefix="senderid-send") as pool:
            while True:
                stopping = stop.is_set()
                progressed = False
                if stopping and ready:  # not handed over: back to the queue, attempt unused
                    now = self.clock.now()
                    unrecorded += [Outcome(m, DEFERRED, next_attempt_at=now) for m, _ in ready]
                    ready.clear()
                while not finished.empty():
                    if not unrecorded:
                        first_unrecorded = time.monotonic()
                    unrecorded.append(finished.get())
                    in_flight -= 1
                in_flight += hand_over()
                if unrecorded and (stopping or in_flight == 0 or len(unrecorded) >= self.window
                                   or time.monotonic() - first_unrecorded >= RECORD_LINGER_SECONDS):
                    try:
                        self._record(unrecorded)
                        progressed = True
                    except Exception:
                        if stopping:  # give up: their leases run out and they are sent again
                            log.exception("recording outcomes failed while stopping")
                            break
                        log.exception("recording outcomes failed; trying again")
                        time.sleep(RETRY_RECORD_SECONDS)
                        continue  # the outcomes stay in hand, so a lease does not resend them
                    unrecorded = []
                if stopping:
                    if in_flight == 0:
                        break
                else:
                    held = in_flight + len(ready)
                    room = 2 * self.window - held
                    if room >= self._batch or (held == 0 and room > 0):
                        try:
                            batch = self._claim(room, in_flight=held)
                        except Exception:
                            log.exception("claiming messages failed; retrying")
                            batch = []
                        claimed_at = time.monotonic()
                        lane = {m.id: outbox.lane_of(m.kind, m.account_id) for m in batch}
                        ready.extendleft((m, claimed_at) for m in reversed(batch)  # ahead of bulk held
                                         if lane[m.id] == "priority")
                        ready.extend((m, claimed_at) for m in batch if lane[m.id] != "priority")
                        in_flight += hand_over()
                        progressed = progressed or bool(batch)
                if not progressed:
                    wait = self._idle_wait(in_flight)
                    if unrecorded:
                        wait = min(wait, max(0.001, first_unrecorded + RECORD_LINGER_SECONDS - time.monotonic()))
                    self._wake.wait(wait)
                    self._wake.clear()
        hooks.join(self.settings.webhook_timeout_seconds * 4 + 5)
        self._report_health(start=False)
        log.info("worker stopped", extra={"worker": self.name})

    def _report_health(self, *, start: bool) -> None:
        """Add this worker's provider-health row (start) or remove it (stop)."""
        try:
            with self.db.write() as conn:
                if start:
                    self.health.start(conn, self.clock.now())
                else:
                    self.health.stop(conn)
        except Exception:  # the console's view only: never stop delivery over it
            log.exception("could not %s the provider-health row", "write" if start else "remove")

    def _idle_wait(self, in_flight: int) -> float:
        wait = self.settings.worker_poll_seconds
        if self._rate_wait_until is not None:
            wait = min(wait, max(0.001, (self._rate_wait_until - self.clock.now()).total_seconds()))
        if in_flight == 0 and self.breaker.state == breaker.OPEN:
            until = (self.breaker.reopens_at - self.clock.now()).total_seconds()
            wait = min(wait, max(0.001, until))
        return wait

    def housekeep(self) -> retention.Swept:
        """One round of housekeeping (:mod:`senderid.domain.retention`): blank the text of
        messages that ended more than SENDERID_MESSAGE_BODY_RETENTION_DAYS ago, purge
        expired Idempotency-Key records and spent limit rows, and, when set, delete ended
        messages and audit events past SENDERID_MESSAGE_RETENTION_DAYS /
        SENDERID_AUDIT_RETENTION_DAYS."""
        swept = retention.sweep(self.db, self.clock.now(),
                                retention_days=self.settings.message_body_retention_days,
                                since=self._swept_before,
                                message_retention_days=self.settings.message_retention_days,
                                audit_retention_days=self.settings.audit_retention_days)
        if swept.blanked_before is not None:
            self._swept_before = swept.blanked_before
        purged = swept.purged or retention.Purged()
        if (swept.bodies_blanked or swept.inbound_blanked or swept.idempotency_keys or swept.limit_rows
                or purged.messages or purged.audit_events):
            log.info("housekeeping", extra={"bodies_blanked": swept.bodies_blanked,
                                            "inbound_blanked": swept.inbound_blanked,
                                            "idempotency_keys": swept.idempotency_keys,
                                            "limit_rows": swept.limit_rows,
                                            "messages_deleted": purged.messages,
                                            "audit_events_deleted": purged.audit_events})
        return swept

    def right_of_use(self) -> custom_numbers.Ticked:
        """One right-of-use tick (:mod:`senderid.domain.custom_numbers.timed`): what is due, at once
        in this process's sender cache; one indexed query when nothing is."""
        ticked = custom_numbers.tick(self.db, self.settings, self.clock.now(), forget=self.forget_senders)
        if ticked != custom_numbers.Ticked():
            log.info("right of use", extra={"noticed": ticked.noticed, "lapsed": ticked.lapsed,
                                            "released": ticked.released, "reclaimed": ticked.reclaimed})
        return ticked

    def _run_webhooks(self, stop: threading.Event) -> None:
        """The webhook loop, which also runs the housekeeping every HOUSEKEEPING_SECONDS and
        the right-of-use tick every RIGHT_OF_USE_SECONDS (after bringing the numbers'
        schedules in line with the settings, once)."""
        try:
            changed = custom_numbers.reconcile(self.db, self.settings, self.clock.now())
            if changed:
                log.info("re-verification schedules computed", extra={"numbers": changed})
        except Exception:
            log.exception("computing re-verification schedules failed; the tick goes on")
        while not stop.is_set():
            if time.monotonic() >= self._next_tick:
                self._next_tick = time.monotonic() + RIGHT_OF_USE_SECONDS
                try:
                    self.right_of_use()
                except Exception:
                    log.exception("right-of-use tick failed; trying again shortly")
            if time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + HOUSEKEEPING_SECONDS
                try:
                    self.housekeep()
                except Exception:
                    log.exception("housekeeping failed; trying again later")
            try:
                handled = self.webhooks.run_once()
            except Exception:
                log.exception("webhook loop failed; retrying")
                handled = 0
            if handled == 0:
                self._webhooks_wake.wait(min(self.settings.worker_poll_seconds,
                                             max(0.001, self._next_tick - time.monotonic())))
                self._webhooks_wake.clear()

    # -- the steps ---------------------------------------------------------------------------

    def _claim(self, limit: int, in_flight: int = 0) -> list[Claimed]:
        state = self.breaker.state
        if state == breaker.OPEN:
            return []
        if state == breaker.HALF_OPEN:
            if in_flight:
                return []  # the trial goes alone
            limit = 1
        if self._rate_wait_until is not None and self.clock.now() < self._rate_wait_until:
            return []
        with self.db.write() as conn:
            now = self.clock.now()
            if self._bucket is None:
                return lanes.claim(conn, now=now, worker=self.name, lease_seconds=self.settings.worker_lease_seconds,
                                   limit=limit, cursor=self._cursor,
                                   shared_sender=self.settings.shared_sender)
            tokens = self._bucket.available(conn, now)
            if tokens < 1:
                self._rate_wait_until = now + timedelta(seconds=self._bucket.wait_for(tokens))
                return []
            batch = lanes.claim(conn, now=now, worker=self.name, lease_seconds=self.settings.worker_lease_seconds,
                                limit=min(limit, int(tokens)), cursor=self._cursor,
                                shared_sender=self.settings.shared_sender)
            used = sum(parts_of(message.body) for message in batch)
            self._bucket.spend(conn, now, tokens, used)
            left = tokens - used
            self._rate_wait_until = None if left >= 1 else now + timedelta(seconds=self._bucket.wait_for(left))
            return batch

    def _attempt(self, message: Claimed) -> Outcome:
        """Hand one message to the provider (no transaction held); say what became of it."""
        provider = self.provider.name
        if message.expires_at is not None and message.expires_at <= self.clock.now():
            metrics.SMS_SENDS.labels(provider, "cancelled").inc()
            return Outcome(message, outbox.CANCELLED, "expired before it could be delivered")
        if not self.breaker.allow():
            metrics.SMS_DEFERRED.labels(provider).inc()
            return Outcome(message, DEFERRED, next_attempt_at=self.breaker.reopens_at)
        sms = OutgoingSms(message.id, message.to, message.sender, message.body)
        started = time.perf_counter()
        try:
            try:
                result = self.provider.send(sms)
            finally:
                metrics.SMS_SEND_SECONDS.labels(provider).observe(time.perf_counter() - started)
        except PermanentError as exc:
            self.breaker.record_success()  # it answered: refused for good, but up
            metrics.SMS_SENDS.labels(provider, "permanent_error").inc()
            return Outcome(message, outbox.FAILED, exc.reason)
        except TransientError as exc:
            self.health.failed(exc.reason, self.clock.now())
            self.breaker.record_failure()
            return self._retry_or_die(message, exc)
        except Exception as exc:  # a provider bug: never lose the message over it
            log.exception("provider %s raised unexpectedly", provider)
            error = TransientError(f"unexpected {type(exc).__name__}")
            self.health.failed(error.reason, self.clock.now())
            self.breaker.record_failure()
            return self._retry_or_die(message, error)
        self.breaker.record_success()
        metrics.SMS_SENDS.labels(provider, "sent").inc()
        return Outcome(message, outbox.SENT, provider_message_id=result.provider_message_id)

    def _retry_or_die(self, message: Claimed, error: ProviderError) -> Outcome:
        if message.attempts >= self.settings.delivery_max_attempts:
            metrics.SMS_SENDS.labels(self.provider.name, "dead").inc()
            return Outcome(message, outbox.DEAD, f"gave up after {message.attempts} attempts: {error.reason}")
        delay = backoff_delay(
            message.attempts, self.settings.delivery_backoff_seconds,
            self.settings.delivery_backoff_max_seconds,
        )
        if error.retry_after is not None:
            delay = max(delay, error.retry_after)
        metrics.SMS_SENDS.labels(self.provider.name, "transient_error").inc()
        return Outcome(message, outbox.QUEUED, error.reason,
                       next_attempt_at=self.clock.now() + timedelta(seconds=delay))

    def _record(self, outcomes: list[Outcome]) -> None:
        with self.db.write() as conn:
            now = self.clock.now()
            queued_events = outbox.record(conn, outcomes, now=now, provider=self.provider.name)
            reported = self.health.write(conn, now)  # only after a failure or a breaker change
        self.health.written(reported)
        if queued_events:
            self._webhooks_wake.set()  # message.sent / message.failed events to deliver
        for o in outcomes:
            extra = {"message_id": o.message.id, "attempts": o.message.attempts}
            if o.status == outbox.SENT:
                log.debug("sms sent", extra=extra)
            elif o.status == outbox.QUEUED:
                log.warning("sms send failed; will retry", extra={**extra, "error": o.error})
            elif o.status != DEFERRED:
                log.warning("sms not delivered", extra={**extra, "status": o.status, "error": o.error})

    def _breaker_changed(self, state: str) -> None:
        provider = self.provider.name
        metrics.BREAKER_STATE.labels(provider).set(breaker.STATE_VALUES[state])
        self.health.breaker_changed(self.clock.now())
        if state == breaker.OPEN:
            metrics.BREAKER_OPENED.labels(provider).inc()
            log.warning(
                "sms provider keeps failing: circuit breaker open",
                extra={"provider": provider, "cool_off_seconds": self.breaker.cool_off},
            )
        else:
            log.info("circuit breaker %s", state.replace("_", "-"), extra={"provider": provider})
        if state != breaker.OPEN:
            self._wake.set()


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
