"""Reading a request's JSON body, with answers a person can act on."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from senderid.errors import SenderIdError


class UnsupportedMediaType(SenderIdError):
    http_status = 415
    message = "Send the body as JSON with the header Content-Type: application/json"


class MalformedBody(SenderIdError):
    pass


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def json_object(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type")
    if content_type is not None and not _is_json(content_type):
        raise UnsupportedMediaType()
    return parse_object(content_type, await request.body())


def parse_object(content_type: str | None, raw: bytes) -> dict[str, Any]:
    """The JSON object in a body already read (415 / 400 as :func:`json_object`)."""
    if content_type is not None and not _is_json(content_type):
        raise UnsupportedMediaType()
    if not raw.strip():
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise MalformedBody("The body is not valid JSON") from None
    if not isinstance(value, dict):
        raise MalformedBody("The body must be a JSON object")
    return value
