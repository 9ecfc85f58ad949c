"""The OpenAPI document: the contract's real shapes, not the framework's defaults.

Routes read their JSON bodies themselves (so that checks run in the order the
contract lists, with its exact answers), so FastAPI cannot see the request
schemas, and it would advertise a 422 that senderid never sends. This module
rewrites the generated document once: request bodies from :data:`REQUESTS`,
every answer wrapped in the envelope (or the 401 body), the documented examples
of SPEC §1.3, and the error statuses the server really uses.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from senderid.api.summaries import SUMMARIES

Schema = dict[str, Any]

_ANY: Schema = {}
_OBJECT: Schema = {"type": "object"}
_STRING: Schema = {"type": "string"}
_NUMBER_INPUT: Schema = {
    "anyOf": [{"type": "string", "maxLength": 32}, {"type": "integer"}],
    "description": "+61400000000, 61400000000, 0400000000 or 400000000, with spaces, dashes, dots "
    "or parentheses between digits",
    "examples": ["+61491570156"],
}


def envelope(data: Schema | None = None) -> Schema:
    """The contract's envelope (SPEC §1.1). `app_type`/`app_version` are optional because
    the documented "Number already exist" body has them inside `data` instead."""
    return {
        "type": "object",
        "required": ["maintainence", "new_version", "force_update", "invalid_token", "refresh_token",
                     "show_message", "is_enc", "status", "message", "message_type", "data", "error"],
        "properties": {
            "app_type": {"type": "string", "enum": ["web"]},
            "app_version": {"type": "string", "enum": ["1.0"]},
            "maintainence": {"type": "integer", "enum": [0]},
            "new_version": {"type": "integer", "enum": [0]},
            "force_update": {"type": "integer", "enum": [0]},
            "invalid_token": {"type": "integer", "enum": [0]},
            "refresh_token": {"type": "string", "enum": [""]},
            "show_message": {"type": "integer", "enum": [0, 1]},
            "is_enc": {"type": "boolean", "enum": [False]},
            "status": {"type": "boolean"},
            "message": {"type": "string"},
            "message_type": {"type": "string", "enum": ["toast"]},
            "data": data if data is not None else _ANY,
            "error": _OBJECT,
        },
    }


UNAUTHORIZED: Schema = {
    "type": "object",
    "required": ["code", "message", "stack"],
    "additionalProperties": False,
    "properties": {
        "code": {"type": "integer", "enum": [401]},
        "message": {"type": "string", "enum": ["Token expired", "Authorization token is required"]},
        "stack": {"type": "string", "enum": ["APIError: Token expired", "APIError: Authorization token is required"]},
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


def _body(schema: Schema, example: Any) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": schema, "example": example}}}


# (method, path) -> request body, success data schema, and documented examples of the answer.
REQUESTS: dict[tuple[str, str], Schema] = {
    ("post", "/api/v1/customNumber/add"): _body(
        {"type": "object", "properties": {"name": {"type": "string", "maxLength": 100}, "number": _NUMBER_INPUT}},
        {"name": "Custom Number", "number": "+61400000000"},
    ),
    ("post", "/api/v1/customNumber/verifyCustomNumber"): _body(
        # Untyped on purpose: the contract answers a missing or blank name with HTTP 200
        # (status false, "Name is Required") before it looks at anything else, so no body
        # shape is refused with a 4xx.
        {"type": "object", "properties": {
            "name": {"description": "string, at most 100 characters"},
            "number": {"description": _NUMBER_INPUT["description"]},
            "otp": {"description": "the 6-digit code (a string; an integer is accepted)"}}},
        {"name": "Custom Number", "number": "+61400000000", "otp": "123456"},
    ),
    ("post", "/api/v1/gateway"): _body(
        {"type": "object", "required": ["message", "contacts"], "properties": {
            "message": {"type": "string", "description": "The text. Custom fields such as {{[First Name]}} are "
                        "refused (400): senderid keeps no contact book."},
            "contacts": {"type": "array", "items": _NUMBER_INPUT, "minItems": 1, "maxItems": 1000,
                         "description": "Missing, empty or without one valid number: the documented 400 "
                         "{code, message, stack} body. Numbers on the account's opt-out list are not sent "
                         "and come back in unsubscribeContacts."},
            "sender": {"type": "string", "description": "empty or #SharedNum# (any case), an active custom "
                       "number, or an approved business name of the account"},
            "countryCode": {"anyOf": [{"type": "integer", "enum": [61]}, {"type": "string", "enum": ["61"]}],
                            "description": "Only 61."},
            "scheduleAt": {"type": "string", "description": "Send at this time: ISO-8601 UTC "
                           "(2024-08-14T14:58:00.981Z) or Y-m-d H:i:s read as UTC; in the future, at most a "
                           "year ahead. Not with delay.", "examples": ["2024-08-14T14:58:00.981Z"]},
            "delay": {"type": "integer", "minimum": 1, "maximum": 86400000,
                      "description": "Send this many milliseconds from now. Not with scheduleAt."},
            "replyStopToOptOut": {"type": "boolean", "description": "Add the line 'Reply STOP to opt out' "
                                  "(counted in the parts)."},
            "optout": {"type": "boolean", "description": "Honour the opt-out list named by optoutId (the "
                       "account's own list is always honoured)."},
            "optoutId": {"type": "string", "description": "The account's opt-out list id (GET /api/v1/optouts, "
                         "data.optoutId); any other value is a 400."},
            "longUrl": {"type": "array", "maxItems": 10, "items": {
                "type": "object", "required": ["longUrl", "shortUrl"], "properties": {
                    "longUrl": {"type": "string", "maxLength": 2000, "description": "http(s); https:// is "
                                "added when there is no scheme"},
                    "shortUrl": {"type": "string", "pattern": "^[A-Za-z0-9]{3,32}$",
                                 "description": "gosite.au/<shortUrl> in the message becomes a short link "
                                 "under SENDERID_SHORT_LINK_BASE (400 when unset)"}}}},
            "customString": {"type": "string", "pattern": "^[A-Za-z0-9-]{1,64}$",
                             "description": "Kept with each message; the credit usage report sums by it."}}},
        {"message": "Your order is ready: gosite.au/goo", "contacts": ["0491 570 157"], "sender": "+61491570156",
         "longUrl": [{"longUrl": "www.example.com/orders", "shortUrl": "goo"}], "customString": "shop",
         "replyStopToOptOut": True},
    ),
    ("post", "/dev/inbox/reply"): _body(
        {"type": "object", "required": ["from", "to", "body"], "properties": {
            "from": {"type": "string", "description": "the phone that replies"},
            "to": {"type": "string", "description": "the sender it replies to (senderid: the shared sender)"},
            "body": {"type": "string", "description": "STOP, STOP ALL, UNSUBSCRIBE or OPTOUT opt it out"}}},
        {"from": "+61491570157", "to": "+61491570156", "body": "STOP"},
    ),
    ("post", "/api/v1/optouts"): _body(
        {"type": "object", "required": ["number"], "properties": {"number": _NUMBER_INPUT}},
        {"number": "0491 570 157"},
    ),
    ("put", "/admin/v1/accounts/{account_id}/credits"): _body(
        {"type": "object", "required": ["credits"], "properties": {
            "credits": {"anyOf": [{"type": "number", "minimum": 0, "maximum": 1e9}, {"type": "null"}],
                        "description": "a prepaid balance in credits; null: unlimited"}}},
        {"credits": 500},
    ),
    ("post", "/api/v1/business/add"): _body(
        {"type": "object", "properties": {
            "businessname": {"type": "string", "minLength": 3, "maxLength": 11},
            "customerContact": _NUMBER_INPUT,
            "abn": {"description": "the registrant's ABN for ACMA's SMS Sender ID Register: 11 digits, "
                    "spaces allowed, valid by the ATO's check digits (a string; an integer is accepted)"},
            "entityName": {"type": "string", "maxLength": 200, "description": "the registrant entity"},
            "useCase": {"type": "string", "enum": ["business_name", "company_name", "trademark", "domain"]},
            "useCaseReference": {"type": "string", "maxLength": 253, "description":
                                 "the registration, ACN, trade mark number, or a .au domain"}}},
        {"businessname": "Acme", "customerContact": "0491 570 156", "abn": "51 824 753 556",
         "entityName": "Acme Pty Ltd", "useCase": "domain", "useCaseReference": "acme.com.au"},
    ),
    # The admin API (/admin/v1, SENDERID_ADMIN_TOKEN).
    ("post", "/admin/v1/accounts"): _body(
        {"type": "object", "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "otp_required": {"type": "boolean", "default": True}}},
        {"name": "Acme Pty Ltd", "otp_required": True},
    ),
    ("patch", "/admin/v1/accounts/{account_id}"): _body(
        {"type": "object", "properties": {
            "otp_required": {"type": "boolean"},
            "abn": {"type": ["string", "null"], "description": "default ABN of business-name requests"},
            "entity_name": {"type": ["string", "null"], "maxLength": 200}}},
        {"otp_required": False, "abn": "51 824 753 556", "entity_name": "Acme Pty Ltd"},
    ),
    ("post", "/admin/v1/accounts/{account_id}/keys"): _body(
        {"type": "object", "properties": {"expires_in_days": {"type": "integer", "minimum": 1}}},
        {"expires_in_days": 90},
    ),
    ("post", "/admin/v1/business-names/{name_id}/acma"): _body(
        {"type": "object", "required": ["status"], "properties": {
            "status": {"type": "string", "enum": ["not_submitted", "submitted", "registered", "refused"]},
            "reference": {"type": "string", "maxLength": 100}}},
        {"status": "submitted", "reference": "APP-12345"},
    ),
    ("post", "/admin/v1/business-names/{name_id}/reject"): _body(
        {"type": "object", "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 500}}},
        {"reason": "The name belongs to a bank"},
    ),
}

_ENVELOPE_BASE = {"app_type": "web", "app_version": "1.0", "maintainence": 0, "new_version": 0,
                  "force_update": 0, "invalid_token": 0, "refresh_token": "", "is_enc": False,
                  "message_type": "toast"}


def _example(status: bool, show: int, message: str, data: Any, error: Any) -> Schema:
    return {"value": {**_ENVELOPE_BASE, "show_message": show, "status": status, "message": message,
                      "data": data, "error": error}}


CONTACTS_EXAMPLE = {"code": 400, "message": "Contacts must either start with 61 or +61 and be exactly 11 digits "
                    "long (e.g., 614xxxxxxxx or +614xxxxxxxx), or be 9 digits without the area code (e.g., "
                    "4xxxxxxxx)", "stack": "APIError: Contacts are required."}
BALANCE_TOO_LOW = "Your balance is too low for this request, please recharge."
CONTACTS_REQUIRED: Schema = {
    "type": "object",
    "required": ["code", "message", "stack"],
    "additionalProperties": False,
    "properties": {
        "code": {"type": "integer", "enum": [400]},
        "message": {"type": "string"},
        "stack": {"type": "string", "enum": ["APIError: Contacts are required."]},
    },
}


# Documented answers of SPEC §1.3, shown as examples.
EXAMPLES: dict[tuple[str, str], dict[str, dict[str, Schema]]] = {
    ("post", "/api/v1/customNumber/add"): {
        "200": {
            "created": _example(True, 1, "Custom number created",
                                {"success": True, "message": "Success create new custom number"}, {}),
            "otp_sent": _example(True, 1, "OTP sent to your number successfully",
                                 {"success": True, "message": "OTP sent to your number successfully"}, {}),
        },
        "400": {
            "name_required": _example(False, 0, "Name is required", {}, {"error": "name is not valid"}),
            "number_required": _example(False, 0, "Mobile number is required", {},
                                        {"email": "Mobile number is not valie"}),
            "number_invalid": _example(False, 0, "Mobile number is not valid", {},
                                       {"error": "Mobile number is not valid"}),
            "already_exists": {"value": {
                "maintainence": 0, "new_version": 0, "force_update": 0, "invalid_token": 0,
                "refresh_token": "", "show_message": 0, "is_enc": False, "status": True,
                "message": "Number already exist in system", "message_type": "toast",
                "data": {"invalid_token": 0, "refresh_token": "", "app_type": "web", "app_version": "1.0"},
                "error": {}}},
        },
    },
    ("post", "/api/v1/customNumber/verifyCustomNumber"): {
        "200": {
            "verified": _example(True, 0, "OTP Verified Successfully!", {}, {}),
            "name_required": _example(False, 1, "Name is Required", {}, {"error": "Name is Required"}),
        },
        "400": {
            "number_required": _example(False, 1, "Number is Required", {}, {"error": "Number is Required"}),
            "otp_failed": _example(False, 1, "OTP verification failed", {}, {"error": "OTP verification failed"}),
        },
    },
    ("get", "/api/v1/user/token/verify"): {
        "200": {"verified": _example(True, 0, "Token verified successfully!", {"token": "sid_..."}, {})},
    },
    ("post", "/api/v1/gateway"): {
        "200": {"queued": _example(True, 0, "Request is being processed", {
            "queueResponse": [{"Contact": "400000000", "MessageId": "6752c2575e08b2d1eca6d294",
                               "Result": "Message added to queue.", "Number": "+61400000000"}],
            "message": "success register all valid contacts to queue", "invalidContacts": [],
            "unsubscribeContacts": [], "totalValidContact": 1, "totalInvalidContact": 0,
            "totalUnsubscribeContact": 0, "encoding": "GSM-7", "messageParts": 1}, {})},
        "422": {"balance_too_low": _example(False, 0, BALANCE_TOO_LOW, {}, {"errorMessage": BALANCE_TOO_LOW})},
    },
    ("get", "/api/v2/report/message/quick-api-credit-usage"): {
        "200": {"usage": _example(True, 0, "Success", {
            "items": [{"_id": "zapier", "total": 11, "totalCreditAmount": 11},
                      {"_id": "api", "total": 7, "totalCreditAmount": 9.1}],
            "total": 2, "limit": 10, "current": 1, "totalPages": 1, "pagingCounter": 1, "hasPrevPage": False,
            "hasNextPage": False, "offset": 0, "prevPage": None, "nextPage": None}, {})},
    },
}

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


def _rewrite(document: Schema) -> Schema:
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            key = (method, path)
            if key in SUMMARIES:  # not the function's name turned into words
                operation["summary"] = SUMMARIES[key]
            examples = EXAMPLES.get(key, {})
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            if key in REQUESTS:
                operation["requestBody"] = deepcopy(REQUESTS[key])
            if not path.startswith(("/api/", "/admin/")):
                continue
            success = responses.get("200", {})
            success["content"] = (
                {"text/csv": {"schema": {"type": "string"}}} if path.endswith(".csv")  # an export
                else _json(envelope(), examples.get("200"))
            )
            success.setdefault("description", "Success (see `status` in the envelope)")
            for code, description in ERRORS.items():
                if code == "401":
                    responses["401"] = {"description": description, "content": _json(UNAUTHORIZED)}
                else:
                    responses[code] = {"description": description, "content": _json(envelope(), examples.get(code))}
                responses[code]["headers"] = (
                    {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}}
                    if code == "429" else {}
                )
                if not responses[code]["headers"]:
                    del responses[code]["headers"]
            if key == ("post", "/api/v1/gateway"):  # the documented 400 and 422 bodies
                responses["400"]["content"] = _json({"anyOf": [envelope(), CONTACTS_REQUIRED]}, {
                    "contacts_required": {"value": {**CONTACTS_EXAMPLE}}})
                responses["422"] = {"description": "The prepaid balance cannot cover the request (nothing queued)",
                                    "content": _json(envelope(), examples.get("422"))}
            operation["security"] = [{"bearer": []}]
            if method == "post":
                operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    document.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "An API key: `sid_...`"}
    }
    return document


def install(app: FastAPI) -> None:
    """Serve the rewritten document at /openapi.json (built once, on first request)."""

    def openapi() -> Schema:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, summary=app.summary, description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = _rewrite(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
