"""What ``Client`` and ``AsyncClient`` share: everything but the transport call.

Configuration (each argument falls back as listed, read once, at construction):

================  ==================================================  =========================
argument          environment fallback                                default
================  ==================================================  =========================
``api_key``       ``SENDERID_API_KEY``, then ``CELLCAST_API_KEY``     none: MissingAPIKeyError
``base_url``      ``SENDERID_BASE_URL``                               none: MissingBaseURLError
``timeout``       (none)                                              10 seconds
``max_retries``   (none)                                              2 (so at most 3 attempts)
================  ==================================================  =========================

There is no default server: a key sent to the wrong one is a key given away, so a
client without ``base_url`` and without ``SENDERID_BASE_URL`` refuses to start. To use
Cellcast itself, pass ``base_url=CELLCAST_BASE_URL`` (``https://api.cellcast.com``).
A base URL may be given with or without a trailing ``/api/v1``; paths are appended
to the bare origin. The timeout applies to every request, including requests sent
through a caller-supplied ``http_client``.

This module builds the request (headers, body, idempotency key), decides after each
attempt whether to retry (delegating the rules to :mod:`._retry`) and turns the final
answer into a result or an exception (the classes in :mod:`._exceptions`). A response
is an error when its HTTP status is not 2xx, when its envelope says ``status: false``
(the documented "Name is Required" arrives as HTTP 200), or when it is the documented
"Number already exist in system" (which says ``status: true``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any, TypeVar

import httpx

from senderid import __version__

from ._endpoints import Call
from ._exceptions import (
    NUMBER_ALREADY_EXISTS_MESSAGE,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    MissingAPIKeyError,
    MissingBaseURLError,
    UnexpectedResponseError,
    status_error_class,
)
from ._retry import IDEMPOTENCY_HEADER, RetryPolicy

R = TypeVar("R")

CELLCAST_BASE_URL = "https://api.cellcast.com"
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 2
API_KEY_ENV_VARS = ("SENDERID_API_KEY", "CELLCAST_API_KEY")
BASE_URL_ENV_VAR = "SENDERID_BASE_URL"
USER_AGENT = f"senderid-python/{__version__}"

logger = logging.getLogger("senderid.client")


def resolve_api_key(api_key: str | None, environ: Mapping[str, str]) -> str:
    if api_key is None:
        api_key = next((environ[n] for n in API_KEY_ENV_VARS if environ.get(n, "").strip()), None)
    api_key = (api_key or "").strip()
    if not api_key:
        raise MissingAPIKeyError(
            "No API key: pass api_key=... or set SENDERID_API_KEY (or CELLCAST_API_KEY)"
        )
    return api_key


def resolve_base_url(base_url: str | None, environ: Mapping[str, str]) -> str:
    url = (base_url or "").strip() or environ.get(BASE_URL_ENV_VAR, "").strip()
    if not url:
        raise MissingBaseURLError(
            f"No server: pass base_url=... or set {BASE_URL_ENV_VAR} (e.g. http://127.0.0.1:8080 "
            f"for a local senderid, or base_url={CELLCAST_BASE_URL!r} for Cellcast)"
        )
    url = url.rstrip("/")
    url = url.removesuffix("/api/v1")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"base_url is not a URL: {url!r}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"base_url must be an http:// or https:// URL, not {url!r}")
    return url


def _decode(response: httpx.Response) -> dict[str, Any] | None:
    """The body as a JSON object, or ``None`` when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _is_error(status_code: int, envelope: dict[str, Any] | None) -> bool:
    if not 200 <= status_code < 300:
        return True
    if envelope is None:
        return False
    return (
        envelope.get("status") is False or envelope.get("message") == NUMBER_ALREADY_EXISTS_MESSAGE
    )


def _status_error(response: httpx.Response, envelope: dict[str, Any] | None) -> APIStatusError:
    body = envelope or {}
    message = body.get("message")
    if not isinstance(message, str) or not message:
        message = response.reason_phrase or f"HTTP {response.status_code}"
    cls = status_error_class(response.status_code, message)
    return cls(message, status_code=response.status_code, envelope=body, response=response)


class BaseClient:
    """Configuration, request building, retry decisions and response mapping."""

    _http: httpx.Client | httpx.AsyncClient

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
        retry_policy: RetryPolicy | None,
    ) -> None:
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError("max_retries must be an integer >= 0")
        self.api_key = resolve_api_key(api_key, os.environ)
        self.base_url = resolve_base_url(base_url, os.environ)
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.max_retries = max_retries
        self._retry_policy = retry_policy or RetryPolicy()

    def __repr__(self) -> str:  # never shows the key
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def _build_request(self, call: Call[Any]) -> httpx.Request:
        headers = {
            "Authorization": f"Bearer {self.api_key}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if call.idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = call.idempotency_key
        return self._http.build_request(
            call.method,
            self.base_url + call.path,
            params=call.params,
            json=call.body,
            headers=headers,
            timeout=self.timeout,
        )

    def _wait_after_error(
        self, request: httpx.Request, exc: httpx.RequestError, retries_done: int
    ) -> float:
        """Seconds to wait before retrying after ``exc``; raises when not retrying."""
        wait = None
        if isinstance(exc, httpx.TransportError):
            wait = self._next_wait(request, retries_done, None, type(exc).__name__)
        if wait is None:
            if isinstance(exc, httpx.TimeoutException):
                raise APITimeoutError(
                    f"Timed out: {request.method} {request.url}", request=request
                ) from exc
            detail = str(exc) or type(exc).__name__
            raise APIConnectionError(
                f"Connection error: {request.method} {request.url}: {detail}", request=request
            ) from exc
        return wait

    def _wait_after_response(
        self, request: httpx.Request, response: httpx.Response, retries_done: int
    ) -> float | None:
        """Seconds to wait before retrying after ``response``; ``None`` if it is final."""
        return self._next_wait(request, retries_done, response, f"HTTP {response.status_code}")

    def _next_wait(
        self,
        request: httpx.Request,
        retries_done: int,
        response: httpx.Response | None,
        reason: str,
    ) -> float | None:
        wait = self._retry_policy.next_wait(
            retries_done=retries_done,
            max_retries=self.max_retries,
            request=request,
            response=response,
        )
        if wait is not None:
            logger.info(
                "retrying %s %s in %.3f s (retry %d of %d) after %s",
                request.method,
                request.url,
                wait,
                retries_done + 1,
                self.max_retries,
                reason,
            )
        return wait

    def _process_response(self, call: Call[R], response: httpx.Response) -> R:
        envelope = _decode(response)
        if _is_error(response.status_code, envelope):
            raise _status_error(response, envelope)
        if envelope is None:
            raise UnexpectedResponseError(
                "The response body is not a JSON object",
                status_code=response.status_code,
                envelope={},
                response=response,
            )
        return call.parse(envelope)
