"""Prometheus metrics of this process, served at ``GET /metrics``.

Every process (each ``senderid serve``, each ``senderid worker``) counts its own and
exposes its own; Prometheus adds them up across processes (``sum by (...)``). A
``senderid worker`` has no HTTP server, so its delivery counters are seen only where a
worker runs in-process (``senderid serve``, the default): scrape the servers.

Labels are small closed sets (provider names, outcomes, route templates, status
codes): never a number, an id, an account, a body or a code.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest

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
