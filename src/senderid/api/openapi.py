"""The OpenAPI document: the contract's real shapes, not the framework's defaults.

Routes read their JSON bodies themselves (so that checks run in the order the
contract lists, with its exact answers), so FastAPI would neither see the request
schemas nor stop advertising a 422 that senderid never sends. Each body is declared
once, as a :class:`senderid.api.body.RequestBody` beside its route, which puts the
schema generated from it into the operation. This module rewrites the generated
document once: every answer wrapped in the envelope (or the 401 body), the
documented answers of SPEC §1.3 as examples, each rendered from its error class in
:mod:`senderid.errors` (or the route's own message) by :mod:`senderid.api.envelope`,
and the error statuses the server really uses.
"""

from __future__ import annotations

from collections.abc import Iterable
from copy import deepcopy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from senderid import errors
from senderid.api import envelope
from senderid.api.routes import custom_numbers, gateway, token, usage
from senderid.api.summaries import SUMMARIES

Schema = dict[str, Any]

_ANY: Schema = {}
_OBJECT: Schema = {"type": "object"}
_JSON_TYPES = {bool: "boolean", int: "integer", str: "string"}


def _constant(value: Any) -> Schema:
    return {"type": _JSON_TYPES[type(value)], "enum": [value]}


def envelope_schema(data: Schema | None = None) -> Schema:
    """The contract's envelope (SPEC §1.1), from the body :func:`senderid.api.envelope.body`
    builds. The keys a documented body may lack (``app_type``/``app_version``: the "Number
    already exist" body has them inside ``data``) are not required."""
    varying: Schema = {
        "show_message": {"type": "integer", "enum": [0, 1]},
        "status": {"type": "boolean"},
        "message": {"type": "string"},
        "data": data if data is not None else _ANY,
        "error": _OBJECT,
    }
    sample = envelope.body(status=True, message="")
    return {
        "type": "object",
        "required": [key for key in sample if key not in errors.NumberAlreadyExists.omit_keys],
        "properties": {key: varying[key] if key in varying else _constant(value) for key, value in sample.items()},
    }


def _bare_schema(body: dict[str, Any]) -> Schema:
    """A documented body outside the envelope (an error's ``bare_body``): its keys, fixed but the message."""
    return {
        "type": "object",
        "required": list(body),
        "additionalProperties": False,
        "properties": {key: {"type": "string"} if key == "message" else _constant(value)
                       for key, value in body.items()},
    }


UNAUTHORIZED: Schema = {
    "type": "object",
    "required": list(envelope.unauthorized_body("")),
    "additionalProperties": False,
    "properties": {
        "code": _constant(401),
        "message": {"type": "string", "enum": list(envelope.TOKEN_MESSAGES)},
        "stack": {"type": "string", "enum": [envelope.unauthorized_body(m)["stack"] for m in envelope.TOKEN_MESSAGES]},
    },
}

# Statuses an API route may answer besides its success, and why.
ERRORS = {
    "400": "The request is not valid (the message says what to change)",
    "401": "Missing, unknown, revoked or expired API key",
    "403": "Not allowed (e.g. a sender the account may not use)",
    "404": "No such record in your account, or no such route",
    "405": "Method not allowed on this path",
    "409": "Conflicts with the record's current state, or an Idempotency-Key reused with another body",
    "413": "Body larger than SENDERID_MAX_BODY_BYTES",
    "415": "Body not sent as application/json",
    "429": "A rate limit: see the Retry-After header",
    "500": "A fault on our side (no details are given)",
}

# Statuses one operation answers that the others do not, and why.
OWN_STATUSES: dict[tuple[str, str], dict[str, str]] = {
    ("post", "/api/v1/gateway"): {
        str(errors.BalanceTooLow.http_status): "The prepaid balance cannot cover the request (nothing queued)",
    },
}

# The documented error answers of each operation (SPEC §1.3), shown as examples under their
# HTTP status, each named by its class (an HTTP 200 one, too, is shown under 200).
DOCUMENTED_ERRORS: dict[tuple[str, str], tuple[errors.SenderIdError, ...]] = {
    ("post", "/api/v1/customNumber/add"): (
        errors.NameRequired(), errors.MobileNumberRequired(), errors.MobileNumberInvalid(),
        errors.NumberAlreadyExists(),
    ),
    ("post", "/api/v1/customNumber/verifyCustomNumber"): (
        errors.VerifyNameRequired(), errors.VerifyNumberRequired(), errors.OtpVerificationFailed(),
    ),
    ("post", "/api/v1/business/add"): (errors.BusinessNameRequired(),),
    ("post", "/api/v1/gateway"): (errors.ContactsRequired(), errors.BalanceTooLow()),
}


def _success(message: str, data: Any, *, show_message: int = 0) -> Schema:
    return {"value": envelope.body(status=True, message=message, data=data, show_message=show_message)}


# The documented successful answers, shown as examples.
SUCCESSES: dict[tuple[str, str], dict[str, Schema]] = {
    ("post", "/api/v1/customNumber/add"): {
        "created": _success(custom_numbers.CREATED, custom_numbers.CREATED_DATA, show_message=1),
        "otp_sent": _success(custom_numbers.OTP_SENT, {"success": True, "message": custom_numbers.OTP_SENT},
                             show_message=1),
    },
    ("post", "/api/v1/customNumber/verifyCustomNumber"): {
        "verified": _success(custom_numbers.VERIFIED, {}),
    },
    ("get", "/api/v1/user/token/verify"): {
        "verified": _success(token.VERIFIED, {"token": "sid_..."}),
    },
    ("post", "/api/v1/gateway"): {
        "queued": _success(gateway.PROCESSING, {
            "queueResponse": [{"Contact": "400000000", "MessageId": "6752c2575e08b2d1eca6d294",
                               "Result": gateway.QUEUED, "Number": "+61400000000"}],
            "message": gateway.REGISTERED, "invalidContacts": [], "unsubscribeContacts": [],
            "totalValidContact": 1, "totalInvalidContact": 0, "totalUnsubscribeContact": 0,
            "encoding": "GSM-7", "messageParts": 1}),
    },
    ("get", "/api/v2/report/message/quick-api-credit-usage"): {
        "usage": _success(usage.SUCCESS, {
            "items": [{"_id": "zapier", "total": 11, "totalCreditAmount": 11},
                      {"_id": "api", "total": 7, "totalCreditAmount": 9.1}],
            **usage.paging(total=2, limit=10, current=1)}),
    },
}


def examples(key: tuple[str, str]) -> dict[str, dict[str, Schema]]:
    """The operation's examples by HTTP status: its successes, then its documented errors as
    :func:`senderid.api.envelope.error_body` renders them."""
    found: dict[str, dict[str, Schema]] = {"200": dict(SUCCESSES.get(key, {}))} if key in SUCCESSES else {}
    for exc in DOCUMENTED_ERRORS.get(key, ()):
        found.setdefault(str(exc.http_status), {})[type(exc).__name__] = {
            "summary": exc.message, "value": deepcopy(envelope.error_body(exc))}
    return found


def _error_schema(key: tuple[str, str], code: str) -> Schema:
    """The envelope, or, where a documented error of that status has a body of its own, either."""
    bare = [_bare_schema(e.bare_body) for e in DOCUMENTED_ERRORS.get(key, ())
            if str(e.http_status) == code and e.bare_body is not None]
    return {"anyOf": [envelope_schema(), *bare]} if bare else envelope_schema()


IDEMPOTENCY_KEY: Schema = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"},
    "description": "The same key and body within SENDERID_IDEMPOTENCY_TTL_HOURS returns the first answer",
}


def _json(schema: Schema, examples: dict[str, Schema] | None = None) -> Schema:
    content: Schema = {"schema": schema}
    if examples:
        content["examples"] = examples
    return {"application/json": content}


def request_bodies(routes: Iterable[BaseRoute]) -> dict[tuple[str, str], Schema]:
    """Each route's declared request body (``openapi_extra``, from its :class:`RequestBody`), as
    declared: FastAPI's own merge passes it through its models, which turn integers into floats."""
    found: dict[tuple[str, str], Schema] = {}
    for route in routes:
        if isinstance(route, APIRoute) and route.openapi_extra and "requestBody" in route.openapi_extra:
            for method in route.methods or ():
                found[(method.lower(), route.path_format)] = route.openapi_extra["requestBody"]
    return found


def _rewrite(document: Schema, bodies: dict[tuple[str, str], Schema]) -> Schema:
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            key = (method, path)
            if key in SUMMARIES:  # not the function's name turned into words
                operation["summary"] = SUMMARIES[key]
            if key in bodies:
                operation["requestBody"] = deepcopy(bodies[key])
            shown = examples(key)
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            if not path.startswith(("/api/", "/admin/")):
                continue
            success = responses.get("200", {})
            success["content"] = (
                {"text/csv": {"schema": {"type": "string"}}} if path.endswith(".csv")  # an export
                else _json(envelope_schema(), shown.get("200"))
            )
            success.setdefault("description", "Success (see `status` in the envelope)")
            statuses = {**ERRORS, **OWN_STATUSES.get(key, {})}
            for code, description in statuses.items():
                if code == "401":
                    responses["401"] = {"description": description, "content": _json(UNAUTHORIZED)}
                else:
                    responses[code] = {"description": description,
                                       "content": _json(_error_schema(key, code), shown.get(code))}
                if code == "429":
                    responses[code]["headers"] = {
                        "Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}}
            operation["security"] = [{"bearer": []}]
            if method == "post":
                operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    document.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "An API key: `sid_...`"}
    }
    _sections(document)
    return document


# -- sections: the public API, then the admin API, then the service's own pages ----------

PUBLIC_API, ADMIN_API, SERVICE = "Public API", "Admin API", "Service"
ADMIN_TAG = "admin: "  # the admin API's tags: "admin: accounts", "admin: keys", ...
_SECTION_TEXT = {
    PUBLIC_API: "Cellcast's v1 API (and its v2 usage report), under `/api`: an account's API key "
                "(`Authorization: Bearer sid_...`).",
    ADMIN_API: "The operators' API, under `/admin/v1`: the admin token (`SENDERID_ADMIN_TOKEN`), "
               "never a customer's key.",
    SERVICE: "The service itself: health, readiness, short links and the developer inbox.",
}


def section_of(path: str) -> str:
    """Which section of the reference an operation on ``path`` is shown in."""
    if path.startswith("/api/"):
        return PUBLIC_API
    if path.startswith("/admin/"):
        return ADMIN_API
    return SERVICE


def _sections(document: Schema) -> None:
    """Tag every admin operation ``admin: <what>`` (the path's first segment after
    ``/admin/v1``), and list the tags section by section: Swagger UI (``/docs``) shows them in
    that order, each tag's description naming its section; ReDoc (``/redoc``) groups them
    under the section's name (``x-tagGroups``)."""
    ordered: dict[str, list[str]] = {PUBLIC_API: [], ADMIN_API: [], SERVICE: []}
    for path, operations in document.get("paths", {}).items():
        section = section_of(path)
        for operation in operations.values():
            if section == ADMIN_API:
                what = path.removeprefix("/admin/v1/").split("/")[0].replace("-", " ")
                operation["tags"] = [ADMIN_TAG + what]
            for tag in operation.get("tags", []):
                if all(tag not in tags for tags in ordered.values()):
                    ordered[section].append(tag)
    document["tags"] = [
        {"name": tag, "description": f"**{section}.** {_SECTION_TEXT[section]}"}
        for section, tags in ordered.items() for tag in tags
    ]
    document["x-tagGroups"] = [{"name": section, "tags": tags} for section, tags in ordered.items() if tags]


def install(app: FastAPI) -> None:
    """Serve the rewritten document at /openapi.json (built once, on first request)."""

    def openapi() -> Schema:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, summary=app.summary, description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = _rewrite(document, request_bodies(app.routes))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to replace the schema
