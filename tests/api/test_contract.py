"""Every documented response of SPEC §1.2–§1.3, compared whole: status code, every key, every value."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from senderid.domain import accounts
from senderid.domain.types import CLI
from tests.support.helpers import latest_code

NUMBER = "+61491570156"

ENVELOPE = {
    "app_type": "web",
    "app_version": "1.0",
    "maintainence": 0,
    "new_version": 0,
    "force_update": 0,
    "invalid_token": 0,
    "refresh_token": "",
    "is_enc": False,
    "message_type": "toast",
}


def documented(*, status: bool, show_message: int, message: str, data: Any, error: Any) -> dict[str, Any]:
    return {**ENVELOPE, "show_message": show_message, "status": status, "message": message,
            "data": data, "error": error}


ADD = "/api/v1/customNumber/add"
VERIFY = "/api/v1/customNumber/verifyCustomNumber"

# -- add -------------------------------------------------------------------------------


def test_add_created_without_otp(app_client: TestClient, no_otp_customer) -> None:  # type: ignore[no-untyped-def]
    r = app_client.post(ADD, json={"name": "Custom Number", "number": "+61400000000"}, headers=no_otp_customer.headers)
    assert r.status_code == 200
    assert r.json() == documented(
        status=True, show_message=1, message="Custom number created",
        data={"success": True, "message": "Success create new custom number"}, error={},
    )


def test_add_otp_sent(app_client: TestClient, customer) -> None:  # type: ignore[no-untyped-def]
    r = app_client.post(ADD, json={"name": "Custom Number", "number": "+61400000000"}, headers=customer.headers)
    assert r.status_code == 200
    assert r.json() == documented(
        status=True, show_message=1, message="OTP sent to your number successfully",
        data={"success": True, "message": "OTP sent to your number successfully"}, error={},
    )


NAME_REQUIRED = documented(status=False, show_message=0, message="Name is required", data={},
                           error={"error": "name is not valid"})


@pytest.mark.parametrize("body", [
    {"number": NUMBER}, {"name": "", "number": NUMBER}, {"name": "   ", "number": NUMBER},
    {"name": None, "number": NUMBER}, {"name": 12, "number": NUMBER}, {"name": ["a"], "number": NUMBER},
    {}, {"name": "", "number": ""},  # name is checked first
])
def test_add_name_required(app_client: TestClient, customer, body: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    r = app_client.post(ADD, json=body, headers=customer.headers)
    assert (r.status_code, r.json()) == (400, NAME_REQUIRED)


MOBILE_REQUIRED = documented(status=False, show_message=0, message="Mobile number is required", data={},
                             error={"email": "Mobile number is not valie"})


@pytest.mark.parametrize("number", [None, "", "  ", "missing"])
def test_add_mobile_required(app_client: TestClient, customer, number: Any) -> None:  # type: ignore[no-untyped-def]
    body: dict[str, Any] = {"name": "Custom Number"}
    if number != "missing":
        body["number"] = number
    r = app_client.post(ADD, json=body, headers=customer.headers)
    assert (r.status_code, r.json()) == (400, MOBILE_REQUIRED)


MOBILE_INVALID = documented(status=False, show_message=0, message="Mobile number is not valid", data={},
                            error={"error": "Mobile number is not valid"})


def test_add_mobile_invalid(app_client: TestClient, customer) -> None:  # type: ignore[no-untyped-def]
    r = app_client.post(ADD, json={"name": "Custom Number", "number": "0298765432"}, headers=customer.headers)
    assert (r.status_code, r.json()) == (400, MOBILE_INVALID)


ALREADY_EXISTS = {
    "maintainence": 0, "new_version": 0, "force_update": 0, "invalid_token": 0, "refresh_token": "",
    "show_message": 0, "is_enc": False, "status": True, "message": "Number already exist in system",
    "message_type": "toast",
    "data": {"invalid_token": 0, "refresh_token": "", "app_type": "web", "app_version": "1.0"},
    "error": {},
}


def test_add_already_exists_for_another_account(app_client: TestClient, no_otp_customer, customer) -> None:  # type: ignore[no-untyped-def]
    first = app_client.post(ADD, json={"name": "Mine", "number": NUMBER}, headers=no_otp_customer.headers)
    assert first.status_code == 200
    r = app_client.post(ADD, json={"name": "Theirs", "number": "0491 570 156"}, headers=customer.headers)
    assert (r.status_code, r.json()) == (400, ALREADY_EXISTS)


def test_add_already_exists_for_same_account(app_client: TestClient, no_otp_customer) -> None:  # type: ignore[no-untyped-def]
    app_client.post(ADD, json={"name": "Mine", "number": NUMBER}, headers=no_otp_customer.headers)
    r = app_client.post(ADD, json={"name": "Mine", "number": "491570156"}, headers=no_otp_customer.headers)
    assert (r.status_code, r.json()) == (400, ALREADY_EXISTS)


def test_add_checks_number_presence_before_validity_before_duplicates(app_client: TestClient, no_otp_customer) -> None:  # type: ignore[no-untyped-def]
    app_client.post(ADD, json={"name": "Mine", "number": NUMBER}, headers=no_otp_customer.headers)
    assert app_client.post(ADD, json={"name": "x", "number": ""}, headers=no_otp_customer.headers).json() == MOBILE_REQUIRED
    assert app_client.post(ADD, json={"name": "x", "number": "04915701561"}, headers=no_otp_customer.headers).json() == MOBILE_INVALID


# -- verify ----------------------------------------------------------------------------

OTP_FAILED = documented(status=False, show_message=1, message="OTP verification failed", data={},
                        error={"error": "OTP verification failed"})


def test_verify_success(app_client: TestClient, customer, ctx) -> None:  # type: ignore[no-untyped-def]
    app_client.post(ADD, json={"name": "Custom Number", "number": NUMBER}, headers=customer.headers)
    code = latest_code(ctx, NUMBER)
    r = app_client.post(VERIFY, json={"name": "Custom Number", "number": NUMBER, "otp": code}, headers=customer.headers)
    assert r.status_code == 200
    assert r.json() == documented(status=True, show_message=0, message="OTP Verified Successfully!", data={}, error={})


@pytest.mark.parametrize("name", ["missing", "", None, 5])
def test_verify_name_required_is_a_200(app_client: TestClient, customer, name: Any) -> None:  # type: ignore[no-untyped-def]
    body: dict[str, Any] = {"number": NUMBER, "otp": "123456"}
    if name != "missing":
        body["name"] = name
    r = app_client.post(VERIFY, json=body, headers=customer.headers)
    assert r.status_code == 200
    assert r.json() == documented(status=False, show_message=1, message="Name is Required", data={},
                                  error={"error": "Name is Required"})


@pytest.mark.parametrize("number", ["missing", "", None])
def test_verify_number_required(app_client: TestClient, customer, number: Any) -> None:  # type: ignore[no-untyped-def]
    body: dict[str, Any] = {"name": "x", "otp": "123456"}
    if number != "missing":
        body["number"] = number
    r = app_client.post(VERIFY, json=body, headers=customer.headers)
    assert r.status_code == 400
    assert r.json() == documented(status=False, show_message=1, message="Number is Required", data={},
                                  error={"error": "Number is Required"})


@pytest.mark.parametrize("otp", ["missing", "", None])
def test_verify_otp_missing(app_client: TestClient, customer, otp: Any) -> None:  # type: ignore[no-untyped-def]
    body: dict[str, Any] = {"name": "x", "number": NUMBER}
    if otp != "missing":
        body["otp"] = otp
    r = app_client.post(VERIFY, json=body, headers=customer.headers)
    assert (r.status_code, r.json()) == (400, OTP_FAILED)


def test_verify_wrong_otp(app_client: TestClient, customer, ctx) -> None:  # type: ignore[no-untyped-def]
    app_client.post(ADD, json={"name": "x", "number": NUMBER}, headers=customer.headers)
    code = latest_code(ctx, NUMBER)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    r = app_client.post(VERIFY, json={"name": "x", "number": NUMBER, "otp": wrong}, headers=customer.headers)
    assert (r.status_code, r.json()) == (400, OTP_FAILED)


def test_verify_without_pending_registration(app_client: TestClient, customer) -> None:  # type: ignore[no-untyped-def]
    r = app_client.post(VERIFY, json={"name": "x", "number": NUMBER, "otp": "123456"}, headers=customer.headers)
    assert (r.status_code, r.json()) == (400, OTP_FAILED)


# -- token and 401 ---------------------------------------------------------------------


def test_token_verify(app_client: TestClient, customer) -> None:  # type: ignore[no-untyped-def]
    r = app_client.get("/api/v1/user/token/verify", headers=customer.headers)
    assert r.status_code == 200
    assert r.json() == documented(status=True, show_message=0, message="Token verified successfully!",
                                  data={"token": customer.key}, error={})


@pytest.mark.parametrize("header", ["bearer {key}", "BEARER {key}", "Bearer   {key}"])
def test_bearer_is_case_insensitive(app_client: TestClient, customer, header: str) -> None:  # type: ignore[no-untyped-def]
    r = app_client.get("/api/v1/user/token/verify", headers={"authorization": header.format(key=customer.key)})
    assert r.status_code == 200


def _unauthorized(message: str) -> dict[str, Any]:
    return {"code": 401, "message": message, "stack": f"APIError: {message}"}


@pytest.mark.parametrize("path,method", [
    ("/api/v1/user/token/verify", "GET"), (ADD, "POST"), (VERIFY, "POST"),
])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "sid_abc"}, {"Authorization": "Basic abc"},
                                     {"Authorization": "Bearer"}, {"Authorization": ""}])
def test_missing_token(app_client: TestClient, path: str, method: str, headers: dict[str, str]) -> None:
    r = app_client.request(method, path, headers=headers, json={})
    assert (r.status_code, r.json()) == (401, _unauthorized("Authorization token is required"))


def test_unknown_revoked_and_expired_keys_answer_alike(app_client: TestClient, customer, ctx, clock) -> None:  # type: ignore[no-untyped-def]
    _rec, expiring = accounts.create_key(ctx, customer.account.id, expires_in_days=1, actor=CLI)
    _rec, revoked = accounts.create_key(ctx, customer.account.id, actor=CLI)
    accounts.revoke_key(ctx, revoked, actor=CLI)
    clock.advance(days=1, seconds=1)
    for key in ("sid_unknownkey", "not-even-our-shape", expiring, revoked):
        r = app_client.get("/api/v1/user/token/verify", headers={"Authorization": f"Bearer {key}"})
        assert (r.status_code, r.json()) == (401, _unauthorized("Token expired")), key
    assert app_client.get("/api/v1/user/token/verify", headers=customer.headers).status_code == 200
