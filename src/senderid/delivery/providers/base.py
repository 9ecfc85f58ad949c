"""The small interface every SMS provider implements.

A provider hands one SMS to a network and says what happened. It never
touches senderid's tables: the worker records the outcome (through
:mod:`senderid.domain.outbox`), and what a network sends back later, delivery
receipts and replies from phones, goes to the callbacks of
:mod:`senderid.delivery.providers` (``receipt_recorder``, ``inbound_recorder``).
The developer inbox's own table, ``dev_inbox``, is that provider's "network".

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
    """``send`` is synchronous and thread-safe: the worker calls it from up to
    ``SENDERID_DELIVERY_CONCURRENCY`` threads at once.

    ``max_in_flight`` (optional) is how many sends the provider can serve at once (the
    SMPP provider: window x binds); a caller keeps no more threads blocked on it than
    that. None, or no such attribute, means no limit of its own: read it with
    :func:`max_in_flight`.
    """

    name: str
    max_in_flight: int | None

    def send(self, sms: OutgoingSms) -> SendResult: ...

    def close(self) -> None: ...


def max_in_flight(provider: object) -> int | None:
    """The provider's own limit on concurrent sends, or None when it has none."""
    limit = getattr(provider, "max_in_flight", None)
    return limit if isinstance(limit, int) and limit >= 1 else None
