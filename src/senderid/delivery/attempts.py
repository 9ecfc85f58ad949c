"""One attempt: a claimed message handed to its channel's provider, and what became of it
(:class:`senderid.domain.outbox.Outcome`, naming the provider that made the attempt).

A transient failure counts against the channel's breaker and queues the message again
after a backoff (or ends it, dead, past SENDERID_DELIVERY_MAX_ATTEMPTS); a permanent one
fails it; any answer that is not a transient failure proves the provider up.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from senderid import metrics
from senderid.clock import Clock
from senderid.delivery.channels import Channel
from senderid.delivery.providers.base import OutgoingSms, PermanentError, ProviderError, TransientError
from senderid.domain import outbox
from senderid.domain.outbox import DEFERRED, Claimed, Outcome
from senderid.settings import Settings
from senderid.sms_parts import MessageTooLong, split

log = logging.getLogger("senderid.worker")


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: about base·2^(attempt-1), between half and all of it."""
    return float(min(cap, base * (2 ** max(0, attempt - 1))) * (0.5 + 0.5 * (rng or random).random()))


def parts_of(body: str) -> int:
    """SMS parts a text goes out as (what a carrier's TPS counts)."""
    try:
        return len(split(body, 0).parts)
    except MessageTooLong:
        return 1


def attempt(message: Claimed, channel: Channel, settings: Settings, clock: Clock,
            next_chance: Callable[[], datetime]) -> Outcome:
    """Hand one message to the channel's provider (no transaction held); say what became of
    it. A breaker that opened since the message was given to the channel spends no attempt:
    the message goes back to the queue, due at ``next_chance()``."""
    provider = channel.name
    if not channel.breaker.allow():
        metrics.SMS_DEFERRED.labels(provider).inc()
        return Outcome(message, DEFERRED, next_attempt_at=next_chance(), provider=provider)
    sms = OutgoingSms(message.id, message.to, message.sender, message.body)
    started = time.perf_counter()
    try:
        try:
            result = channel.provider.send(sms)
        finally:
            metrics.SMS_SEND_SECONDS.labels(provider).observe(time.perf_counter() - started)
    except PermanentError as exc:
        channel.breaker.record_success()  # it answered: refused for good, but up
        metrics.SMS_SENDS.labels(provider, "permanent_error").inc()
        return Outcome(message, outbox.FAILED, exc.reason, provider=provider)
    except TransientError as exc:
        channel.health.failed(exc.reason, clock.now())
        channel.breaker.record_failure()
        return retry_or_die(message, exc, channel, settings, clock)
    except Exception as exc:  # a provider bug: never lose the message over it
        log.exception("provider %s raised unexpectedly", provider)
        error = TransientError(f"unexpected {type(exc).__name__}")
        channel.health.failed(error.reason, clock.now())
        channel.breaker.record_failure()
        return retry_or_die(message, error, channel, settings, clock)
    channel.breaker.record_success()
    metrics.SMS_SENDS.labels(provider, "sent").inc()
    return Outcome(message, outbox.SENT, provider_message_id=result.provider_message_id, provider=provider)


def retry_or_die(message: Claimed, error: ProviderError, channel: Channel, settings: Settings,
                 clock: Clock) -> Outcome:
    """A failed attempt: queued again after a backoff, or dead after the last attempt."""
    if message.attempts >= settings.delivery_max_attempts:
        metrics.SMS_SENDS.labels(channel.name, "dead").inc()
        return Outcome(message, outbox.DEAD, f"gave up after {message.attempts} attempts: {error.reason}",
                       provider=channel.name)
    delay = backoff_delay(message.attempts, settings.delivery_backoff_seconds, settings.delivery_backoff_max_seconds)
    if error.retry_after is not None:
        delay = max(delay, error.retry_after)
    metrics.SMS_SENDS.labels(channel.name, "transient_error").inc()
    return Outcome(message, outbox.QUEUED, error.reason,
                   next_attempt_at=clock.now() + timedelta(seconds=delay), provider=channel.name)
