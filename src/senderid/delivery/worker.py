"""The delivery worker: claim due messages, hand each to a provider, record the outcomes.

One worker serves every provider of the deployment's routes (:mod:`senderid.routing`;
without a routes file, the one provider of ``SENDERID_SMS_PROVIDER``). Each provider is a
*channel* (:mod:`senderid.delivery.channels`) with its own circuit breaker, window (up to
``SENDERID_DELIVERY_CONCURRENCY`` sends in flight, and no more than the provider can use,
e.g. SMPP's window x binds), rate cap and health row; the router
(:mod:`senderid.delivery.router`) chooses the channel of each message (its route; failover
or round robin). The worker never holds a transaction open across a network call::

    claim (one write transaction: the free slots' worth, OTP lane first; see lanes.py;
           and the rate-capped providers' tokens)
      -> each message to its channel's send thread: provider.send()   (no transaction)
         (its channel's window full: it waits for it; every provider of its route open:
          back to the queue, the attempt not used)
      -> outcomes collected; all that finished since the last record are
         recorded in one write transaction: sent | retry later | failed | dead,
         each under the provider that made the attempt

A crash between the claim and the record leaves leased messages that the next claim
takes again once the lease runs out: nothing is lost. A crash after the provider
accepted a message but before its record hands that SMS over again (same id, same
text: the code is drawn once, when the message is queued): delivery is
*at-least-once*, and the message id lets a provider or receiver drop the repeat.

A circuit breaker (:mod:`senderid.delivery.breaker`) sits in front of each provider:
after ``SENDERID_DELIVERY_BREAKER_FAILURES`` transient failures in a row no message is
given to it for a cool-off; its messages go to the next provider of their route, or,
when there is none, back to the queue without using an attempt (sends already on the
wire finish and are recorded as they come back). The worker stops claiming SMS only
while every provider's breaker is open.

Account webhook events go out from a thread of the same worker of their own
(:mod:`senderid.delivery.upkeep`): a slow webhook receiver never delays SMS.

:meth:`Worker.run_once` is one deterministic round (claim a batch, send one at a time,
record), for tests and tools; :meth:`Worker.run` is the concurrent loop.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from sqlalchemy import Connection

from senderid import metrics
from senderid.clock import Clock
from senderid.delivery import attempts, breaker, lanes, webhooks
from senderid.delivery.attempts import backoff_delay, parts_of
from senderid.delivery.channels import Channel
from senderid.delivery.health import HealthReport
from senderid.delivery.providers.base import Provider, ProviderError, TransientError
from senderid.delivery.router import NOT_AUTHORISED, Router, single_routes
from senderid.delivery.upkeep import Upkeep
from senderid.domain import outbox
from senderid.domain.outbox import DEFERRED, Claimed, Outcome
from senderid.routing import Routes
from senderid.settings import Settings
from senderid.store.db import Database

log = logging.getLogger("senderid.worker")

__all__ = ["Worker", "WorkerThread", "backoff_delay", "parts_of", "single_routes"]

RETRY_RECORD_SECONDS = 1.0  # after a failed record (database trouble), try again this soon
RECORD_LINGER_SECONDS = 0.1  # an outcome waits at most this long for others to share its record


class Worker(Upkeep):
    """``provider``: the one provider (routes: everything through it), or the providers by
    name, with ``routes`` naming each of them."""

    def __init__(
        self, db: Database, settings: Settings, provider: Provider | Mapping[str, Provider], clock: Clock,
        name: str | None = None, *, routes: Routes | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        self.forget_senders: Callable[[str], None] | None = None  # this process's sender cache
        if isinstance(provider, Mapping):
            if routes is None:
                raise ValueError("providers by name need the routes that name them")
            providers = dict(provider)
        else:
            providers = {provider.name: provider}
            routes = routes or single_routes(provider.name, settings)
        self.routes = routes
        self.channels = {
            spec.name: Channel(providers[spec.name], settings, clock, worker=self.name,
                               max_per_second=spec.max_per_second, on_change=self._breaker_changed)
            for spec in routes.providers.values()
        }
        self.router = Router(routes, self.channels, shared_sender=settings.shared_sender,
                             refuse_unauthorised=settings.unregistered_alpha == "refuse")
        self.window = sum(c.window for c in self.channels.values())
        self._batch = max(1, self.window // 2)  # claims and records in batches, not one at a time
        self._wake = threading.Event()
        self._webhooks_wake = threading.Event()
        self._cursor = lanes.FairCursor()
        self.webhooks = webhooks.Dispatcher(db, settings, clock, backoff=backoff_delay)
        self._swept_before: datetime | None = None  # retention: ended before this is blanked
        self._next_sweep = 0.0  # time.monotonic() of the next housekeeping round
        self._next_tick = 0.0  # time.monotonic() of the next right-of-use tick

    @property  # the first provider's parts (the only one's, without a routes file)
    def first(self) -> Channel:
        return next(iter(self.channels.values()))

    @property
    def provider(self) -> Provider:
        return self.first.provider

    @property
    def breaker(self) -> breaker.CircuitBreaker:
        return self.first.breaker

    @property
    def health(self) -> HealthReport:
        return self.first.health

    def close(self) -> None:
        """Close every provider (their connections, binds)."""
        for channel in self.channels.values():
            try:
                channel.provider.close()
            except Exception:
                log.exception("closing provider %s failed", channel.name)

    def wake(self) -> None:
        """Something was queued: look now rather than at the next poll."""
        self._wake.set()
        self._webhooks_wake.set()

    # -- one round (tests, tools) ----------------------------------------------------------

    def run_once(self) -> int:
        """Claim one batch of SMS and one of account webhook events, and handle them, one
        message at a time, recording the batch's outcomes in one transaction.

        Returns how many messages and events were handled. While every provider's circuit
        breaker is open no SMS is claimed; once one half-opens, its trial.
        """
        batch = self._claim(self.settings.worker_batch_size)
        if batch:
            outcomes = []
            for message in batch:
                channel, outcome = self._place(message)
                if outcome is None and channel is not None and not channel.has_token():
                    outcome = Outcome(message, DEFERRED, next_attempt_at=channel.rate_wait_until or self.clock.now())
                if outcome is None and channel is not None:
                    channel.spend(parts_of(message.body))
                    outcome = self._attempt(message, channel)
                assert outcome is not None
                outcomes.append(outcome)
            self._record(outcomes)
        return len(batch) + self.webhooks.run_once()

    # -- the concurrent loop -----------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set, keeping up to each provider's window of sends in flight.

        The loop holds up to one more window of claimed messages ready (OTP ones first),
        so a slot that frees is filled at once rather than after the next claim's round
        trip. On stop, the sends in flight finish and are recorded; messages held ready
        but not sent go back to the queue without using an attempt.
        """
        log.info("worker started", extra={"worker": self.name, "providers": list(self.channels),
                                          "window": self.window})
        self._report_health(start=True)
        hooks = threading.Thread(target=self._run_webhooks, args=(stop,), name="senderid-webhooks", daemon=True)
        hooks.start()
        finished: queue.SimpleQueue[tuple[Channel, Outcome]] = queue.SimpleQueue()
        ready: deque[tuple[Claimed, float]] = deque()  # claimed (when), not handed to a send thread yet
        unrecorded: list[Outcome] = []
        first_unrecorded = 0.0  # time.monotonic() of the oldest outcome not recorded yet
        in_flight = 0
        channels = list(self.channels.values())

        def note(outcome: Outcome) -> None:
            nonlocal first_unrecorded
            if not unrecorded:
                first_unrecorded = time.monotonic()
            unrecorded.append(outcome)

        def send(message: Claimed, channel: Channel) -> None:
            try:
                outcome = self._attempt(message, channel)
            except Exception:  # never leak a slot or lose the message over a bug here
                log.exception("handling a send failed", extra={"message_id": message.id})
                outcome = self._retry_or_die(message, TransientError("internal error while sending"), channel)
            finished.put((channel, outcome))
            self._wake.set()

        def hand_over() -> tuple[int, bool]:
            """Give the messages held ready to their channels' free slots; ones held past half
            their lease go back to the queue instead (another worker may take them once it
            runs out). Returns how many were handed over, and whether some wait for a
            capped channel's tokens."""
            started = 0
            kept: deque[tuple[Claimed, float]] = deque()
            blocked: set[tuple[int, tuple[str, ...]]] = set()  # routes whose choice is full this round
            lease_half = self.settings.worker_lease_seconds / 2
            while ready and any(c.has_room() for c in channels):  # else nothing can go now
                message, claimed_at = ready.popleft()
                if time.monotonic() - claimed_at > lease_half:
                    note(Outcome(message, DEFERRED, next_attempt_at=self.clock.now()))
                    continue
                if self.router.key(message) in blocked:
                    kept.append((message, claimed_at))
                    continue
                channel, outcome = self._place(message)
                if outcome is not None:
                    note(outcome)
                elif channel is not None and channel.has_room():
                    channel.in_flight += 1
                    channel.spend(parts_of(message.body))
                    started += 1
                    pool.submit(send, message, channel)
                else:  # its channel is full or waits for tokens: the message waits for it
                    blocked.add(self.router.key(message))
                    kept.append((message, claimed_at))
            kept.extend(ready)
            ready.clear()
            ready.extend(kept)
            return started, bool(ready) and not all(c.has_token() for c in channels)

        with ThreadPoolExecutor(self.window, thread_name_prefix="senderid-send") as pool:
            while True:
                stopping = stop.is_set()
                progressed = False
                if stopping and ready:  # not handed over: back to the queue, attempt unused
                    now = self.clock.now()
                    for m, _ in ready:
                        note(Outcome(m, DEFERRED, next_attempt_at=now))
                    ready.clear()
                while not finished.empty():
                    channel, outcome = finished.get()
                    channel.in_flight -= 1
                    in_flight -= 1
                    note(outcome)
                started, starved = hand_over()
                in_flight += started
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
                    room = self._room(held)
                    claimed = False
                    if room >= self._batch or (held == 0 and room > 0):
                        try:
                            batch = self._claim(room, held, [m for m, _ in ready])
                        except Exception:
                            log.exception("claiming messages failed; retrying")
                            batch = []
                        claimed = True
                        claimed_at = time.monotonic()
                        lane = {m.id: outbox.lane_of(m.kind, m.account_id) for m in batch}
                        ready.extendleft((m, claimed_at) for m in reversed(batch)  # ahead of bulk held
                                         if lane[m.id] == "priority")
                        ready.extend((m, claimed_at) for m in batch if lane[m.id] != "priority")
                        progressed = progressed or bool(batch)
                    if starved and not claimed:
                        progressed = self._refill([m for m, _ in ready]) or progressed
                    started, _ = hand_over()
                    in_flight += started
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
        """Add this worker's provider-health rows, one per provider (start) or remove them (stop)."""
        try:
            with self.db.write() as conn:
                for channel in self.channels.values():
                    if start:
                        channel.health.start(conn, self.clock.now())
                    else:
                        channel.health.stop(conn)
        except Exception:  # the console's view only: never stop delivery over it
            log.exception("could not %s the provider-health rows", "write" if start else "remove")

    def _idle_wait(self, in_flight: int) -> float:
        wait = self.settings.worker_poll_seconds
        now = self.clock.now()
        for channel in self.channels.values():
            rate_wait = channel.rate_wait(now)
            if rate_wait is not None:
                wait = min(wait, max(0.001, rate_wait))
        if in_flight == 0 and all(c.breaker.state == breaker.OPEN for c in self.channels.values()):
            until = min(c.breaker.reopens_at for c in self.channels.values())
            wait = min(wait, max(0.001, (until - now).total_seconds()))
        return wait

    # -- the steps ---------------------------------------------------------------------------

    def _room(self, held: int) -> int:
        """How many more messages the channels can take on (none while every breaker is open)."""
        return sum(c.claim_room() for c in self.channels.values()) - held

    def _claim(self, limit: int, held: int = 0, ready: list[Claimed] | None = None) -> list[Claimed]:
        limit = min(limit, self._room(held))
        if limit <= 0:
            return []
        usable = [c for c in self.channels.values() if c.claim_room() > 0]
        now = self.clock.now()
        if all(c.bucket is not None and not c.rate_due(now) and not c.has_token() for c in usable):
            return []  # every provider that could take one waits for its rate cap
        with self.db.write() as conn:
            now = self.clock.now()
            tokens = sum(c.tokens_for_claim(conn, now) for c in usable)
            if tokens < 1:
                for channel in usable:
                    channel.take(conn, now, 0)  # when to ask again
                return []
            batch = lanes.claim(conn, now=now, worker=self.name, lease_seconds=self.settings.worker_lease_seconds,
                                limit=int(min(limit, tokens)), cursor=self._cursor,
                                shared_sender=self.settings.shared_sender)
            self.router.forget([m.id for m in batch])  # claimed anew: its route is read anew
            self._take_tokens(conn, now, (ready or []) + batch)
            return batch

    def _refill(self, ready: list[Claimed]) -> bool:
        """Take tokens for the capped channels that messages held ready wait for (their own
        transaction: no claim this round). True when some channel got any."""
        now = self.clock.now()
        if not any(c.rate_due(now) for c in self.channels.values()):
            return False
        before = {c: c.allowance for c in self.channels.values()}
        try:
            with self.db.write() as conn:
                self._take_tokens(conn, self.clock.now(), ready)
        except Exception:
            log.exception("taking rate tokens failed; retrying")
            return False
        return any(c.allowance > before[c] and c.has_token() for c in self.channels.values())

    def _take_tokens(self, conn: Connection, now: datetime, messages: list[Claimed]) -> None:
        parts = {m.id: parts_of(m.body) for m in messages}
        for channel, wanted in self.router.demand(messages, parts).items():
            channel.take(conn, now, wanted)

    def _place(self, message: Claimed) -> tuple[Channel | None, Outcome | None]:
        """Where a claimed message goes now: its channel (which may be full, or wait for
        tokens: then the message waits), or an outcome to record without sending it: expired,
        no provider of its route authorised for its name, or every one of them open (back
        to the queue, the attempt not used, due when one may take it)."""
        route, candidates = self.router.candidates(message)
        label = candidates[0].name if candidates else route.providers[0]
        if message.expires_at is not None and message.expires_at <= self.clock.now():
            metrics.SMS_SENDS.labels(label, "cancelled").inc()
            return None, Outcome(message, outbox.CANCELLED, "expired before it could be delivered")
        if not candidates:
            metrics.SMS_SENDS.labels(label, "permanent_error").inc()
            return None, Outcome(message, outbox.FAILED, NOT_AUTHORISED)
        channel = self.router.choose(message)
        if channel is None:
            metrics.SMS_DEFERRED.labels(label).inc()
            return None, Outcome(message, DEFERRED, next_attempt_at=self.router.next_chance(message, self.clock.now()))
        return channel, None

    def _attempt(self, message: Claimed, channel: Channel) -> Outcome:
        return attempts.attempt(message, channel, self.settings, self.clock,
                                lambda: self.router.next_chance(message, self.clock.now()))

    def _retry_or_die(self, message: Claimed, error: ProviderError, channel: Channel) -> Outcome:
        return attempts.retry_or_die(message, error, channel, self.settings, self.clock)

    def _record(self, outcomes: list[Outcome]) -> None:
        with self.db.write() as conn:
            now = self.clock.now()
            queued_events = outbox.record(conn, outcomes, now=now, provider=self.first.name)
            # only after a failure or a breaker change
            reported = [(c, c.health.write(conn, now)) for c in self.channels.values()]
        for channel, version in reported:
            channel.health.written(version)
        if queued_events:
            self._webhooks_wake.set()  # message.sent / message.failed events to deliver
        for o in outcomes:
            extra = {"message_id": o.message.id, "attempts": o.message.attempts, "provider": o.provider}
            if o.status == outbox.SENT:
                log.debug("sms sent", extra=extra)
            elif o.status == outbox.QUEUED:
                log.warning("sms send failed; will retry", extra={**extra, "error": o.error})
            elif o.status != DEFERRED:
                log.warning("sms not delivered", extra={**extra, "status": o.status, "error": o.error})

    def _breaker_changed(self, channel: Channel, state: str) -> None:
        provider = channel.name
        metrics.BREAKER_STATE.labels(provider).set(breaker.STATE_VALUES[state])
        channel.health.breaker_changed(self.clock.now())
        if state == breaker.OPEN:
            metrics.BREAKER_OPENED.labels(provider).inc()
            log.warning(
                "sms provider keeps failing: circuit breaker open",
                extra={"provider": provider, "cool_off_seconds": channel.breaker.cool_off},
            )
        else:
            log.info("circuit breaker %s", state.replace("_", "-"), extra={"provider": provider})
        self._wake.set()  # its held messages move on (open) or may go to it again


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
