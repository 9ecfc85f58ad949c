"""Prometheus metrics of this process, served at ``GET /metrics``.

Every process (each ``senderid serve``, each ``senderid worker``) counts its own and
exposes its own; Prometheus adds them up across processes (``sum by (...)``). A
standalone ``senderid worker`` serves them with ``--metrics-port``.

Labels are small closed sets (provider names, outcomes, route templates, status
codes): never a number, an id, an account, a body or a code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily

from senderid.domain.types import OutboxStatus

log = logging.getLogger("senderid.metrics")

__all__ = ["CONTENT_TYPE_LATEST", "exposition"]

# -- SMS delivery (the worker) ------------------------------------------------------------

SEND_OUTCOMES = ("sent", "transient_error", "permanent_error", "dead", "cancelled")

SMS_SENDS = Counter(
    "senderid_sms_sends",
    "SMS the worker handled, by provider and outcome: sent (accepted), transient_error "
    "(retried later), permanent_error (failed), dead (out of attempts), cancelled (an OTP "
    "that expired or was replaced before it could be sent).",
    ["provider", "outcome"],
)
SMS_SEND_SECONDS = Histogram(
    "senderid_sms_send_duration_seconds",
    "Time the provider took to answer one send (accepted or not).",
    ["provider"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
SMS_DEFERRED = Counter(
    "senderid_sms_deferred",
    "Claimed SMS put back in the queue, without using an attempt, because the provider's "
    "circuit breaker was open.",
    ["provider"],
)
SMS_RECEIPTS = Counter(
    "senderid_sms_receipts",
    "Delivery receipts received, by provider and status (sent, delivered, failed).",
    ["provider", "status"],
)
BREAKER_STATE = Gauge(
    "senderid_provider_breaker_state",
    "The provider's circuit breaker in this process: 0 closed, 1 open, 2 half-open.",
    ["provider"],
)
BREAKER_OPENED = Counter(
    "senderid_provider_breaker_opened",
    "Times the provider's circuit breaker opened (or re-opened after a failed trial).",
    ["provider"],
)

# -- account webhooks ------------------------------------------------------------------------

WEBHOOK_DELIVERIES = Counter(
    "senderid_webhook_deliveries",
    "Account webhook delivery attempts, by outcome: delivered, retry, dead.",
    ["outcome"],
)

# -- HTTP ------------------------------------------------------------------------------------

HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"  # a path no route took (its text is never a label)

HTTP_REQUESTS = Counter(
    "senderid_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "senderid_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
)


def observe_request(method: str, route: str | None, status: int, seconds: float) -> None:
    """Count one HTTP request (called by the access-log middleware)."""
    method = method if method in HTTP_METHODS else "OTHER"
    route = route or UNMATCHED_ROUTE
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_REQUEST_SECONDS.labels(method, route).observe(seconds)


def exposition() -> bytes:
    """Every metric of this process in the Prometheus text format."""
    return generate_latest(REGISTRY)


# -- the outbox queue (read from the database at each scrape) --------------------------------

QueueReader = Callable[[], Iterable[tuple[str, str, int, float | None]]]


class _OutboxQueue:
    """Messages in the outbox by status and lane, and the age of the oldest queued one per
    lane: read from the database when Prometheus scrapes, so every process shows the whole
    deployment's queue (use ``max``, not ``sum``, across processes)."""

    def __init__(self) -> None:
        self.read: QueueReader | None = None

    def describe(self) -> list[Any]:
        return []  # no fixed series: a scrape without a reader shows none

    def collect(self) -> Iterator[Any]:
        if self.read is None:
            return
        try:
            rows = list(self.read())
        except Exception:  # a scrape must not fail because the database does
            log.warning("reading the outbox queue for /metrics failed", exc_info=True)
            return
        depth = GaugeMetricFamily(
            "senderid_outbox_messages",
            "Messages in the outbox by status (scheduled: queued for a time still ahead; queued: "
            "waiting to go; sending; dead) and lane (priority: OTP; bulk: gateway SMS).",
            labels=["status", "lane"],
        )
        oldest = GaugeMetricFamily(
            "senderid_outbox_oldest_queued_seconds",
            "How long the oldest queued message has waited since it was due, by lane (0 when none "
            "is queued; scheduled messages not yet due are not counted).",
            labels=["lane"],
        )
        ages = {lane: 0.0 for lane in OUTBOX_LANES}
        counts = {(status, lane): 0 for status in OUTBOX_STATUSES for lane in OUTBOX_LANES}
        for status, lane, count, age in rows:
            counts[(status, lane)] = counts.get((status, lane), 0) + count
            if status == OutboxStatus.QUEUED and age is not None:
                ages[lane] = max(ages.get(lane, 0.0), age)
        for (status, lane), count in counts.items():
            depth.add_metric([status, lane], count)
        for lane, age in ages.items():
            oldest.add_metric([lane], age)
        yield depth
        yield oldest


OUTBOX_STATUSES = ("scheduled", OutboxStatus.QUEUED.value, OutboxStatus.SENDING.value, OutboxStatus.DEAD.value)
OUTBOX_LANES = ("priority", "bulk")
_OUTBOX_QUEUE = _OutboxQueue()
REGISTRY.register(_OUTBOX_QUEUE)  # type: ignore[arg-type]


def watch_outbox(read: QueueReader | None) -> None:
    """Report the outbox queue read by ``read`` (the latest process-wide reader wins;
    None: report none)."""
    _OUTBOX_QUEUE.read = read


def serve(port: int, host: str = "127.0.0.1") -> None:
    """Serve ``/metrics`` on a port of its own (a standalone ``senderid worker``)."""
    start_http_server(port, addr=host, registry=REGISTRY)
