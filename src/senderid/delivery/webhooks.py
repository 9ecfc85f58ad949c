"""Account webhooks: how the worker takes an account's events to its URL.

Events are queued by :mod:`senderid.domain.events` in the transaction of the
change they describe and claimed from :mod:`senderid.delivery.webhook_queue`. The
worker delivers them here, in the same three short
steps as SMS, never holding a transaction open across the network call::

    1. claim (one write transaction): status sending, lease, attempts + 1
    2. POST the payload to the account's *current* URL, signed (no transaction)
    3. record (one write transaction): delivered | retry later | dead

Life of an event::

    queued --claim--> sending --2xx--> delivered
                         |--anything else--> queued (later, with backoff) ... --> dead

Each POST carries the Standard Webhooks headers ``webhook-id`` (the event id,
the same on every retry, so a receiver can drop duplicates),
``webhook-timestamp`` (unix seconds) and ``webhook-signature``
(:func:`senderid.signing.sign` under the account's secret).

The private-address rule (:mod:`senderid.webhook_urls`) is checked again at every
delivery, and the connection goes to the address that was checked (the host name
still names the server for ``Host``, TLS SNI and certificate checks).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import httpx

from senderid import metrics, signing
from senderid.clock import Clock
from senderid.delivery.providers import _http
from senderid.delivery.webhook_queue import (
    DEAD,
    Claimed,
    claim,
    mark_dead,
    mark_delivered,
    mark_retry,
)
from senderid.settings import Settings
from senderid.store.db import Database
from senderid.webhook_urls import UnsafeUrl, parse_url, resolve

log = logging.getLogger("senderid.webhooks")

MAX_PARALLEL = 8  # deliveries of one batch run side by side, so one slow receiver costs one timeout

# -- delivery --------------------------------------------------------------------------


class DeliveryFailed(Exception):
    """One attempt did not reach a 2xx. ``reason`` is safe to store: no secret, no query string."""

    def __init__(self, reason: str, *, retry_after: float | None = None, final: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.final = final  # no point retrying (the account has no URL any more)


def encode(payload: dict[str, Any]) -> bytes:
    """The exact bytes POSTed (and signed)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def post(client: httpx.Client, event: Claimed, *, now: datetime, allow_private: bool) -> httpx.Response:
    """One signed POST of ``event``; raises DeliveryFailed for anything but a 2xx."""
    if not event.url:
        raise DeliveryFailed("the account has no webhook URL any more", final=True)
    if not event.secret:
        raise DeliveryFailed("the account has no webhook signing secret "
                             "(create one with `senderid account webhook-secret`)")
    try:
        target = parse_url(event.url)
    except UnsafeUrl as exc:
        raise DeliveryFailed(str(exc)) from None
    body = encode(event.payload)
    headers = {**signing.headers(event.secret, event.id, int(now.timestamp()), body),
               "user-agent": "senderid-webhooks"}
    url: httpx.URL | str = event.url
    extensions: dict[str, Any] = {}
    if not allow_private:
        try:
            address = resolve(target)[0].split("%", 1)[0]
        except UnsafeUrl as exc:
            raise DeliveryFailed(str(exc)) from None
        if not target.is_ip_literal:
            # Connect to the address just checked; the name still goes in Host and TLS SNI
            # (and the certificate is checked against it).
            url = httpx.URL(event.url).copy_with(host=address)
            headers["host"] = httpx.URL(event.url).netloc.decode("ascii")
            if target.scheme == "https":
                extensions["sni_hostname"] = target.host
    try:
        response = client.post(url, content=body, headers=headers, extensions=extensions)
    except httpx.TimeoutException as exc:
        raise DeliveryFailed(f"no answer in time ({type(exc).__name__})") from None
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"connection failed ({type(exc).__name__})") from None
    if not response.is_success:
        raise DeliveryFailed(f"HTTP {response.status_code}", retry_after=_retry_after(response))
    return response


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None


class Dispatcher:
    """Delivers due webhook events; :meth:`run_once` is called by the worker's loop."""

    def __init__(
        self, db: Database, settings: Settings, clock: Clock,
        *, backoff: Callable[[int, float, float], float],
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self._backoff = backoff  # the worker's backoff_delay: one retry policy for SMS and webhooks
        # A lease outlives the slowest attempt (connect, write, read each get the timeout).
        self.lease_seconds = max(settings.worker_lease_seconds,
                                 math.ceil(settings.webhook_timeout_seconds * 4) + 5)

    def run_once(self) -> int:
        """Claim one batch, deliver it (side by side), record each outcome. Returns the batch size."""
        with self.db.write() as conn:
            batch = claim(conn, now=self.clock.now(), lease_seconds=self.lease_seconds,
                          limit=self.settings.worker_batch_size)
        if not batch:
            return 0
        with httpx.Client(timeout=self.settings.webhook_timeout_seconds, trust_env=False,
                          follow_redirects=False, verify=_http.tls_context()) as client:
            if len(batch) == 1:
                self._deliver(client, batch[0])
            else:
                with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(batch)),
                                        thread_name_prefix="senderid-webhook") as pool:
                    for _ in pool.map(lambda event: self._deliver(client, event), batch):
                        pass
        return len(batch)

    def _deliver(self, client: httpx.Client, event: Claimed) -> None:
        try:
            post(client, event, now=self.clock.now(), allow_private=self.settings.webhook_allow_private)
        except DeliveryFailed as exc:
            self._failed(event, exc)
            return
        except Exception as exc:  # a bug here must not lose the event
            log.exception("webhook delivery raised unexpectedly", extra={"event_id": event.id})
            self._failed(event, DeliveryFailed(f"unexpected {type(exc).__name__}"))
            return
        with self.db.write() as conn:
            mark_delivered(conn, event.id, now=self.clock.now())
        metrics.WEBHOOK_DELIVERIES.labels("delivered").inc()
        log.info("webhook delivered", extra={"event_id": event.id, "type": event.type,
                                             "attempts": event.attempts})

    def _failed(self, event: Claimed, error: DeliveryFailed) -> None:
        now = self.clock.now()
        s = self.settings
        if error.final or event.attempts >= s.delivery_max_attempts:
            reason = error.reason if error.final else f"gave up after {event.attempts} attempts: {error.reason}"
            with self.db.write() as conn:
                mark_dead(conn, event.id, now=now, error=reason)
            metrics.WEBHOOK_DELIVERIES.labels("dead").inc()
            log.warning("webhook not delivered", extra={"event_id": event.id, "status": DEAD, "error": reason})
            return
        delay = self._backoff(event.attempts, s.delivery_backoff_seconds, s.delivery_backoff_max_seconds)
        if error.retry_after is not None:
            delay = max(delay, min(error.retry_after, s.delivery_backoff_max_seconds))
        with self.db.write() as conn:
            mark_retry(conn, event.id, now=now, next_attempt_at=now + timedelta(seconds=delay),
                       error=error.reason)
        metrics.WEBHOOK_DELIVERIES.labels("retry").inc()
        log.warning("webhook delivery failed; will retry",
                    extra={"event_id": event.id, "attempts": event.attempts, "error": error.reason})
