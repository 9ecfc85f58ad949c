"""``/docs`` and ``/redoc`` in a real Chromium with the network off: every asset comes from
the server itself, and the operations show their summaries.

The browser may reach only the test server: every other request is aborted and recorded
(and DNS resolves nothing but loopback), so a page that still loaded something from a CDN
or Google Fonts fails here. Like the console's browser tests, this drives Debian's
Chromium through Playwright; without it the test skips, under ``CI=true`` it fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from senderid.api.app import create_app
from senderid.api.summaries import SUMMARIES
from senderid.domain.context import Context
from tests.support.browser import launch_chromium
from tests.support.live import serve

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

OFFLINE_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


REDOCLY_BADGE = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_chromium(OFFLINE_ARGS)


@pytest.fixture
def live(ctx: Context) -> Iterator[str]:
    with serve(create_app(ctx.settings, context=ctx, run_worker=False)) as base_url:
        yield base_url


@pytest.fixture
def offline_page(browser: Any, live: str) -> Iterator[tuple[Any, list[str]]]:
    """A page that reaches the test server and nothing else; the list of what it tried elsewhere."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    blocked: list[str] = []

    def only_the_server(route: Any) -> None:
        if route.request.url.startswith(live + "/"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_the_server)
    yield context.new_page(), blocked
    context.close()


def test_swagger_ui_works_offline_with_real_summaries(offline_page: tuple[Any, list[str]], live: str) -> None:
    from playwright.sync_api import expect

    page, blocked = offline_page
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(f"{live}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("senderid")
    add = page.locator(".opblock-summary", has_text="/api/v1/customNumber/add")
    expect(add).to_contain_text(SUMMARIES[("post", "/api/v1/customNumber/add")])
    expect(
        page.locator(".opblock-summary-description", has_text="Send SMS as one of the account's senders")
    ).to_be_visible()
    add.click()  # the operation opens: its request body from /openapi.json
    expect(page.locator(".opblock-body").first).to_contain_text("number")
    assert blocked == [] and failed == []


def test_redoc_works_offline_with_real_summaries(offline_page: tuple[Any, list[str]], live: str) -> None:
    from playwright.sync_api import expect

    page, blocked = offline_page
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(f"{live}/redoc")
    expect(page.locator("h1").first).to_contain_text("senderid")
    menu = page.locator(".menu-content")
    expect(menu).to_contain_text(SUMMARIES[("post", "/api/v1/customNumber/verifyCustomNumber")])
    expect(menu).to_contain_text(SUMMARIES[("get", "/api/v1/senderId/check")])
    gateway = page.locator("h2", has_text=SUMMARIES[("post", "/api/v1/gateway")])
    gateway.scroll_into_view_if_needed()
    expect(gateway).to_be_visible()  # the operation's section, rendered from /openapi.json
    # The one thing ReDoc reaches for outside is its "API docs by Redocly" badge, which it
    # drops when that image cannot load: nothing else may leave the machine.
    assert set(blocked) <= {REDOCLY_BADGE} and set(failed) <= {REDOCLY_BADGE}
    expect(page.get_by_alt_text("redocly logo")).to_have_count(0)
    assert "fonts.googleapis" not in page.content()
