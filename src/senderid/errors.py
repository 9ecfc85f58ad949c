"""Domain errors, each knowing its HTTP status and the words the caller sees.

The API renders every one of them into the contract's envelope in one place
(:mod:`senderid.api.envelope`); the CLI prints ``message``. Texts quoted from
the contract (``SPEC.md`` §1.3) are reproduced exactly, typos included.

Hierarchy::

    SenderIdError                 400, status false, show_message 1
      InvalidRequest              400 (a body that is not what the endpoint takes)
      NotFound                    404
      Conflict                    409
      RateLimited                 429 + Retry-After
      -- the documented answers of the contract --
      NameRequired                add: name missing/empty/not a string
      MobileNumberRequired        add: number missing/empty
      MobileNumberInvalid         add: number not a valid mobile
      NumberAlreadyExists         add: number already active (status *true*, sic)
      VerifyNameRequired          verify: name missing (HTTP *200*, sic)
      VerifyNumberRequired        verify: number missing
      OtpVerificationFailed       verify: otp missing, wrong, expired, used up, unknown
      ContactsRequired            gateway: no contacts, or none valid (a bare 3-key body)
      BalanceTooLow               gateway: the prepaid balance cannot cover the request (422)
      SenderNotAllowed            gateway: the account may not send as that sender (403)
      NumberProtected             add, reclaim: an operator protects the number (400)
      NumberNotHeldByAnother      reclaim: no other account holds the number (400)
      ReclaimNeedsOtp             reclaim: the account works without OTP (403)
      ClaimOpen                   reclaim, verify: a claim on the number is open (409)
      BusinessNameProtected       business/add: an operator protects the name (400)
      IdempotencyKeyInvalid       any POST: an Idempotency-Key that cannot be one (400)
      IdempotencyKeyReused        any POST: the key was used for another request (409)
"""

from __future__ import annotations

from typing import Any


class SenderIdError(Exception):
    http_status: int = 400
    status: bool = False
    show_message: int = 1
    message: str = "The request could not be completed"
    omit_keys: tuple[str, ...] = ()  # envelope keys a documented body does not have
    bare_body: dict[str, Any] | None = None  # a documented body that is not the envelope at all

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)

    @property
    def data(self) -> Any:
        return {}

    @property
    def error(self) -> dict[str, Any]:
        return {"error": self.message}

    @property
    def headers(self) -> dict[str, str]:
        return {}


class InvalidRequest(SenderIdError):
    pass


class NotFound(SenderIdError):
    http_status = 404
    message = "Not found"


class Conflict(SenderIdError):
    http_status = 409


class RateLimited(SenderIdError):
    http_status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


# -- POST /api/v1/customNumber/add -----------------------------------------------------


class NameRequired(SenderIdError):
    show_message = 0
    message = "Name is required"

    @property
    def error(self) -> dict[str, Any]:
        return {"error": "name is not valid"}


class MobileNumberRequired(SenderIdError):
    show_message = 0
    message = "Mobile number is required"

    @property
    def error(self) -> dict[str, Any]:
        return {"email": "Mobile number is not valie"}  # sic: the documented body


class MobileNumberInvalid(SenderIdError):
    show_message = 0
    message = "Mobile number is not valid"


class NumberAlreadyExists(SenderIdError):
    status = True  # sic: the documented body says true on this error
    show_message = 0
    message = "Number already exist in system"
    omit_keys = ("app_type", "app_version")  # sic: they sit inside `data` instead

    @property
    def data(self) -> Any:
        return {"invalid_token": 0, "refresh_token": "", "app_type": "web", "app_version": "1.0"}

    @property
    def error(self) -> dict[str, Any]:
        return {}


# -- POST /api/v1/customNumber/verifyCustomNumber --------------------------------------


class VerifyNameRequired(SenderIdError):
    http_status = 200  # sic: the documented answer is a 200 with status false
    message = "Name is Required"


class VerifyNumberRequired(SenderIdError):
    message = "Number is Required"


class OtpVerificationFailed(SenderIdError):
    message = "OTP verification failed"


# -- the right of use: protected senders, reclaim ----------------------------------------


class NumberProtected(SenderIdError):
    """add or reclaim of a number (or a number under a prefix) an operator protects, by an
    account not allowed to use it."""

    show_message = 0
    message = "Number is protected"


class NumberNotHeldByAnother(SenderIdError):
    """reclaim of a number no other account holds (active or lapsed): add it instead."""

    show_message = 0
    message = "Number is not held by another account"


class ReclaimNeedsOtp(SenderIdError):
    """reclaim by an account that works without OTP: a claim is a proof of possession."""

    http_status = 403
    show_message = 0
    message = "Reclaim needs an account that verifies numbers by OTP"


class ClaimOpen(Conflict):
    """A claim on the number is open: one at a time, until it is decided."""

    message = "A claim on this number is open; try again once it is decided"


class BusinessNameProtected(SenderIdError):
    """business/add of a name that holds a protected name as a whole word."""

    show_message = 0
    message = "Business name is protected"


# -- POST /api/v1/business/add -----------------------------------------------------------


class BusinessNameRequired(SenderIdError):
    """business/add without a name: the documented body (HTTP 400, status *true*, data 400)."""

    status = True  # sic: the documented body
    show_message = 0
    message = "Busniess Name is required!"  # sic: the documented text

    @property
    def data(self) -> Any:
        return 400  # sic: the integer

    @property
    def error(self) -> dict[str, Any]:
        return {}


class BusinessNameInvalid(InvalidRequest):
    """A business name that breaks a rule of SPEC §5; the message names the rule."""


# -- POST /api/v1/gateway ------------------------------------------------------------------


CONTACTS_MESSAGE = (
    "Contacts must either start with 61 or +61 and be exactly 11 digits long (e.g., 614xxxxxxxx "
    "or +614xxxxxxxx), or be 9 digits without the area code (e.g., 4xxxxxxxx)"
)


class ContactsRequired(SenderIdError):
    """gateway: ``contacts`` missing, empty, or without one valid number (the documented body)."""

    message = CONTACTS_MESSAGE
    bare_body = {"code": 400, "message": CONTACTS_MESSAGE, "stack": "APIError: Contacts are required."}


class BalanceTooLow(SenderIdError):
    """gateway: the account's prepaid balance cannot cover the request (the documented 422)."""

    http_status = 422
    show_message = 0
    message = "Your balance is too low for this request, please recharge."

    @property
    def error(self) -> dict[str, Any]:
        return {"errorMessage": self.message}


class SenderNotAllowed(SenderIdError):
    """gateway: the account may not send as the sender it named; the message says why."""

    http_status = 403


# -- any POST with an Idempotency-Key header ----------------------------------------------


class IdempotencyKeyInvalid(InvalidRequest):
    """An ``Idempotency-Key`` that is not 1 to 255 visible ASCII characters, or sent twice."""

    message = ("Idempotency-Key must be 1 to 255 visible ASCII characters "
               "(letters, digits and punctuation; no spaces)")


class IdempotencyKeyReused(Conflict):
    """An ``Idempotency-Key`` already used with a different request."""

    message = ("This Idempotency-Key was already used with a different request; "
               "send a new key for a new request")
