"""Prometheus metrics, served at ``GET /metrics``.

One ``senderid serve`` process, and each standalone ``senderid worker`` (with
``--metrics-port``), counts and exposes its own; Prometheus adds them up across them
(``sum by (...)``). The processes of ``senderid serve --workers N`` share one listening
socket, so a scrape reaches any one of them: they use prometheus_client's multiprocess
mode instead (:func:`multiprocess_directory`), each process writing its values to files
in one directory and every scrape adding up every process's, the dead ones' included, so
a counter never goes backwards whichever process answers.

Labels are small closed sets (provider names, outcomes, route templates, status
codes): never a number, an id, an account, a body or a code.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
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
# Each process has its own breaker, so in multiprocess mode every live process's value is
# shown, labelled with its ``pid`` (``liveall``): a sum or a maximum would blend states that
# are not quantities (0 closed, 1 open, 2 half-open), and a dead process's breaker is gone
# with it (its file is removed when the process is marked dead).
BREAKER_STATE = Gauge(
    "senderid_provider_breaker_state",
    "The provider's circuit breaker in this process: 0 closed, 1 open, 2 half-open.",
    ["provider"],
    multiprocess_mode="liveall",
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
    children = _REQUEST_CHILDREN.get((method, route, status))
    if children is None:
        known = method if method in HTTP_METHODS else "OTHER"
        template = route or UNMATCHED_ROUTE
        children = (HTTP_REQUESTS.labels(known, template, str(status)),
                    HTTP_REQUEST_SECONDS.labels(known, template))
        if len(_REQUEST_CHILDREN) < _MAX_REQUEST_CHILDREN:
            _REQUEST_CHILDREN[(method, route, status)] = children
    children[0].inc()
    children[1].observe(seconds)


# Each (method, route template, status)'s counter and histogram, looked up once: a label
# lookup per request is most of what counting it costs. Bounded, since the method of an
# unknown request is the client's to choose.
_REQUEST_CHILDREN: dict[tuple[str, str | None, int], tuple[Any, Any]] = {}
_MAX_REQUEST_CHILDREN = 4096


MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def exposition() -> bytes:
    """Every metric in the Prometheus text format: this process's, or in multiprocess mode
    every process's added up (and the queue, read once from the database)."""
    path = os.environ.get(MULTIPROCESS_VARIABLE)
    if not path:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path)  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated
    registry.register(_OUTBOX_QUEUE)
    return generate_latest(registry)


_VALUE_FILES = ("counter_*.db", "gauge_*.db", "histogram_*.db", "summary_*.db")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - another user's process of the same pid
        return True
    return True


def mark_dead_processes(path: str) -> list[int]:
    """Mark dead the processes whose live gauges are still in ``path`` (the library's
    ``mark_process_dead``: their ``live*`` gauge files go; their counters and histograms
    stay, so the totals never go backwards). Returns the pids marked."""
    pids = set()
    for file in Path(path).glob("gauge_live*_*.db"):
        suffix = file.stem.rsplit("_", 1)[-1]
        if suffix.isdigit() and not _alive(int(suffix)):
            pids.add(int(suffix))
    for pid in sorted(pids):
        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]  # unannotated in prometheus_client
    return sorted(pids)


@contextmanager
def multiprocess_directory(sweep_seconds: float = 1.0) -> Iterator[str]:
    """Multiprocess mode for the processes this one starts, for the block's duration.

    The directory is ``PROMETHEUS_MULTIPROC_DIR`` when it is set (emptied of the values
    files an earlier run left there, and left in place after), else a fresh temporary one
    (removed after); either way it is put in this process's environment, which the
    processes it starts inherit. Every ``sweep_seconds`` the processes that died meanwhile
    are marked dead (:func:`mark_dead_processes`)."""
    chosen = os.environ.get(MULTIPROCESS_VARIABLE)
    if chosen:
        Path(chosen).mkdir(parents=True, exist_ok=True)
        for pattern in _VALUE_FILES:
            for stale in Path(chosen).glob(pattern):
                stale.unlink()
        path = chosen
    else:
        path = tempfile.mkdtemp(prefix="senderid-metrics-")
    os.environ[MULTIPROCESS_VARIABLE] = path
    stop = threading.Event()

    def sweep() -> None:
        while not stop.wait(sweep_seconds):
            try:
                mark_dead_processes(path)
            except OSError:  # pragma: no cover - a file went while it was read
                log.warning("marking dead processes' metrics failed", exc_info=True)

    sweeper = threading.Thread(target=sweep, name="metrics-sweeper", daemon=True)
    sweeper.start()
    try:
        yield path
    finally:
        stop.set()
        sweeper.join()
        if chosen:
            os.environ[MULTIPROCESS_VARIABLE] = chosen
        else:
            os.environ.pop(MULTIPROCESS_VARIABLE, None)
            shutil.rmtree(path, ignore_errors=True)


# -- the outbox queue (read from the database at each scrape) --------------------------------

QueueReader = Callable[[], Iterable[tuple[str, str, int, float | None]]]


class _OutboxQueue:
    """Messages in the outbox by status and lane, and the age of the oldest queued one per
    lane: read from the database when Prometheus scrapes, so every process shows the whole
    deployment's queue (use ``max``, not ``sum``, across processes). They are not kept in
    a process's memory, so multiprocess mode has nothing to add up: the process that
    answers a scrape reads them once for all."""

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
REGISTRY.register(_OUTBOX_QUEUE)


def watch_outbox(read: QueueReader | None) -> None:
    """Report the outbox queue read by ``read`` (the latest process-wide reader wins;
    None: report none)."""
    _OUTBOX_QUEUE.read = read


def serve(port: int, host: str = "127.0.0.1") -> None:
    """Serve ``/metrics`` on a port of its own (a standalone ``senderid worker``)."""
    start_http_server(port, addr=host, registry=REGISTRY)
