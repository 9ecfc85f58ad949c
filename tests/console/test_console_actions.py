"""Console actions in a real Chromium, each checked by its effect through the API.

Create an account and switch its OTP rule (the admin API; numbers added through the
public API go live at once or wait for a code), a key that expires (refused once it
has), a webhook URL and its secret (a receiver gets the events, signed with the secret
shown), an OTP retried (a fresh code, which verifies), and the overview while the
provider fails; dark and light mode. Fixtures: tests/support/browser.py. SQLite only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from peers.http import HttpPeer, Request, Response
from senderid.delivery.providers.base import PermanentError, TransientError
from senderid.delivery.worker import Worker
from senderid.domain.context import Context
from tests.support.browser import (  # noqa: F401  (fixtures)
    NUMBER,
    OTHER,
    SETTINGS,
    admin,
    api,
    browser,
    code_in,
    expect,
    http,
    live,
    new_page,
    numbers_of,
    page,
    quiet_live,
    sign_in,
)
from tests.support.fake_providers import ScriptedProvider, always

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return dict(SETTINGS)


def test_create_an_account_switch_its_otp_and_give_it_a_key_that_expires(
    page: Any, live: str, api, admin, ctx: Context
) -> None:
    sign_in(page, live)
    page.get_by_role("link", name="Accounts").click()
    page.get_by_label("Name").fill("Bluegum Travel")
    expect(page.get_by_label("Numbers need an OTP")).to_be_checked()
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("status")).to_contain_text("Account created")
    account_id = page.url.split("/console/accounts/")[1].split("?")[0]
    made = admin(live, "GET", f"/accounts/{account_id}").json()["data"]
    assert (made["name"], made["otp_required"]) == ("Bluegum Travel", True)

    page.get_by_label("Expires in (days)").fill("30")
    page.get_by_role("button", name="Create a key").click()
    key = page.get_by_label("The new API key").input_value()
    assert api("GET", "/api/v1/user/token/verify", key).status_code == 200
    [listed] = admin(live, "GET", f"/accounts/{account_id}/keys").json()["data"]["items"]
    expires = ctx.clock.now() + timedelta(days=30)
    assert listed["prefix"] == key[:12] and listed["expires_at"] == expires.isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )

    r = api("POST", "/api/v1/customNumber/add", key, json={"name": "Bookings", "number": NUMBER})
    assert r.json()["message"] == "OTP sent to your number successfully", r.text
    page.get_by_label("Reason").fill("numbers checked with the carrier")
    page.get_by_role("button", name="Register numbers without an OTP").click()
    expect(page.get_by_role("status")).to_contain_text("without an OTP")
    assert admin(live, "GET", f"/accounts/{account_id}").json()["data"]["otp_required"] is False
    r = api("POST", "/api/v1/customNumber/add", key, json={"name": "Sales", "number": OTHER})
    assert r.json()["status"] is True, r.text
    assert numbers_of(api, key) == {NUMBER: "pending", OTHER: "active"}  # the second went live at once

    page.get_by_role("button", name="Require an OTP").click()
    expect(page.get_by_role("status")).to_contain_text("now needs an OTP")
    assert admin(live, "GET", f"/accounts/{account_id}").json()["data"]["otp_required"] is True
    r = api("POST", "/api/v1/customNumber/add", key, json={"name": "Desk", "number": "+61491570158"})
    assert r.json()["message"] == "OTP sent to your number successfully", r.text

    ctx.clock.advance(days=30)  # the key's 30 days are over
    refused = api("GET", "/api/v1/user/token/verify", key)
    assert refused.status_code == 401 and refused.json()["message"] == "Token expired"


class HookReceiver(HttpPeer):
    """The customer's webhook endpoint: keeps every POST, answers 204."""

    def handle(self, request: Request) -> Response:
        return Response(204)


def signed_with(secret: str, request: Request) -> bool:
    """Standard Webhooks, checked here independently of senderid's own signing code."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode() + request.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(entry.removeprefix("v1,"), expected)
               for entry in request.headers["webhook-signature"].split(" "))


def test_a_webhook_url_and_its_secret_sign_what_arrives(page: Any, live: str, api, no_otp_customer) -> None:
    key = no_otp_customer.key
    with HookReceiver() as receiver:
        sign_in(page, live)
        page.goto(f"{live}/console/accounts/{no_otp_customer.account.id}")
        page.get_by_label("Webhook URL").fill(f"{receiver.url}/hooks/one")
        page.get_by_role("region", name="Webhook").get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_contain_text("Webhook URL saved")
        secret = page.get_by_label("The webhook signing secret").input_value()
        assert secret.startswith("whsec_")

        assert api("POST", "/api/v1/customNumber/add", key, json={"name": "One", "number": NUMBER}).json()["status"]
        [first] = receiver.wait_for(1, timeout=10)
        assert first.path == "/hooks/one" and signed_with(secret, first)
        assert (first.json()["type"], first.json()["data"]["number"]) == ("custom_number.verified", NUMBER)

        page.goto(f"{live}/console/accounts/{no_otp_customer.account.id}")  # the secret is not shown again
        expect(page.get_by_label("The webhook signing secret")).to_have_count(0)
        page.get_by_label("Webhook URL").fill("")
        page.get_by_role("region", name="Webhook").get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_contain_text("Webhooks stopped")
        assert api("POST", "/api/v1/customNumber/add", key, json={"name": "Two", "number": OTHER}).json()["status"]

        page.get_by_label("Webhook URL").fill(f"{receiver.url}/hooks/two")
        page.get_by_role("region", name="Webhook").get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_contain_text("Webhook URL saved")
        expect(page.get_by_label("The webhook signing secret")).to_have_count(0)  # the account keeps its secret
        third = "+61491570158"
        assert api("POST", "/api/v1/customNumber/add", key, json={"name": "Three", "number": third}).json()["status"]
        [_, second] = receiver.wait_for(2, timeout=10)
        # nothing was queued while the account had no URL: the next event is the third number's
        assert second.path == "/hooks/two" and signed_with(secret, second)
        assert second.json()["data"]["number"] == third


def test_retry_a_failed_otp_draws_a_fresh_code(page: Any, quiet_live: str, api, customer, ctx: Context) -> None:
    provider = ScriptedProvider([PermanentError("handset unreachable")])  # then accepts
    worker = Worker(ctx.db, ctx.settings, provider, ctx.clock, name="test-worker")
    r = api("POST", "/api/v1/customNumber/add", customer.key, json={"name": "Support", "number": NUMBER})
    assert r.json()["message"] == "OTP sent to your number successfully", r.text
    assert worker.run_once() == 1
    [lost] = provider.calls
    old_code = code_in(lost.body)

    sign_in(page, quiet_live)
    page.get_by_role("link", name="Messages", exact=True).click()
    row = page.locator(f"#m-{lost.message_id}")
    expect(row.locator(".badge")).to_have_text("failed")
    expect(row).to_contain_text("handset unreachable")
    row.get_by_role("button", name=f"Retry the message to {NUMBER}").click()
    expect(page.get_by_role("status")).to_contain_text("queued again")
    assert worker.run_once() == 1
    [sent] = provider.accepted
    assert sent.message_id == lost.message_id
    new_code = code_in(sent.body)
    assert new_code != old_code

    verify = {"name": "Support", "number": NUMBER}
    refused = api("POST", "/api/v1/customNumber/verifyCustomNumber", customer.key, json={**verify, "otp": old_code})
    assert refused.json()["status"] is False, refused.text  # the lost code is no longer the one
    verified = api("POST", "/api/v1/customNumber/verifyCustomNumber", customer.key, json={**verify, "otp": new_code})
    assert verified.json()["status"] is True, verified.text
    assert numbers_of(api, customer.key) == {NUMBER: "active"}
    page.reload()
    expect(page.locator(f"#m-{lost.message_id} .badge")).to_have_text("sent")


def test_the_overview_warns_while_the_provider_fails(new_page: Callable[..., Any], quiet_live: str, api, customer,
                                                    ctx: Context) -> None:
    worker = Worker(ctx.db, ctx.settings, always(TransientError("HTTP 503 Service Unavailable")), ctx.clock,
                    name="test-worker")
    for number in (NUMBER, OTHER, "+61491570158", "+61491570159", "+61491570160"):
        r = api("POST", "/api/v1/customNumber/add", customer.key, json={"name": number, "number": number})
        assert r.json()["status"] is True, r.text  # the API says "OTP sent" ...
    worker.run_once()  # ... while every send fails and the breaker opens
    ctx.clock.advance(10)  # still inside the 30 s cool-off

    page = new_page(color_scheme="dark")
    sign_in(page, quiet_live)
    banner = page.get_by_role("alert")
    expect(banner).to_contain_text("SMS are not leaving: the fake provider keeps failing")  # the worker's own
    expect(banner).to_contain_text("opened at 2026-01-01 00:00:00 UTC after repeated errors: "
                                   "no SMS is sent until 2026-01-01 00:00:30 UTC, then one trial")
    expect(banner).to_contain_text("5 SMS wait; the oldest since 2026-01-01 00:00:00 UTC (10 s ago)")
    expect(banner).to_contain_text("Last error (fake): HTTP 503 Service Unavailable at 2026-01-01 00:00:00 UTC")
    health = page.locator("#provider-health")
    expect(health.locator(".badge")).to_have_text("open")
    expect(health).to_contain_text("nothing is sent until 2026-01-01 00:00:30 UTC")
    # dark mode, from the system's setting
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(15, 20, 25)"
    assert page.evaluate("getComputedStyle(document.querySelector('.tile')).backgroundColor") == "rgb(24, 32, 40)"


def test_light_mode_by_default(new_page: Callable[..., Any], quiet_live: str) -> None:
    page = new_page(color_scheme="light")
    sign_in(page, quiet_live)
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(245, 247, 249)"
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.locator("#provider-health")).to_contain_text("no worker has reported")
