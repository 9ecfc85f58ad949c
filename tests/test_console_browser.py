"""The console and the developer inbox in a real Chromium, against a live server.

Playwright drives the system's Chromium (``/usr/bin/chromium``, Debian's ``chromium``
package; ``.ci/run`` installs it); Playwright's own browser download is never used.
Without a browser these tests skip with the reason; under ``CI=true`` they fail.

SQLite only (the console's queries are the domain's, tested on both databases
elsewhere). The screenshot test writes its pictures to a temporary folder; ``make
screenshots`` (``SENDERID_TEST_SCREENSHOTS=docs/screenshots``) writes those of docs/console.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from senderid import otp
from senderid.api.app import create_app
from senderid.delivery import outbox
from senderid.domain import accounts, business_names, custom_numbers, messages, outbox_admin
from senderid.domain.context import Context
from senderid.domain.types import CLI, Actor
from tests.support.env import IN_CI
from tests.support.console_support import ADMIN_TOKEN, dead_message
from tests.support.live import serve

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

CHROMIUM = os.environ.get("SENDERID_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Where the screenshot test writes (relative to the repository); a temporary folder when unset.
SCREENSHOTS_TO = os.environ.get("SENDERID_TEST_SCREENSHOTS")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
NUMBER, OTHER = "+61491570156", "+61491570157"


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (the browser tests are required under CI=true)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - depends on the machine
        _unavailable(f"Playwright is not installed ({exc}); pip install -e '.[test]'")
    if not Path(CHROMIUM).exists():  # pragma: no cover - depends on the machine
        _unavailable(f"no Chromium at {CHROMIUM}: apt-get install chromium (or set SENDERID_TEST_CHROMIUM)")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
    except Exception as exc:  # pragma: no cover - depends on the machine
        playwright.stop()
        _unavailable(f"Chromium at {CHROMIUM} did not start: {exc}")
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"admin_token": ADMIN_TOKEN, "sms_provider": "devinbox"}


@pytest.fixture
def live(ctx: Context) -> Iterator[str]:
    """The whole server (API, console, inbox, delivery worker) on a loopback port."""
    with serve(create_app(ctx.settings, context=ctx, run_worker=True)) as base_url:
        yield base_url


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """Pages in fresh browser contexts (own cookies); all closed at the end."""
    contexts: list[Any] = []

    def make(viewport: dict[str, int] = DESKTOP, **options: Any) -> Any:
        context = browser.new_context(viewport=viewport, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Any]) -> Any:
    return new_page()


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def sign_in(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/console")
    expect(page).to_have_url(f"{base_url}/console/login")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    """One HTTP client for the module (a new one per call would build a TLS context each time)."""
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def api(http: httpx.Client, live: str) -> Callable[..., httpx.Response]:
    """``api(method, path, key, json=...)``: a call to the live server's API with a customer's key."""
    def call(method: str, path: str, key: str, **kwargs: Any) -> httpx.Response:
        return http.request(method, f"{live}{path}", headers={"Authorization": f"Bearer {key}"}, **kwargs)

    return call


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return result


# -- the flows -----------------------------------------------------------------------------------


def test_sign_in_then_approve_and_reject_business_names(page: Any, live: str, api, customer) -> None:  # type: ignore[no-untyped-def]
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
    page.get_by_role("article", name="Acme Shop").get_by_role("button", name="Approve Acme Shop").click()
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


def test_create_a_key_then_revoke_one(page: Any, live: str, api, customer) -> None:  # type: ignore[no-untyped-def]
    assert api("GET", "/api/v1/user/token/verify", customer.key).status_code == 200
    sign_in(page, live)
    page.get_by_role("link", name="Accounts").click()
    page.get_by_role("link", name="Acme", exact=True).click()
    expect(page.get_by_role("heading", name="Acme", exact=True)).to_be_visible()

    page.get_by_role("button", name="Create a key").click()
    new_key = page.get_by_label("The new API key").input_value()
    assert new_key.startswith("sid_")
    assert api("GET", "/api/v1/user/token/verify", new_key).status_code == 200

    page.get_by_role("button", name=f"Revoke key {customer.key[:12]}").click()
    expect(page.get_by_role("status")).to_contain_text("Key revoked")
    refused = api("GET", "/api/v1/user/token/verify", customer.key)
    assert refused.status_code == 401 and refused.json()["message"] == "Token expired"
    assert api("GET", "/api/v1/user/token/verify", new_key).status_code == 200
    expect(page.get_by_label("The new API key")).to_have_count(0)  # shown once only


def test_find_a_number_typed_the_way_people_write_it(page: Any, live: str, api, make_customer) -> None:  # type: ignore[no-untyped-def]
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

    results.get_by_role("link", name=NUMBER).click()
    expect(page.get_by_role("heading", name=NUMBER)).to_be_visible()
    expect(page.get_by_text("custom_number.created")).to_be_visible()


def test_retry_a_dead_message(page: Any, live: str, http: httpx.Client, customer, ctx: Context) -> None:  # type: ignore[no-untyped-def]
    message_id = dead_message(ctx, to=OTHER, sender="Acme", account_id=customer.account.id)
    sign_in(page, live)
    expect(page.locator(".tile", has_text="Dead messages").locator("dd")).to_have_text("1")
    page.get_by_role("link", name="Review dead messages").click()
    row = page.locator(f"#m-{message_id}")
    expect(row).to_contain_text("provider unreachable")
    row.get_by_role("button", name=f"Retry the message to {OTHER}").click()
    expect(page.get_by_role("status")).to_contain_text("queued again")

    wait_for(lambda: outbox_admin.get_message(ctx, message_id).status == outbox.SENT, "the retried SMS to be sent")
    page.goto(f"{live}/console/messages")
    expect(page.locator(f"#m-{message_id} .badge")).to_have_text("sent")
    inbox = http.get(f"{live}/dev/inbox.json").json()
    assert [m["body"] for m in inbox if m["to"] == OTHER] == ["Your parcel is on its way"]


def test_read_the_otp_in_the_inbox_and_verify_with_it(  # type: ignore[no-untyped-def]
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
                  contacts=["0491 570 112"], sender="0491 570 110", actor=CLI)
    clock.advance(minutes=2)


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """docs/screenshots under ``make screenshots``; a temporary folder otherwise, so that a
    test run never rewrites tracked files."""
    return Path(__file__).parents[1] / SCREENSHOTS_TO if SCREENSHOTS_TO else tmp_path / "screenshots"


def test_screenshots(new_page: Callable[..., Any], live: str, http: httpx.Client, ctx: Context,
                     monkeypatch: pytest.MonkeyPatch, screenshots: Path) -> None:
    def _shoot(page: Any, name: str) -> None:
        page.screenshot(path=str(screenshots / name), full_page=True, animations="disabled")

    codes = iter(["482913", "736204"])  # fixed codes: the same pictures on every run
    monkeypatch.setattr(otp, "generate_code", lambda: next(codes))
    _seed(ctx)
    wait_for(lambda: len(http.get(f"{live}/dev/inbox.json").json()) == 3, "the seeded SMS")
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
    for name in ("overview", "business", "inbox"):
        for size in ("desktop", "phone"):
            assert (screenshots / f"{name}-{size}.png").stat().st_size > 10_000
