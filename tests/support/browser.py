"""The console's browser tests' common part: Chromium through Playwright, a live server, the API.

Playwright drives the system's Chromium (``/usr/bin/chromium``, Debian's ``chromium``
package; ``.ci/run`` installs it); Playwright's own browser download is never used.
Without a browser the tests skip with the reason; under ``CI=true`` they fail. One
browser per test module (the ``browser`` fixture); each test opens fresh contexts.

A test module uses the fixtures by importing them (``from tests.support.browser import
...``) and sets ``SETTINGS`` as its ``settings_overrides``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from senderid.api.app import create_app
from senderid.domain.context import Context
from tests.support.console_support import ADMIN_TOKEN
from tests.support.env import IN_CI
from tests.support.live import serve

# The webhook receiver lives on 127.0.0.1, which only closed networks (and tests) may allow.
SETTINGS: dict[str, object] = {"admin_token": ADMIN_TOKEN, "sms_provider": "devinbox",
                               "webhook_allow_private": True, "worker_poll_seconds": 0.05}
NUMBER, OTHER = "+61491570156", "+61491570157"

CHROMIUM = os.environ.get("SENDERID_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (the browser tests are required under CI=true)")
    pytest.skip(reason)


def launch_chromium(args: list[str]) -> Iterator[Any]:
    """Debian's Chromium through Playwright, started with ``args``, closed after; skipped
    (failed under CI=true) when either is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - depends on the machine
        _unavailable(f"Playwright is not installed ({exc}); pip install -e '.[test]'")
    if not Path(CHROMIUM).exists():  # pragma: no cover - depends on the machine
        _unavailable(f"no Chromium at {CHROMIUM}: apt-get install chromium (or set SENDERID_TEST_CHROMIUM)")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=args, timeout=30_000)
    except Exception as exc:  # pragma: no cover - depends on the machine
        playwright.stop()
        _unavailable(f"Chromium at {CHROMIUM} did not start: {exc}")
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_chromium(CHROMIUM_ARGS)


@pytest.fixture
def live(ctx: Context) -> Iterator[str]:
    """The whole server (API, console, inbox, delivery worker) on a loopback port."""
    with serve(create_app(ctx.settings, context=ctx, run_worker=True)) as base_url:
        yield base_url


@pytest.fixture
def quiet_live(ctx: Context) -> Iterator[str]:
    """The server without its delivery worker: the test runs a worker of its own."""
    with serve(create_app(ctx.settings, context=ctx, run_worker=False)) as base_url:
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
def api(http: httpx.Client, request: pytest.FixtureRequest) -> Callable[..., httpx.Response]:
    """``api(method, path, key, json=...)``: a call to the test's server's API with a customer's key
    (``quiet_live`` when the test uses it, else ``live``)."""
    base_url = request.getfixturevalue("quiet_live" if "quiet_live" in request.fixturenames else "live")

    def call(method: str, path: str, key: str, **kwargs: Any) -> httpx.Response:
        return http.request(method, f"{base_url}{path}", headers={"Authorization": f"Bearer {key}"}, **kwargs)

    return call


@pytest.fixture
def admin(http: httpx.Client) -> Callable[..., httpx.Response]:
    """``admin(base_url, method, path, json=...)``: a call to the admin API."""
    def call(base_url: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return http.request(method, f"{base_url}/admin/v1{path}",
                            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, **kwargs)

    return call


class Dialogs:
    """Answers a page's confirmations: OK while ``accept``, else Cancel; keeps the questions."""

    def __init__(self, page: Any, accept: bool = True) -> None:
        self.accept = accept
        self.questions: list[str] = []
        page.on("dialog", self._answer)

    def _answer(self, dialog: Any) -> None:
        self.questions.append(dialog.message)
        if self.accept:
            dialog.accept()
        else:
            dialog.dismiss()


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return result


def numbers_of(api, key: str) -> dict[str, str]:
    """Number -> status, as the customer's API lists them."""
    listed = api("GET", "/api/v1/customNumber/list", key)
    assert listed.status_code == 200, listed.text
    return {r["number"]: r["status"] for r in listed.json()["data"]["items"]}


def code_in(body: str) -> str:
    found = re.search(r"(?<!\d)\d{6}(?!\d)", body)
    assert found, "no code in the SMS"
    return found.group(0)
