"""The small interface every SMS provider implements.

A provider hands one SMS to a network and says what happened. It never
touches senderid's database: the worker records the outcome.

* return a :class:`SendResult` when the network accepted the message;
* raise :class:`TransientError` when trying again later may work
  (timeouts, dropped connections, 5xx, 429, throttling);
* raise :class:`PermanentError` when it never will (invalid number,
  rejected sender, bad credentials).

Error texts must never contain the message body (it may hold an OTP).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OutgoingSms:
    message_id: str  # senderid's own id (24 hex); usable as an idempotency key upstream
    to: str  # E.164
    sender: str  # E.164 number or alphanumeric sender ID; "" means the provider's default
    body: str


@dataclass(frozen=True, slots=True)
class SendResult:
    provider_message_id: str | None = None


class ProviderError(Exception):
    """A send that did not go through. The text is safe to store and show."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class TransientError(ProviderError):
    """Trying again later may work."""


class PermanentError(ProviderError):
    """Trying again will not work."""


class Provider(Protocol):
    """``send`` must be thread-safe: the worker calls it from up to
    ``SENDERID_DELIVERY_CONCURRENCY`` threads at once. A provider that can use fewer
    sends in flight (an SMPP window) says so in ``max_in_flight`` (None: no limit)."""

    name: str
    max_in_flight: int | None

    def send(self, sms: OutgoingSms) -> SendResult: ...

    def close(self) -> None: ...
