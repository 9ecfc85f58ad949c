"""Numbers too large for a database, and a trailing slash: a 400 (or 404) in the envelope
that names the parameter, never a 500 or a bare redirect. On both databases."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from senderid.domain import accounts
from senderid.domain.types import CLI
from tests.support.env import TEST_SECRET

ADMIN_TOKEN = "admin-" + "t" * 40
HUGE = str(2**63)


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    # the test client is not on loopback: let it reach the developer inbox's routes too
    return {"admin_token": ADMIN_TOKEN, "devinbox_allow_remote": True}


def integer_query_parameters(app) -> list[tuple[str, str, dict]]:
    """Every GET route's integer query parameters: (path, name, schema), from the API's
    own description of itself (so a route added later is checked too)."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        for parameter in operations.get("get", {}).get("parameters", []):
            if parameter["in"] == "query" and parameter.get("schema", {}).get("type") == "integer":
                found.append((path, parameter["name"], parameter["schema"]))
    return found


def test_every_integer_query_parameter_has_a_range(app_client: TestClient, customer) -> None:
    found = integer_query_parameters(app_client.app)
    assert {"/api/v1/customNumber/list", "/api/v1/business/list", "/admin/v1/accounts",
            "/admin/v1/custom-numbers", "/admin/v1/business-names", "/admin/v1/audit"} <= {p for p, _n, _s in found}
    for path, name, schema in found:
        assert "minimum" in schema and "maximum" in schema, (path, name)
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN if path.startswith('/admin') else customer.key}"}
        for value in (HUGE, str(10**40), str(schema["minimum"] - 1), str(schema["maximum"] + 1)):
            r = app_client.get(path, params={name: value}, headers=headers)
            assert r.status_code == 400, (path, name, value, r.status_code, r.text[:200])
            body = r.json()
            assert body["status"] is False and name in body["message"], (path, name, body["message"])


def test_the_largest_offset_is_an_empty_page(app_client: TestClient, customer) -> None:
    r = app_client.get("/api/v1/customNumber/list", params={"offset": 1_000_000_000}, headers=customer.headers)
    assert r.status_code == 200 and r.json()["data"]["items"] == []


@pytest.mark.parametrize("days", [2_932_896, 10**30, 36_501, 0, -5])
def test_key_expiry_out_of_range_is_a_400_naming_it(app_client: TestClient, customer, days: int) -> None:
    r = app_client.post(f"/admin/v1/accounts/{customer.account.id}/keys", json={"expires_in_days": days},
                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert r.status_code == 400, r.text
    assert "expires_in_days" in r.json()["message"]


def test_the_longest_key_expiry_works(app_client: TestClient, customer) -> None:
    r = app_client.post(f"/admin/v1/accounts/{customer.account.id}/keys", json={"expires_in_days": 36_500},
                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("days", ["2932896", "0"])
def test_the_cli_refuses_key_expiry_out_of_range_without_a_traceback(run, ctx, days: str) -> None:
    account = accounts.create_account(ctx, "Acme", otp_required=True, actor=CLI)
    result = run("key", "create", account.id, "--expires-in-days", days)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # a usage error, not a crash
    assert "expires-in-days" in result.output
    assert TEST_SECRET not in result.output


# -- 9. trailing slash -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/customNumber/list/", "/api/v1/business/list/", "/healthz/"])
def test_a_trailing_slash_is_a_404_in_the_envelope_and_never_echoes_host(
    app_client: TestClient, customer, path: str
) -> None:
    r = app_client.get(path, headers={**customer.headers, "Host": "evil.example"}, follow_redirects=False)
    assert r.status_code == 404
    assert "location" not in r.headers
    body = r.json()
    assert body["status"] is False and path.rstrip("/") in body["message"]
    assert "evil.example" not in r.text
