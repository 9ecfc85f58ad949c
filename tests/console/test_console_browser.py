"""The console and the developer inbox in a real Chromium, against a live server.

Sign in, the business-name queue, keys, the number search, a dead SMS retried, the inbox;
each action checked through the API (the public API with the customer's key, the
devinbox's JSON), not only by what the page says. More actions: test_console_actions.py.
The browser and server fixtures are in tests/support/browser.py.

SQLite only (the console's queries are the domain's, tested on both databases
elsewhere). The screenshot test writes its pictures to a temporary folder; ``make
screenshots`` (``SENDERID_TEST_SCREENSHOTS=docs/screenshots``) writes those of docs/console.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from senderid import otp
from senderid.domain import accounts, business_names, custom_numbers, messages, outbox
from senderid.domain.context import Context
from senderid.domain.types import CLI, Actor
from tests.support.browser import (  # noqa: F401  (fixtures)
    DESKTOP,
    NUMBER,
    OTHER,
    PHONE,
    SETTINGS,
    Dialogs,
    api,
    browser,
    expect,
    http,
    live,
    new_page,
    page,
    sign_in,
    wait_for,
)
from tests.support.console_support import dead_message, handed_over

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

# Where the screenshot test writes (relative to the repository); a temporary folder when unset.
SCREENSHOTS_TO = os.environ.get("SENDERID_TEST_SCREENSHOTS")


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return dict(SETTINGS)


# -- the flows -----------------------------------------------------------------------------------


def test_sign_in_then_approve_and_reject_business_names(page: Any, live: str, api, customer) -> None:
    acme = api("POST", "/api/v1/business/add", customer.key, json={"businessname": "Acme Shop"})
    cafe = api("POST", "/api/v1/business/add", customer.key, json={"businessname": "Bobs Cafe"})
    acme_id, cafe_id = acme.json()["data"]["_id"], cafe.json()["data"]["_id"]

    page.goto(f"{live}/console")
    page.get_by_label("Admin token").fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("That is not the admin token")
    sign_in(page, live)

    page.get_by_role("link", name="Business names").click()
    expect(page.get_by_role("heading", name="Business names to review")).to_be_visible()
    approve = page.get_by_role("article", name="Acme Shop").get_by_role("button", name="Approve Acme Shop")
    dialogs = Dialogs(page, accept=False)
    approve.click()
    assert dialogs.questions == ["Approve Acme Shop for Acme? The account can send SMS as Acme Shop at once."]
    expect(page.get_by_role("status")).to_have_count(0)  # Cancel: nothing sent, nothing changed
    assert api("GET", f"/api/v1/business/{acme_id}", customer.key).json()["data"]["status"] == "REQUESTED"
    dialogs.accept = True
    approve.click()
    expect(page.get_by_role("status")).to_contain_text("Business name approved")
    assert api("GET", f"/api/v1/business/{acme_id}", customer.key).json()["data"]["status"] == "APPROVED"

    card = page.get_by_role("article", name="Bobs Cafe")
    card.get_by_label("Reason for rejecting").fill("Show us your ABN")
    card.get_by_role("button", name="Reject Bobs Cafe").click()
    expect(page.get_by_role("status")).to_contain_text("Business name rejected")
    expect(page.get_by_text("Nothing to review")).to_be_visible()
    rejected = api("GET", f"/api/v1/business/{cafe_id}", customer.key).json()["data"]
    assert (rejected["status"], rejected["reason"]) == ("REJECTED", "Show us your ABN")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You are signed out")
    page.goto(f"{live}/console/business-names")
    expect(page).to_have_url(f"{live}/console/login")


def test_create_a_key_then_revoke_one(page: Any, live: str, api, customer) -> None:
    assert api("GET", "/api/v1/user/token/verify", customer.key).status_code == 200
    sign_in(page, live)
    page.get_by_role("link", name="Accounts").click()
    page.get_by_role("link", name="Acme", exact=True).click()
    expect(page.get_by_role("heading", name="Acme", exact=True)).to_be_visible()

    page.get_by_role("button", name="Create a key").click()
    new_key = page.get_by_label("The new API key").input_value()
    assert new_key.startswith("sid_")
    assert api("GET", "/api/v1/user/token/verify", new_key).status_code == 200

    revoke = page.get_by_role("button", name=f"Revoke key {customer.key[:12]}")
    dialogs = Dialogs(page, accept=False)
    revoke.click()
    assert len(dialogs.questions) == 1 and dialogs.questions[0].startswith(f"Revoke key {customer.key[:12]}…?")
    expect(page.get_by_role("status")).to_have_count(0)
    assert api("GET", "/api/v1/user/token/verify", customer.key).status_code == 200  # Cancel kept it
    dialogs.accept = True
    revoke.click()
    expect(page.get_by_role("status")).to_contain_text("Key revoked")
    refused = api("GET", "/api/v1/user/token/verify", customer.key)
    assert refused.status_code == 401 and refused.json()["message"] == "Token expired"
    assert api("GET", "/api/v1/user/token/verify", new_key).status_code == 200
    expect(page.get_by_label("The new API key")).to_have_count(0)  # shown once only


def test_find_a_number_typed_the_way_people_write_it(page: Any, live: str, api, make_customer) -> None:
    direct = make_customer("Direct", otp_required=False)
    for number, name in ((NUMBER, "Support line"), (OTHER, "Sales line")):
        r = api("POST", "/api/v1/customNumber/add", direct.key, json={"name": name, "number": number})
        assert r.json()["status"] is True, r.text
    sign_in(page, live)
    page.get_by_role("link", name="Custom numbers").click()
    page.get_by_role("searchbox", name="Number").fill("0491 570 156")
    page.get_by_role("searchbox", name="Number").press("Enter")
    results = page.locator("#results tbody")
    expect(results.get_by_role("link", name=NUMBER)).to_be_visible()
    expect(results.get_by_text(OTHER)).to_have_count(0)
    expect(page.get_by_role("searchbox", name="Number")).to_have_value("0491 570 156")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download these custom numbers as CSV").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert exported[0].startswith("id,number,name,account_id,account,status")
    assert (
        len(exported) == 2 and f",{NUMBER.lstrip('+')},Support line," in exported[1]
    )  # the search's one number (E.164 digits)

    results.get_by_role("link", name=NUMBER).click()
    expect(page.get_by_role("heading", name=NUMBER)).to_be_visible()
    expect(page.get_by_text("custom_number.created")).to_be_visible()


def test_retry_a_dead_message(page: Any, live: str, http: httpx.Client, customer, ctx: Context) -> None:
    message_id = dead_message(ctx, to=OTHER, sender="", account_id=customer.account.id)  # the shared sender
    sign_in(page, live)
    expect(page.locator(".tile", has_text="Dead messages").locator("dd")).to_have_text("1")
    page.get_by_role("link", name="Review dead messages").click()
    row = page.locator(f"#m-{message_id}")
    expect(row).to_contain_text("provider unreachable")
    row.get_by_role("button", name=f"Retry the message to {OTHER}").click()
    expect(page.get_by_role("status")).to_contain_text("queued again")

    wait_for(lambda: outbox.get_message(ctx, message_id).status == outbox.SENT, "the retried SMS to be sent")
    page.goto(f"{live}/console/messages")
    expect(page.locator(f"#m-{message_id} .badge")).to_have_text("sent")
    inbox = http.get(f"{live}/dev/inbox.json").json()
    assert [m["body"] for m in inbox if m["to"] == OTHER] == ["Your parcel is on its way"]


def test_read_the_otp_in_the_inbox_and_verify_with_it(
    new_page: Callable[..., Any], live: str, http: httpx.Client, api, customer
) -> None:
    page = new_page(permissions=["clipboard-read", "clipboard-write"])
    page.goto(f"{live}/dev/inbox")
    expect(page.get_by_text("No SMS yet")).to_be_visible()
    page.evaluate("window.stillTheSamePage = true")

    r = api("POST", "/api/v1/customNumber/add", customer.key, json={"name": "Support", "number": "0491 570 156"})
    assert r.json()["status"] is True, r.text
    code_mark = page.locator("mark.otp")
    expect(code_mark).to_have_count(1, timeout=10_000)  # it arrives by polling, without a reload
    code = code_mark.inner_text()
    assert len(code) == 6 and code.isdigit()
    assert page.evaluate("window.stillTheSamePage") is True
    expect(page.locator(".sms .meta")).to_contain_text(f"To {NUMBER} from senderid")

    expect(page.get_by_role("button", name=f"Copy code {code}")).to_be_visible()
    copy = page.locator("button.copy-code")  # its name becomes "Copied"
    copy.focus()
    page.keyboard.press("Enter")  # keyboard usable
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == code

    verified = api("POST", "/api/v1/customNumber/verifyCustomNumber", customer.key,
                   json={"name": "Support", "number": NUMBER, "otp": code})
    assert verified.json()["status"] is True, verified.text

    page.get_by_role("button", name="Clear all").click()
    expect(page.get_by_text("No SMS yet")).to_be_visible()
    assert http.get(f"{live}/dev/inbox.json").json() == []


# -- screenshots for docs/console.md -------------------------------------------------------------


def _seed(ctx: Context) -> None:
    """A small, believable deployment: accounts, numbers, requests, messages."""
    clock: Any = ctx.clock
    made = {}
    for name, otp_required in (("Acme Pty Ltd", True), ("Bluegum Travel", False), ("Harbour Dental", False)):
        account = accounts.create_account(ctx, name, otp_required=otp_required, actor=CLI)
        accounts.create_key(ctx, account.id, actor=CLI)
        made[name] = account
        clock.advance(minutes=7)
    _traffic(ctx, made)
    dead_message(ctx, to="+61491570159", sender="Acme", account_id=made["Acme Pty Ltd"].id)
    requested = {}
    for account, name, contact in (
        (made["Acme Pty Ltd"], "Acme Shop", "0491 570 156"),
        (made["Bluegum Travel"], "Bluegum", None),
        (made["Harbour Dental"], "HarbourDent", "0491 570 111"),
        (made["Harbour Dental"], "Smile Co", None),
    ):
        requested[name] = business_names.request(
            ctx, account, businessname=name, customer_contact=contact, actor=CLI
        )
        clock.advance(minutes=11)
    business_names.approve(ctx, requested["Smile Co"].id, actor=Actor("console", "127.0.0.1"))
    for account, number, label in (
        (made["Bluegum Travel"], "0491 570 110", "Bookings"),
        (made["Harbour Dental"], "0491 570 111", "Reception"),
        (made["Acme Pty Ltd"], "0491 570 156", "Support line"),
        (made["Acme Pty Ltd"], "0491 570 158", "Sales"),
    ):
        custom_numbers.add(ctx, account, name=label, number=number, actor=CLI)
        clock.advance(minutes=1)  # OTPs live 10 minutes
    messages.send(ctx, made["Bluegum Travel"], message="Your flight BG412 leaves from gate 7 at 14:05.",
                  contacts=["0491 570 112"], sender="0491 570 110", fields={"customString": "flight-BG412"}, actor=CLI)
    clock.advance(minutes=2)
    for contact in ("0491 570 113", "0491 570 114"):  # next week: counted apart from the waiting ones
        messages.send(ctx, made["Harbour Dental"], message="Reminder: your check-up is on Monday at 9:30.",
                      contacts=[contact], sender="0491 570 111",
                      fields={"scheduleAt": (clock.now() + timedelta(days=5)).isoformat()}, actor=CLI)


# SMS per hour of a day, from midnight (UTC): the traffic of the charts' pictures.
DAY = (0, 0, 0, 0, 0, 0, 1, 2, 4, 6, 7, 6, 5, 6, 7, 6, 5, 4, 3, 2, 2, 1, 0, 0)


def _traffic(ctx: Context, made: dict[str, Any]) -> None:
    """Six and a half days of SMS of two accounts, hour by hour: most delivered, a few
    refused or undelivered (the charts' pictures)."""
    clock: Any = ctx.clock
    senders = ((made["Bluegum Travel"].id, "Bluegum"), (made["Harbour Dental"].id, "Smile Co"))
    for hour in range(6 * 24 + 15):
        for i in range(DAY[hour % 24] * (hour // 24 % 3 + 2) // 3):
            account_id, sender = senders[(hour + i) % 2]
            outcome = (hour * 7 + i) % 23
            handed_over(ctx, to=f"+614915701{(hour + i) % 4 + 56}", sender=sender, account_id=account_id,
                        receipt=None if outcome == 1 else "failed" if outcome == 2 else "delivered",
                        error="number barred" if outcome in (3, 4) else None)
        clock.advance(hours=1)


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """docs/screenshots under ``make screenshots``; a temporary folder otherwise, so that a
    test run never rewrites tracked files."""
    return Path(__file__).parents[2] / SCREENSHOTS_TO if SCREENSHOTS_TO else tmp_path / "screenshots"


def test_screenshots(new_page: Callable[..., Any], live: str, http: httpx.Client, ctx: Context,
                     monkeypatch: pytest.MonkeyPatch, screenshots: Path) -> None:
    def _shoot(page: Any, name: str) -> None:
        page.screenshot(path=str(screenshots / name), full_page=True, animations="disabled")

    codes = iter(["482913", "736204"])  # fixed codes: the same pictures on every run
    monkeypatch.setattr(otp, "generate_code", lambda: next(codes))
    _seed(ctx)
    wait_for(lambda: len(http.get(f"{live}/dev/inbox.json").json()) == 3, "the seeded SMS")
    [flight] = [m for m in outbox.list_messages(ctx, limit=5) if m.to == "+61491570112"]
    provider_id = wait_for(lambda: outbox.get_message(ctx, flight.id).provider_message_id, "the flight SMS's record")
    clock: Any = ctx.clock
    clock.advance(seconds=4)  # then its delivery receipt
    with ctx.db.write() as conn:
        assert outbox.record_receipt(conn, provider="devinbox", provider_message_id=provider_id, status="delivered",
                                     now=clock.now())
    screenshots.mkdir(parents=True, exist_ok=True)
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = new_page(viewport=viewport, is_mobile=size == "phone", has_touch=size == "phone")
        sign_in(page, live)
        _shoot(page, f"overview-{size}.png")
        page.goto(f"{live}/console/business-names")
        expect(page.get_by_role("article")).to_have_count(3)
        _shoot(page, f"business-{size}.png")
        page.goto(f"{live}/dev/inbox")
        expect(page.locator(".sms")).to_have_count(3)
        _shoot(page, f"inbox-{size}.png")
        page.goto(f"{live}/console/messages?to=0491+570+112")
        expect(page.locator("table.list tbody tr")).to_have_count(1)
        _shoot(page, f"messages-{size}.png")
        page.locator("table.list tbody a.mono").click()
        expect(page.get_by_role("table", name="Timeline").locator("tbody tr")).to_have_count(3)
        _shoot(page, f"message-{size}.png")
        page.goto(f"{live}/console")
        page.locator("section.charts").screenshot(path=str(screenshots / f"charts-{size}.png"), animations="disabled")
    dark = new_page(viewport=DESKTOP, color_scheme="dark")
    sign_in(dark, live)
    _shoot(dark, "overview-dark-desktop.png")
    for name in ("overview", "business", "inbox", "messages", "message", "charts"):
        for size in ("desktop", "phone"):
            assert (screenshots / f"{name}-{size}.png").stat().st_size > 10_000
    assert (screenshots / "overview-dark-desktop.png").stat().st_size > 10_000
