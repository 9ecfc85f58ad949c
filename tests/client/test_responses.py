"""Every documented answer (SPEC §1.3, §6) becomes the right result or exception.

The calls go through Client and AsyncClient to :class:`SpecFake`, a live server that
answers with the contract's exact bodies; other statuses come from scripted replies.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from senderid.client import (
    AddResult,
    APIStatusError,
    AuthenticationError,
    BusinessNameRequest,
    ConflictError,
    NotFoundError,
    NumberAlreadyExistsError,
    OTPVerificationError,
    PermissionDeniedError,
    RateLimitError,
    SenderCheck,
    SendResult,
    ServerError,
    TokenInfo,
    UnexpectedResponseError,
    ValidationError,
    VerifyResult,
)

from . import _wire
from ._server import (
    APPROVED_NAME,
    INSTANT_KEY,
    OTP,
    OTP_KEY,
    TAKEN_NUMBER,
    LiveServer,
    Reply,
    script,
)
from .conftest import Twin

NUMBER = "+61491570156"


def test_verify_token(twin: Twin, spec_server: LiveServer) -> None:
    result = twin.call("verify_token")
    assert result == TokenInfo(token=OTP_KEY, envelope={})
    assert result.envelope == _wire.token_verified(OTP_KEY)
    seen = spec_server.requests[0]
    assert (seen.method, seen.path) == ("GET", "/api/v1/user/token/verify")
    assert seen.headers["authorization"] == f"Bearer {OTP_KEY}"
    assert seen.headers["user-agent"].startswith("senderid-python/")
    assert "idempotency-key" not in seen.headers


def test_add_sends_otp(twin: Twin, spec_server: LiveServer) -> None:
    result = twin.call("add_custom_number", name="Support", number=NUMBER)
    assert isinstance(result, AddResult)
    assert result.otp_sent is True
    assert result.message == "OTP sent to your number successfully"
    assert result.envelope == _wire.ADD_OTP_SENT
    assert spec_server.requests[0].json == {"name": "Support", "number": NUMBER}
    assert spec_server.requests[0].headers["content-type"] == "application/json"


def test_add_created_without_otp(twin: Twin) -> None:
    result = twin.run(
        lambda c: c.add_custom_number(name="Support", number="0491 570 157"), api_key=INSTANT_KEY
    )
    assert (result.otp_sent, result.message) == (False, "Custom number created")
    assert result.envelope == _wire.ADD_CREATED


def test_add_then_verify(twin: Twin) -> None:
    def flow(client: Any) -> Any:
        if twin.kind == "sync":
            client.add_custom_number(name="Support", number=NUMBER)
            return client.verify_custom_number(name="Support", number=NUMBER, otp=OTP)

        async def run() -> Any:
            await client.add_custom_number(name="Support", number=NUMBER)
            return await client.verify_custom_number(name="Support", number=NUMBER, otp=OTP)

        return run()

    result = twin.run(flow)
    assert result == VerifyResult(message="OTP Verified Successfully!", envelope={})
    assert result.envelope == _wire.VERIFY_OK
    with pytest.raises(NumberAlreadyExistsError):  # now active: adding again is the duplicate
        twin.call("add_custom_number", name="Support", number=NUMBER)


ERRORS: list[tuple[str, dict[str, Any], type[APIStatusError], int, dict[str, Any]]] = [
    (
        "add_custom_number",
        {"name": "", "number": NUMBER},
        ValidationError,
        400,
        _wire.ADD_NAME_REQUIRED,
    ),
    (
        "add_custom_number",
        {"name": "x", "number": ""},
        ValidationError,
        400,
        _wire.ADD_NUMBER_REQUIRED,
    ),
    (
        "add_custom_number",
        {"name": "x", "number": "12345"},
        ValidationError,
        400,
        _wire.ADD_NUMBER_INVALID,
    ),
    # quirk: HTTP 400 with status *true*
    (
        "add_custom_number",
        {"name": "x", "number": TAKEN_NUMBER},
        NumberAlreadyExistsError,
        400,
        _wire.ADD_ALREADY_EXISTS,
    ),
    # quirk: HTTP *200* with status false
    (
        "verify_custom_number",
        {"name": "", "number": NUMBER, "otp": OTP},
        ValidationError,
        200,
        _wire.VERIFY_NAME_REQUIRED,
    ),
    (
        "verify_custom_number",
        {"name": "x", "number": "", "otp": OTP},
        ValidationError,
        400,
        _wire.VERIFY_NUMBER_REQUIRED,
    ),
    (
        "verify_custom_number",
        {"name": "x", "number": NUMBER, "otp": ""},
        OTPVerificationError,
        400,
        _wire.VERIFY_OTP_FAILED,
    ),
    (
        "verify_custom_number",
        {"name": "x", "number": NUMBER, "otp": "000000"},
        OTPVerificationError,
        400,
        _wire.VERIFY_OTP_FAILED,
    ),
    # quirk: HTTP 400 with status *true* and data 400
    ("add_business_name", {"name": ""}, ValidationError, 400, _wire.BUSINESS_NAME_REQUIRED),
    (
        "add_business_name",
        {"name": "x" * 12},
        ValidationError,
        400,
        _wire.failure("businessname must be 3 to 11 characters"),
    ),
    (
        "send_sms",
        {"message": "hi", "contacts": [NUMBER], "sender": "Nope"},
        PermissionDeniedError,
        403,
        _wire.failure("You may not send as 'Nope'"),
    ),
]


@pytest.mark.parametrize(
    ("method", "kwargs", "error", "status_code", "body"),
    ERRORS,
    ids=[f"{m}-{b['message']}" for m, _, _, _, b in ERRORS],
)
def test_documented_errors(
    twin: Twin,
    spec_server: LiveServer,
    method: str,
    kwargs: dict[str, Any],
    error: type[APIStatusError],
    status_code: int,
    body: dict[str, Any],
) -> None:
    with pytest.raises(error) as info:
        twin.call(method, **kwargs)
    exc = info.value
    assert type(exc) is error
    assert exc.status_code == status_code
    assert exc.message == body["message"]
    assert exc.envelope == body
    assert exc.error == body["error"]
    assert exc.response.status_code == status_code
    assert str(exc) == f"HTTP {status_code}: {body['message']}"
    assert len(spec_server.requests) == 1  # a refusal is never retried


def test_unknown_key_is_authentication_error(twin: Twin) -> None:
    with pytest.raises(AuthenticationError) as info:
        twin.run(lambda c: c.verify_token(), api_key="revoked-key")
    assert (info.value.status_code, info.value.message) == (401, "Token expired")
    assert info.value.envelope == _wire.TOKEN_EXPIRED


def test_business_name_request(twin: Twin, spec_server: LiveServer) -> None:
    result = twin.call("add_business_name", name="Acme Pty", contact="0491 570 156")
    assert isinstance(result, BusinessNameRequest)
    assert spec_server.requests[0].json == {
        "businessname": "Acme Pty",
        "customerContact": "0491 570 156",
    }
    record = result.envelope["data"]
    assert result.id == record["_id"] and len(result.id) == 24
    assert (result.businessname, result.status, result.user) == (
        "Acme Pty",
        "REQUESTED",
        record["user"],
    )
    assert result.requested_at == datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert result.created_at == result.updated_at == result.requested_at
    assert (result.is_default, result.is_deleted) == (False, False)
    assert result.message == "Request added successfully for business name!"


def test_business_name_without_contact_omits_it(twin: Twin, spec_server: LiveServer) -> None:
    twin.call("add_business_name", name="Acme")
    assert spec_server.requests[0].json == {"businessname": "Acme"}


def test_send_sms(twin: Twin, spec_server: LiveServer) -> None:
    result = twin.call(
        "send_sms",
        message="Hello",
        contacts=["0491 570 156", "not a number"],
        sender=APPROVED_NAME.lower(),
    )
    assert isinstance(result, SendResult)
    assert spec_server.requests[0].json == {
        "message": "Hello",
        "contacts": ["0491 570 156", "not a number"],
        "sender": "acme",
    }
    assert [(q.contact, q.number, q.result) for q in result.queued] == [
        ("491570156", "0491 570 156", "Message added to queue.")
    ]
    assert len(result.queued[0].message_id) == 24
    assert result.invalid_contacts == ("not a number",)
    assert (result.total_valid, result.total_invalid, result.total_unsubscribed) == (1, 1, 0)
    assert (result.encoding, result.message_parts) == ("GSM-7", 1)
    assert result.message == "Request is being processed"


def test_send_sms_single_contact_and_no_sender(twin: Twin, spec_server: LiveServer) -> None:
    result = twin.call("send_sms", message="Hello", contacts="+61491570156")
    assert spec_server.requests[0].json == {"message": "Hello", "contacts": ["+61491570156"]}
    assert result.total_valid == 1


@pytest.mark.parametrize(
    ("sender", "kind", "send_as"),
    [
        ("#SharedNum#", "shared", "#SharedNum#"),
        (APPROVED_NAME.lower(), "business_name", APPROVED_NAME),
        (TAKEN_NUMBER, None, None),  # active, but for another account
        ("Unknown", None, None),
    ],
)
def test_check_sender(
    twin: Twin, spec_server: LiveServer, sender: str, kind: str | None, send_as: str | None
) -> None:
    result = twin.call("check_sender", sender=sender)
    assert spec_server.requests[0].query == {"sender": [sender]}
    assert result == SenderCheck(
        sender=sender,
        allowed=kind is not None,
        kind=kind,
        send_as=send_as,
        message="Sender allowed" if kind else "Sender not allowed",
        envelope={},
    )


@pytest.mark.unit
def test_check_sender_fails_closed() -> None:
    """An answer without a boolean ``allowed`` never reads as allowed."""
    for data in ({}, {"allowed": "yes"}, {"allowed": 1}, None):
        body = _wire.envelope(status=True, show_message=0, message="?", data=data, error={})
        assert SenderCheck.from_envelope(body, sender="x").allowed is False


# -- statuses the contract leaves open, from scripted replies -------------------------------

HTML = "<html><body>502 Bad Gateway</body></html>"
OTHER_STATUSES: list[tuple[Reply, type[APIStatusError], str]] = [
    (Reply(401, _wire.TOKEN_REQUIRED), AuthenticationError, "Authorization token is required"),
    (Reply(404, _wire.failure("Not found")), NotFoundError, "Not found"),
    (Reply(405, _wire.failure("Method not allowed")), APIStatusError, "Method not allowed"),
    (Reply(409, _wire.failure("Already requested")), ConflictError, "Already requested"),
    (Reply(413, _wire.failure("Body too large")), APIStatusError, "Body too large"),
    (
        Reply(429, _wire.failure("Too many OTP requests"), {"Retry-After": "7"}),
        RateLimitError,
        "Too many OTP requests",
    ),
    (Reply(500, _wire.failure("Internal error")), ServerError, "Internal error"),
    (Reply(502, HTML), ServerError, "Bad Gateway"),
    (Reply(200, _wire.failure("Something is off")), ValidationError, "Something is off"),
    (Reply(200, HTML), UnexpectedResponseError, "The response body is not a JSON object"),
    (Reply(200, [1, 2]), UnexpectedResponseError, "The response body is not a JSON object"),
]


@pytest.mark.parametrize(
    ("reply", "error", "message"),
    OTHER_STATUSES,
    ids=[f"{r.status}-{e.__name__}" for r, e, _ in OTHER_STATUSES],
)
def test_other_statuses(
    make_twin: Callable[..., Twin],
    serve: Callable[..., LiveServer],
    reply: Reply,
    error: type[APIStatusError],
    message: str,
) -> None:
    server = serve(script(reply))
    with pytest.raises(error) as info:
        make_twin(base_url=server.url, max_retries=0).call("verify_token")
    assert type(info.value) is error
    assert (info.value.status_code, info.value.message) == (reply.status, message)
    assert info.value.envelope == (reply.body if isinstance(reply.body, dict) else {})
    if isinstance(info.value, RateLimitError):
        assert info.value.retry_after == 7.0


def test_request_id_is_kept(
    make_twin: Callable[..., Twin], serve: Callable[..., LiveServer]
) -> None:
    server = serve(script(Reply(400, _wire.ADD_NAME_REQUIRED, {"X-Request-ID": "req-42"})))
    with pytest.raises(ValidationError) as info:
        make_twin(base_url=server.url).call("add_custom_number", name="", number=NUMBER)
    assert info.value.request_id == "req-42"
