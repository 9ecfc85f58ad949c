"""Account webhooks: where an account's events may go, and how the worker takes them there.

Events are queued by :mod:`senderid.delivery.events` in the transaction of the
change they describe. The worker delivers them here, in the same three short
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
(:func:`senderid.delivery.signing.sign` under the account's secret).

The private-address rule: unless ``SENDERID_WEBHOOK_ALLOW_PRIVATE`` is set, a
webhook URL must resolve only to public addresses. It is checked when the URL
is set and again at every delivery, and the connection goes to the address
that was checked (the host name still names the server for ``Host``, TLS SNI
and certificate checks), so a DNS answer that changes in between (DNS
rebinding) cannot turn a webhook into a way into the server's network.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Connection, select, update

from senderid import metrics
from senderid.clock import Clock
from senderid.delivery import signing
from senderid.delivery.providers import _http
from senderid.delivery.lease import claim_due
from senderid.settings import Settings
from senderid.store.db import Database
from senderid.store.tables import accounts, webhook_events

log = logging.getLogger("senderid.webhooks")

QUEUED, SENDING, DELIVERED, DEAD = "queued", "sending", "delivered", "dead"
STATUSES = (QUEUED, SENDING, DELIVERED, DEAD)
MAX_URL_LENGTH = 2000  # accounts.webhook_url
MAX_ERROR_LENGTH = 500
MAX_PARALLEL = 8  # deliveries of one batch run side by side, so one slow receiver costs one timeout
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

# -- the URL rules ---------------------------------------------------------------------


class UnsafeUrl(ValueError):
    """A webhook URL senderid will not call; the text says why (and never holds a secret)."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: where to connect, and the name the server answers to."""

    url: str
    scheme: str
    host: str  # as written (no brackets around IPv6)
    port: int

    @property
    def is_ip_literal(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True


def parse_url(url: str) -> Target:
    """Check a URL's form: http(s), a host, no credentials, nothing odd. Raises UnsafeUrl."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"The webhook URL must be at most {MAX_URL_LENGTH} characters")
    if not url.isascii() or not url.isprintable() or any(ch.isspace() for ch in url):
        raise UnsafeUrl(
            "The webhook URL must be plain ASCII without spaces or control characters "
            "(write an international host name in its xn-- form)"
        )
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeUrl("The webhook URL must start with http:// or https://")
    if "@" in parts.netloc:
        raise UnsafeUrl("The webhook URL must not contain a user name or password")
    host = parts.hostname
    if not host:
        raise UnsafeUrl("The webhook URL must name a host")
    try:
        port = parts.port
    except ValueError:
        raise UnsafeUrl("The webhook URL has an invalid port") from None
    return Target(url=url, scheme=scheme, host=host, port=port or (443 if scheme == "https" else 80))


def forbidden_reason(address: str) -> str | None:
    """Why an IP address is not a public one (None when it is)."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4 address wrapped in IPv6 is judged as the IPv4 address it reaches.
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
    for flag in ("unspecified", "loopback", "link_local", "multicast", "private", "reserved"):
        if getattr(ip, f"is_{flag}"):
            return flag.replace("_", "-")
    if not ip.is_global:
        return "non-public"
    return None


def resolve(target: Target) -> list[str]:
    """Every address the host resolves to, each checked. Raises UnsafeUrl."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise UnsafeUrl(f"The webhook host {target.host} could not be resolved") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UnsafeUrl(f"The webhook host {target.host} could not be resolved")
    for address in addresses:
        reason = forbidden_reason(address)
        if reason is not None:
            raise UnsafeUrl(
                f"The webhook host {target.host} resolves to {address.split('%', 1)[0]}, a {reason} "
                "address; webhooks go to public addresses only "
                "(SENDERID_WEBHOOK_ALLOW_PRIVATE=true lifts this for closed networks)"
            )
    return addresses


def check_url(url: str, *, allow_private: bool) -> Target:
    """The form check, then (unless private addresses are allowed) the address check."""
    target = parse_url(url)
    if not allow_private:
        resolve(target)
    return target


def without_query(url: str) -> str:
    """The URL as it may be shown (audit, logs): no query string or fragment, which may hold tokens."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


# -- storage ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claimed:
    id: str
    account_id: str
    type: str
    payload: dict[str, Any]
    attempts: int  # including this one
    url: str | None  # the account's URL at claim time
    secret: str | None


def claim(conn: Connection, *, now: datetime, lease_seconds: int, limit: int) -> list[Claimed]:
    """Take up to ``limit`` due events (queued, or sending with an expired lease).

    SKIP LOCKED on PostgreSQL (:func:`senderid.delivery.lease.claim_due`), so
    several workers never take the same event.
    """
    rows = claim_due(
        conn,
        webhook_events,
        (webhook_events.c.id, webhook_events.c.account_id, webhook_events.c.type,
         webhook_events.c.payload, webhook_events.c.attempts),
        now=now,
        lease_seconds=lease_seconds,
        limit=limit,
    )
    if not rows:
        return []
    hooks = {
        row.id: (row.webhook_url, row.webhook_secret)
        for row in conn.execute(
            select(accounts.c.id, accounts.c.webhook_url, accounts.c.webhook_secret).where(
                accounts.c.id.in_({row.account_id for row in rows})
            )
        )
    }
    return [
        Claimed(row.id, row.account_id, row.type, row.payload, row.attempts + 1,
                *hooks.get(row.account_id, (None, None)))
        for row in rows
    ]


def mark_delivered(conn: Connection, event_id: str, *, now: datetime) -> None:
    conn.execute(
        update(webhook_events)
        .where(webhook_events.c.id == event_id)
        .values(status=DELIVERED, lease_until=None, last_error=None, delivered_at=now, updated_at=now)
    )


def mark_retry(conn: Connection, event_id: str, *, now: datetime, next_attempt_at: datetime, error: str) -> None:
    conn.execute(
        update(webhook_events)
        .where(webhook_events.c.id == event_id)
        .values(status=QUEUED, next_attempt_at=next_attempt_at, lease_until=None,
                last_error=error[:MAX_ERROR_LENGTH], updated_at=now)
    )


def mark_dead(conn: Connection, event_id: str, *, now: datetime, error: str) -> None:
    conn.execute(
        update(webhook_events)
        .where(webhook_events.c.id == event_id)
        .values(status=DEAD, lease_until=None, last_error=error[:MAX_ERROR_LENGTH], updated_at=now)
    )


def get(conn: Connection, event_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(webhook_events).where(webhook_events.c.id == event_id)).first()
    return None if row is None else dict(row._mapping)


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
    timestamp = int(now.timestamp())
    headers = {
        "content-type": "application/json",
        "webhook-id": event.id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signing.sign(event.secret, event.id, timestamp, body),
        "user-agent": "senderid-webhooks",
    }
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
