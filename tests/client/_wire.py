"""The contract's response bodies (SPEC §1.1-1.3, §6), written out for the client tests.

Bodies the contract documents are reproduced exactly, typos and all; the few that
the contract leaves open (marked "not documented") follow its §1.3 rule for
"anything not covered": the envelope with status false and show_message 1.
"""

from __future__ import annotations

from typing import Any


def envelope(
    *, status: bool, show_message: int, message: str, data: Any, error: Any
) -> dict[str, Any]:
    return {
        "app_type": "web",
        "app_version": "1.0",
        "maintainence": 0,
        "new_version": 0,
        "force_update": 0,
        "invalid_token": 0,
        "refresh_token": "",
        "show_message": show_message,
        "is_enc": False,
        "status": status,
        "message": message,
        "message_type": "toast",
        "data": data,
        "error": error,
    }


def unauthorized(message: str) -> dict[str, Any]:
    return {"code": 401, "message": message, "stack": f"APIError: {message}"}


def failure(message: str) -> dict[str, Any]:
    """Not documented: the §1.3 shape for everything else (rate limits, 404, 5xx, ...)."""
    return envelope(
        status=False, show_message=1, message=message, data={}, error={"error": message}
    )


TOKEN_EXPIRED = unauthorized("Token expired")
TOKEN_REQUIRED = unauthorized("Authorization token is required")


def token_verified(token: str) -> dict[str, Any]:
    return envelope(
        status=True,
        show_message=0,
        message="Token verified successfully!",
        data={"token": token},
        error={},
    )


# -- POST /api/v1/customNumber/add -------------------------------------------------------

ADD_CREATED = envelope(
    status=True,
    show_message=1,
    message="Custom number created",
    data={"success": True, "message": "Success create new custom number"},
    error={},
)
ADD_OTP_SENT = envelope(
    status=True,
    show_message=1,
    message="OTP sent to your number successfully",
    data={"success": True, "message": "OTP sent to your number successfully"},
    error={},
)
ADD_NAME_REQUIRED = envelope(
    status=False,
    show_message=0,
    message="Name is required",
    data={},
    error={"error": "name is not valid"},
)
ADD_NUMBER_REQUIRED = envelope(
    status=False,
    show_message=0,
    message="Mobile number is required",
    data={},
    error={"email": "Mobile number is not valie"},
)
ADD_NUMBER_INVALID = envelope(
    status=False,
    show_message=0,
    message="Mobile number is not valid",
    data={},
    error={"error": "Mobile number is not valid"},
)
ADD_ALREADY_EXISTS = {  # sic: status true on HTTP 400; app_type/app_version only inside data
    "maintainence": 0,
    "new_version": 0,
    "force_update": 0,
    "invalid_token": 0,
    "refresh_token": "",
    "show_message": 0,
    "is_enc": False,
    "status": True,
    "message": "Number already exist in system",
    "message_type": "toast",
    "data": {"invalid_token": 0, "refresh_token": "", "app_type": "web", "app_version": "1.0"},
    "error": {},
}

# -- POST /api/v1/customNumber/verifyCustomNumber ---------------------------------------

VERIFY_OK = envelope(
    status=True, show_message=0, message="OTP Verified Successfully!", data={}, error={}
)
VERIFY_NAME_REQUIRED = envelope(  # sic: HTTP 200
    status=False,
    show_message=1,
    message="Name is Required",
    data={},
    error={"error": "Name is Required"},
)
VERIFY_NUMBER_REQUIRED = envelope(
    status=False,
    show_message=1,
    message="Number is Required",
    data={},
    error={"error": "Number is Required"},
)
VERIFY_OTP_FAILED = envelope(
    status=False,
    show_message=1,
    message="OTP verification failed",
    data={},
    error={"error": "OTP verification failed"},
)

# -- POST /api/v1/business/add -----------------------------------------------------------

BUSINESS_NAME_REQUIRED = envelope(  # sic: HTTP 400 with status true, data 400
    status=True,
    show_message=0,
    message="Busniess Name is required!",
    data=400,
    error={},
)


def business_added(record: dict[str, Any]) -> dict[str, Any]:
    return envelope(
        status=True,
        show_message=0,
        message="Request added successfully for business name!",
        data=record,
        error={},
    )


# -- POST /api/v1/gateway ------------------------------------------------------------------


def gateway_queued(
    queue: list[dict[str, str]], invalid: list[str], **extras: Any
) -> dict[str, Any]:
    """The documented body; ``extras`` are added to ``data`` (senderid adds
    ``encoding`` and ``messageParts``)."""
    return envelope(
        status=True,
        show_message=0,
        message="Request is being processed",
        data={
            "queueResponse": queue,
            "message": "success register all valid contacts to queue",
            "invalidContacts": invalid,
            "unsubscribeContacts": [],
            "totalValidContact": len(queue),
            "totalInvalidContact": len(invalid),
            "totalUnsubscribeContact": 0,
            **extras,
        },
        error={},
    )


# -- GET /api/v1/senderId/check (not in SPEC: the shape senderid's server answers) ---------


def sender_checked(sender: str, *, kind: str | None, send_as: str | None) -> dict[str, Any]:
    return envelope(
        status=True,
        show_message=0,
        message="Sender allowed" if kind else "Sender not allowed",
        data={"sender": sender, "allowed": kind is not None, "type": kind, "sendAs": send_as},
        error={},
    )
