"""What the HTTP providers share: one way to POST and one way to judge the answer.

* network trouble (timeouts, refused or dropped connections) is a
  :class:`TransientError`;
* HTTP 408, 425, 429 and 5xx are transient too, with ``Retry-After`` honoured;
* every other 4xx is a :class:`PermanentError`.

Reasons are built from the status and a short upstream text with the message
body cut out, so an OTP never reaches a log or the database.
"""

from __future__ import annotations

import email.utils
import functools
import ssl
import threading
import time
from typing import Any

import certifi
import httpx

from senderid.delivery.providers.base import PermanentError, ProviderError, TransientError

MAX_DETAIL = 200
TRANSIENT_STATUSES = frozenset({408, 425, 429})


def redact(text: str, body: str) -> str:
    """``text`` shortened, and without any copy of the message ``body``."""
    if body.strip():
        text = text.replace(body, "[message]")
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings every HTTP client of the process shares (the system's defaults with
    certifi's CA bundle, as httpx's own). Building one costs tens of milliseconds: built once."""
    return ssl.create_default_context(cafile=certifi.where())


class Clients:
    """One ``httpx.Client`` per sending thread, each keeping its own keep-alive connection.

    The worker calls ``send`` from many threads at once; a single shared pool would make
    them queue on its lock for every request and response. A thread sends one request at
    a time, so its client needs one connection, which it keeps between sends.
    """

    def __init__(self, **options: Any) -> None:
        self._options = {"limits": httpx.Limits(max_connections=1, max_keepalive_connections=1),
                         "verify": tls_context(), **options}
        self._local = threading.local()
        self._all: list[httpx.Client] = []
        self._lock = threading.Lock()

    def get(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx.Client(**self._options)
            with self._lock:
                self._all.append(client)
        return client

    def close(self) -> None:
        with self._lock:
            clients, self._all = self._all, []
        for client in clients:
            client.close()


def post(
    client: httpx.Client, provider: str, url: str, *, body: str, **kwargs: Any
) -> httpx.Response:
    """POST, turning every transport failure into a :class:`TransientError`."""
    try:
        return client.post(url, **kwargs)
    except httpx.TimeoutException as exc:
        raise TransientError(f"{provider}: no answer in time ({type(exc).__name__})") from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise PermanentError(f"{provider}: unusable URL ({redact(str(exc), body)})") from None
    except httpx.HTTPError as exc:  # refused, reset, dropped, broken answers
        detail = redact(str(exc), body) or "no details"
        raise TransientError(f"{provider}: connection failed ({type(exc).__name__}: {detail})") from None


def retry_after(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def status_error(provider: str, response: httpx.Response, detail: str) -> ProviderError:
    """The error for a non-2xx answer; ``detail`` must already be redacted."""
    code = response.status_code
    reason = f"{provider}: HTTP {code}" + (f": {detail}" if detail else "")
    if code in TRANSIENT_STATUSES or code >= 500:
        return TransientError(reason, retry_after=retry_after(response))
    return PermanentError(reason)


def json_or_none(response: httpx.Response) -> Any:
    """The decoded JSON body, or None when there is none."""
    try:
        return response.json()
    except ValueError:
        return None
