"""Exceptions raised by the senderid client.

Every exception the client raises on purpose is a :class:`SenderIdError`::

    SenderIdError                    base class; catch this to catch everything
      MissingAPIKeyError             no api_key argument and no SENDERID_API_KEY / CELLCAST_API_KEY
      MissingBaseURLError            no base_url argument and no SENDERID_BASE_URL (no default server)
      APIConnectionError             the server could not be reached or the connection broke
        APITimeoutError              no answer within the client's timeout
      APIStatusError                 the server answered, and the answer is an error
        AuthenticationError          401: key unknown, revoked or expired, or header missing
        PermissionDeniedError        403: a good key that may not do this (send as that sender)
        ValidationError              400, or a 2xx whose envelope says ``status: false``
          NumberAlreadyExistsError   "Number already exist in system" (HTTP 400, status *true*)
          OTPVerificationError       "OTP verification failed"
        RateLimitError               429; ``retry_after`` from the Retry-After header
        NotFoundError                404
        ConflictError                409
        ServerError                  5xx
        UnexpectedResponseError      a 2xx whose body is not a JSON object

An :class:`APIStatusError` for a status with no class of its own (405, 413, 415, ...)
is raised as :class:`APIStatusError` itself.

Which class a response becomes is decided by :func:`status_error_class`, the one table
of the mapping; ``docs/client.md`` shows it to users.
"""

from __future__ import annotations

from typing import Any

import httpx

from ._retry import parse_retry_after

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "ConflictError",
    "MissingAPIKeyError",
    "MissingBaseURLError",
    "NotFoundError",
    "NumberAlreadyExistsError",
    "OTPVerificationError",
    "PermissionDeniedError",
    "RateLimitError",
    "SenderIdError",
    "ServerError",
    "UnexpectedResponseError",
    "ValidationError",
    "status_error_class",
]

#: The documented duplicate answer of ``customNumber/add`` (HTTP 400, ``status: true``).
NUMBER_ALREADY_EXISTS_MESSAGE = "Number already exist in system"
#: The documented answer of ``verifyCustomNumber`` for a missing, wrong or dead code.
OTP_VERIFICATION_FAILED_MESSAGE = "OTP verification failed"


class SenderIdError(Exception):
    """Base class of every exception the client raises."""


class MissingAPIKeyError(SenderIdError):
    """No API key was given and none was found in the environment."""


class MissingBaseURLError(SenderIdError):
    """No base URL was given and ``SENDERID_BASE_URL`` is not set (there is no default server)."""


class APIConnectionError(SenderIdError):
    """The request did not get an HTTP answer (refused, reset, DNS, TLS, ...)."""

    def __init__(self, message: str, *, request: httpx.Request) -> None:
        super().__init__(message)
        self.message = message
        self.request = request


class APITimeoutError(APIConnectionError):
    """The server did not answer within the client's timeout."""


class APIStatusError(SenderIdError):
    """The server answered with an error.

    Attributes:
        status_code: the HTTP status (200 for the documented "status false on 200" answers).
        message: the ``message`` of the body, or the HTTP reason when the body has none.
        envelope: the decoded JSON body (the 401 body for :class:`AuthenticationError`);
            ``{}`` when the body is not a JSON object.
        response: the :class:`httpx.Response`.
        request_id: the ``X-Request-ID`` response header, if the server sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        envelope: dict[str, Any],
        response: httpx.Response,
    ) -> None:
        super().__init__(f"HTTP {status_code}: {message}")
        self.message = message
        self.status_code = status_code
        self.envelope = envelope
        self.response = response
        self.request_id: str | None = response.headers.get("x-request-id")

    @property
    def error(self) -> dict[str, Any]:
        """The envelope's ``error`` object (``{}`` when absent or not an object)."""
        error = self.envelope.get("error")
        return error if isinstance(error, dict) else {}


class AuthenticationError(APIStatusError):
    """HTTP 401: ``Token expired`` or ``Authorization token is required``."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403: the account may not do this (e.g. send as a sender it does not hold)."""


class ValidationError(APIStatusError):
    """The request was refused as invalid (HTTP 400, or ``status: false`` on a 2xx)."""


class NumberAlreadyExistsError(ValidationError):
    """The number is already an active sender (the documented 400 with ``status: true``)."""


class OTPVerificationError(ValidationError):
    """The one-time code is missing, wrong, expired, used up, or nothing awaits it."""


class RateLimitError(APIStatusError):
    """HTTP 429. ``retry_after`` is the server's Retry-After in seconds, or ``None``."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        envelope: dict[str, Any],
        response: httpx.Response,
    ) -> None:
        super().__init__(message, status_code=status_code, envelope=envelope, response=response)
        self.retry_after: float | None = parse_retry_after(response.headers.get("retry-after"))


class NotFoundError(APIStatusError):
    """HTTP 404: unknown route or record."""


class ConflictError(APIStatusError):
    """HTTP 409: the request conflicts with the current state."""


class ServerError(APIStatusError):
    """HTTP 5xx: the server (or a proxy in front of it) failed."""


class UnexpectedResponseError(APIStatusError):
    """A success status whose body the client cannot read as the contract's envelope."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}

_BY_MESSAGE: dict[str, type[APIStatusError]] = {
    NUMBER_ALREADY_EXISTS_MESSAGE: NumberAlreadyExistsError,
    OTP_VERIFICATION_FAILED_MESSAGE: OTPVerificationError,
}


def status_error_class(status_code: int, message: str) -> type[APIStatusError]:
    """The exception class for an error answer with this HTTP status and message.

    401, 403, 404, 409, 429 and 5xx are decided by status alone. Otherwise the two documented
    messages with classes of their own win (they arrive as HTTP 400 with either value of
    ``status``); then 400/422 and a 2xx carrying ``status: false`` are validation errors.
    """
    if status_code in _BY_STATUS:
        return _BY_STATUS[status_code]
    if status_code >= 500:
        return ServerError
    if message in _BY_MESSAGE:
        return _BY_MESSAGE[message]
    if status_code in (400, 422) or 200 <= status_code < 300:
        return ValidationError
    return APIStatusError
