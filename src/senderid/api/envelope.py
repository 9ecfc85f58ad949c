"""The contract's response bodies, built in one place (SPEC §1.1, §1.2).

Every ``/api/v1`` response is the envelope, except the 401, which has its
own three-key body. Nothing else builds response JSON for the API.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from senderid.errors import SenderIdError

BASE: dict[str, Any] = {
    "app_type": "web",
    "app_version": "1.0",
    "maintainence": 0,  # sic: the documented key
    "new_version": 0,
    "force_update": 0,
    "invalid_token": 0,
    "refresh_token": "",
}

TOKEN_EXPIRED = "Token expired"
TOKEN_REQUIRED = "Authorization token is required"
TOKEN_MESSAGES = (TOKEN_EXPIRED, TOKEN_REQUIRED)  # the 401 body's two messages


class JSONBytes(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def body(
    *, status: bool, message: str, data: Any = None, error: Any = None, show_message: int = 0
) -> dict[str, Any]:
    return {
        **BASE,
        "show_message": show_message,
        "is_enc": False,
        "status": status,
        "message": message,
        "message_type": "toast",
        "data": {} if data is None else data,
        "error": {} if error is None else error,
    }


def ok(message: str, data: Any = None, *, show_message: int = 0, http_status: int = 200) -> Response:
    return JSONBytes(body(status=True, message=message, data=data, show_message=show_message), http_status)


def failure(
    message: str, http_status: int, *, error: Any = None, headers: dict[str, str] | None = None
) -> Response:
    """An error that is not one of the documented bodies: status false, show_message 1."""
    content = body(status=False, message=message, error={"error": message} if error is None else error,
                   show_message=1)
    return JSONBytes(content, http_status, headers=headers)


def error_body(exc: SenderIdError) -> dict[str, Any]:
    """The JSON an error is answered with (the API reference shows the same, as examples)."""
    if exc.bare_body is not None:  # a documented body outside the envelope (the gateway's 400)
        return exc.bare_body
    content = body(
        status=exc.status, message=exc.message, data=exc.data, error=exc.error,
        show_message=exc.show_message,
    )
    for key in exc.omit_keys:  # the documented duplicate body lacks some envelope keys
        del content[key]
    return content


def from_error(exc: SenderIdError) -> Response:
    return JSONBytes(error_body(exc), exc.http_status, headers=exc.headers or None)


def unauthorized_body(message: str) -> dict[str, Any]:
    return {"code": 401, "message": message, "stack": f"APIError: {message}"}


def unauthorized(message: str) -> Response:
    return JSONBytes(unauthorized_body(message), 401)
