"""SPEC §2: which inputs are a custom number, and what they become (E.164).

The first half is pure (``parse_mobile`` / ``parse_contact``); the second sends
the same inputs through ``POST /api/v1/customNumber/add`` and checks both the
documented answer and that nothing was written.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from senderid.numbers import MAX_INPUT_LENGTH, InvalidNumber, parse_contact, parse_mobile
from senderid.settings import Settings
from senderid.store.tables import audit_events, custom_numbers, otp_sends, outbox

E164 = "+61400000000"

# Every accepted form of SPEC §2 (and the obvious variations of its separators).
ACCEPTED: list[Any] = [
    "+61400000000",
    "61400000000",
    "0400000000",
    "400000000",
    "0400 000 000",
    "+61 (0)400-000-000",
    "+61 400 000 000",
    "0400-000-000",
    "0400.000.000",
    "+61.400.000.000",
    "(0400) 000 000",
    "04 00 00 00 00",
    "+61(0)400000000",
    " 0400 000 000 ",  # surrounding spaces, as pasted
    61400000000,  # JSON integers count as their digits
    400000000,
]


@pytest.mark.unit
@pytest.mark.parametrize("value", ACCEPTED, ids=repr)
def test_accepted_forms_become_e164(value: Any) -> None:
    assert parse_mobile(value) == E164
    assert parse_contact(value) == E164


@pytest.mark.unit
def test_acma_fiction_range_is_a_mobile() -> None:
    assert parse_mobile("0491 570 156") == "+61491570156"
    assert parse_mobile(61491570159) == "+61491570159"


@pytest.mark.unit
def test_result_is_stable() -> None:
    """Parsing the stored form again gives the stored form."""
    for value in ACCEPTED:
        once = parse_mobile(value)
        assert parse_mobile(once) == once


# Inputs that are "not valid" for a custom number. Each id says why.
INVALID: list[tuple[str, Any]] = [
    ("letters", "0400abcdef"),
    ("letter O for zero", "O4OO OOO OOO"),
    ("vanity", "1300 GO TELSTRA"),
    ("vanity mobile", "0400 FLOWERS"),
    ("extension", "+61 400 000 000 ext 1"),
    ("landline 02", "02 9876 5432"),
    ("landline 03", "03 9876 5432"),
    ("landline 07", "07 3876 5432"),
    ("landline 08", "08 9876 5432"),
    ("landline e164", "+61298765432"),
    ("1300", "1300 123 456"),
    ("1800", "1800 123 456"),
    ("13xx", "131 234"),
    ("too short", "040000000"),
    ("too short e164", "+6140000000"),
    ("too long", "04000000000"),
    ("too long e164", "+614000000000"),
    ("single digit", "4"),
    ("US", "+1 202 555 0123"),
    ("UK mobile", "+44 7911 123456"),
    ("NZ mobile", "+64 21 123 4567"),
    ("NZ without plus", "64211234567"),
    ("newline inside", "0400\n000000"),
    ("tab inside", "0400\t000000"),
    ("NUL at end", "0400000000\x00"),
    ("NUL inside", "0400\x00000000"),
    # SPEC §2: control characters and over-long input are "not valid", also around the
    # digits; empty parentheses are not "parentheses between digits".
    ("trailing newline", "0400000000\n"),
    ("leading tab", "\t0400000000"),
    ("CRLF around", "\r\n0400000000\r\n"),
    ("10 kB of digits", "4" * 10_000),
    ("10 kB of padding", " " * 10_000 + "0400000000"),
    ("33 characters", "0" * (MAX_INPUT_LENGTH + 1)),
    ("over 32 with separators", "+61 4 0 0 0 0 0 0 0 0 0 0 0 0 0 0"),
    ("float", 61400000000.0),
    ("float national", 400000000.0),
    ("true", True),
    ("false", False),
    ("list", ["0400000000"]),
    ("empty list", []),
    ("dict", {"number": "0400000000"}),
    ("arabic-indic digits", "٠٤٠٠٠٠٠٠٠٠"),
    ("fullwidth digits", "０４００００００００"),
    ("double plus", "++61400000000"),
    ("plus in the middle", "0400+000000"),
    ("trailing plus", "+61400000000+"),
    ("space after plus", "+ 61400000000"),
    ("empty parens after code", "+61()400000000"),
    ("empty parens leading", "()0400000000"),
    ("empty parens inside", "0400()000000"),
    ("leading dash", "-0400000000"),
    ("trailing dot", "0400000000."),
    ("negative int", -400000000),
    ("zero", 0),
    ("huge int", 10**40),
    ("zero-width space", "0400\u200b000000"),
    ("no-break spaces", "0400\u00a0000\u00a0000"),
    ("semicolon", "+61400000000;"),
    ("00 international prefix", "0061400000000"),
]


@pytest.mark.unit
@pytest.mark.parametrize("value", [v for _, v in INVALID], ids=[i for i, _ in INVALID])
def test_invalid_inputs_are_refused(value: Any) -> None:
    with pytest.raises(InvalidNumber):
        parse_mobile(value)


@pytest.mark.unit
def test_none_is_refused() -> None:
    with pytest.raises(InvalidNumber):
        parse_mobile(None)
    with pytest.raises(InvalidNumber):
        parse_contact(None)


@pytest.mark.unit
@pytest.mark.parametrize("value", ["02 9876 5432", "(03) 9876 5432", "+61 7 3876 5432", "0898765432"])
def test_landlines_are_contacts_but_not_mobiles(value: str) -> None:
    assert parse_contact(value).startswith("+61")
    with pytest.raises(InvalidNumber):
        parse_mobile(value)


@pytest.mark.unit
@pytest.mark.parametrize("value", ["1300 123 456", "1800 123 456", "131 234", "+1 202 555 0123", "0400abcdef"])
def test_contact_refuses_what_a_person_cannot_answer(value: str) -> None:
    with pytest.raises(InvalidNumber):
        parse_contact(value)


# -- allowed regions ----------------------------------------------------------------


NZ_MOBILE = "+64 21 123 4567"
NZ_E164 = "+64211234567"


@pytest.mark.unit
def test_allowed_regions_accept_a_second_country() -> None:
    assert parse_mobile(NZ_MOBILE, ("AU", "NZ")) == NZ_E164
    assert parse_mobile("64211234567", ("AU", "NZ")) == NZ_E164
    # Australian input keeps working, national format is read as the first region's
    assert parse_mobile("0400 000 000", ("AU", "NZ")) == E164


@pytest.mark.unit
def test_au_only_refuses_the_other_country() -> None:
    with pytest.raises(InvalidNumber):
        parse_mobile(NZ_MOBILE, ("AU",))
    with pytest.raises(InvalidNumber):
        parse_mobile(NZ_MOBILE)  # the default is AU only


@pytest.mark.unit
def test_first_region_reads_national_format() -> None:
    assert parse_mobile("021 123 4567", ("NZ", "AU")) == NZ_E164
    assert parse_mobile("0400 000 000", ("NZ", "AU")) == E164


@pytest.mark.unit
def test_allowed_regions_setting_from_environment_text() -> None:
    settings = Settings(allowed_regions="au, nz", secret_key="s" * 40)
    assert settings.allowed_regions == ("AU", "NZ")
    assert settings.default_region == "AU"
    assert parse_mobile(NZ_MOBILE, settings.allowed_regions) == NZ_E164
    assert Settings(secret_key="s" * 40).allowed_regions == ("AU",)


# -- through the API ------------------------------------------------------------------

ADD = "/api/v1/customNumber/add"
ENVELOPE = {
    "app_type": "web", "app_version": "1.0", "maintainence": 0, "new_version": 0, "force_update": 0,
    "invalid_token": 0, "refresh_token": "", "is_enc": False, "message_type": "toast",
}
MOBILE_INVALID = {
    **ENVELOPE, "status": False, "show_message": 0, "message": "Mobile number is not valid",
    "data": {}, "error": {"error": "Mobile number is not valid"},
}


def _written(ctx) -> dict[str, int]:
    with ctx.db.read() as conn:
        return {
            "custom_numbers": conn.execute(select(func.count()).select_from(custom_numbers)).scalar_one(),
            "otp_sends": conn.execute(select(func.count()).select_from(otp_sends)).scalar_one(),
            "outbox": conn.execute(select(func.count()).select_from(outbox)).scalar_one(),
            "audit": conn.execute(
                select(func.count()).select_from(audit_events).where(audit_events.c.action.like("custom_number.%"))
            ).scalar_one(),
        }


NOTHING = {"custom_numbers": 0, "otp_sends": 0, "outbox": 0, "audit": 0}


@pytest.mark.parametrize("value", [v for _, v in INVALID], ids=[i for i, _ in INVALID])
def test_api_refuses_invalid_numbers_and_writes_nothing(
    app_client: TestClient, customer, ctx, value: Any
) -> None:
    r = app_client.post(ADD, json={"name": "Custom Number", "number": value}, headers=customer.headers)
    assert (r.status_code, r.json()) == (400, MOBILE_INVALID)
    assert _written(ctx) == NOTHING


def test_api_refuses_invalid_numbers_for_no_otp_accounts_too(
    app_client: TestClient, no_otp_customer, ctx
) -> None:
    wrong = []
    for why, value in INVALID:
        r = app_client.post(ADD, json={"name": "Custom Number", "number": value}, headers=no_otp_customer.headers)
        if (r.status_code, r.json()) != (400, MOBILE_INVALID):
            wrong.append(why)
    assert wrong == []
    assert _written(ctx) == NOTHING


@pytest.mark.parametrize("value", ACCEPTED, ids=repr)
def test_api_stores_accepted_forms_as_e164(app_client: TestClient, no_otp_customer, ctx, value: Any) -> None:
    r = app_client.post(ADD, json={"name": "Custom Number", "number": value}, headers=no_otp_customer.headers)
    assert r.status_code == 200, r.json()
    assert r.json()["message"] == "Custom number created"
    with ctx.db.read() as conn:
        assert conn.execute(select(custom_numbers.c.number, custom_numbers.c.status)).all() == [(E164, "active")]


@pytest.mark.parametrize("settings_overrides", [{"allowed_regions": "AU,NZ"}])
def test_api_accepts_a_nz_mobile_when_nz_is_allowed(app_client: TestClient, no_otp_customer, ctx) -> None:
    r = app_client.post(ADD, json={"name": "Kiwi", "number": NZ_MOBILE}, headers=no_otp_customer.headers)
    assert r.status_code == 200, r.json()
    with ctx.db.read() as conn:
        assert conn.execute(select(custom_numbers.c.number)).scalars().all() == [NZ_E164]


def test_api_refuses_a_nz_mobile_by_default(app_client: TestClient, no_otp_customer, ctx) -> None:
    r = app_client.post(ADD, json={"name": "Kiwi", "number": NZ_MOBILE}, headers=no_otp_customer.headers)
    assert (r.status_code, r.json()) == (400, MOBILE_INVALID)
    assert _written(ctx) == NOTHING
