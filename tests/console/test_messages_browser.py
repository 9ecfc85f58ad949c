"""The console's messages in a real Chromium, against a live server: find a message by
number, customString and MessageId, open its timeline, and read the overview's and an
account's charts of SMS sent, delivered and failed. SQLite only (the reads are tested on
both databases in test_console_messages.py)."""

from __future__ import annotations

from typing import Any

import pytest

from senderid.domain.context import Context
from tests.support.browser import (  # noqa: F401  (fixtures)
    NUMBER,
    OTHER,
    SETTINGS,
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
from tests.support.console_support import handed_over

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

THIRD = "+61491570158"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return dict(SETTINGS)


@pytest.fixture
def sender(api, make_customer) -> Any:
    """An account without OTPs that sends from its own number."""
    customer = make_customer("Bluegum Travel", otp_required=False)
    r = api("POST", "/api/v1/customNumber/add", customer.key, json={"name": "Bookings", "number": NUMBER})
    assert r.json()["status"] is True, r.text
    return customer


def send(api, customer: Any, to: str, **fields: object) -> str:
    r = api("POST", "/api/v1/gateway", customer.key,
            json={"message": "Your flight BG412 leaves from gate 7", "contacts": [to], "sender": NUMBER, **fields})
    assert r.status_code == 200, r.text
    [queued] = r.json()["data"]["queueResponse"]
    message_id: str = queued["MessageId"]
    wait_for(lambda: api("GET", f"/api/v1/gateway/messages/{message_id}", customer.key).json()["data"]["status"]
             == "sent", "the SMS to be sent")
    return message_id


def test_find_a_message_and_read_its_timeline(page: Any, live: str, api, sender) -> None:
    flight = send(api, sender, OTHER, customString="flight-BG412")
    hotel = send(api, sender, THIRD, customString="hotel")
    sign_in(page, live)
    page.get_by_role("link", name="Messages", exact=True).click()
    rows = page.locator("table.list tbody tr")
    expect(rows).to_have_count(2)

    page.get_by_role("searchbox", name="Number").fill("0491 570 157")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(page.get_by_role("link", name=flight)).to_be_visible()
    expect(page.get_by_role("searchbox", name="Number")).to_have_value("0491 570 157")

    page.get_by_role("searchbox", name="Number").fill("")
    page.get_by_role("searchbox", name="customString").fill("hotel")
    page.get_by_role("searchbox", name="customString").press("Enter")
    expect(rows).to_have_count(1)
    expect(page.get_by_role("link", name=hotel)).to_be_visible()

    page.get_by_role("searchbox", name="customString").fill("")
    page.get_by_role("searchbox", name="MessageId").fill(flight.upper())
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    page.get_by_role("link", name=flight).click()

    expect(page.get_by_role("heading", name=f"Message {flight} sent")).to_be_visible()
    facts = page.locator("#message-facts")
    expect(facts).to_contain_text("Your flight BG412 leaves from gate 7")
    expect(facts).to_contain_text("flight-BG412")
    expect(facts.get_by_role("link", name="Bluegum Travel")).to_be_visible()
    timeline = page.get_by_role("table", name="Timeline").locator("tbody tr")
    expect(timeline).to_have_count(2)
    expect(timeline.nth(0)).to_contain_text("queued")
    expect(timeline.nth(1)).to_contain_text("sent")
    expect(timeline.nth(1).locator('td[data-label="Provider"]')).to_have_text("devinbox")
    expect(timeline.nth(1).locator('td[data-label="Attempt"]')).to_have_text("1")

    page.get_by_role("link", name="Messages", exact=True).first.click()
    page.get_by_role("searchbox", name="Number").fill("12345")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("alert")).to_contain_text("'12345' is not a mobile number")
    expect(rows).to_have_count(1)  # the one row that says nothing matches
    expect(rows).to_have_text("No messages match.")


def bar_heights(page: Any, chart: str, slot: int) -> dict[str, float]:
    """The drawn height (CSS pixels) of each bar of one slot of a chart."""
    group = page.locator(f"#chart-{chart} g.slot").nth(slot)
    heights = {}
    for name in ("sent", "delivered", "failed"):
        box = group.locator(f"rect.bar-{name}").bounding_box()
        assert box is not None, name
        heights[name] = box["height"]
    return heights


def test_the_charts_draw_sent_delivered_and_failed(page: Any, live: str, ctx: Context, sender,
                                                   make_customer) -> None:
    other = make_customer("Harbour Dental", otp_required=False)
    for receipt in ("delivered", "delivered", "delivered", None):
        handed_over(ctx, to=OTHER, sender="Bluegum", account_id=sender.account.id, receipt=receipt)
    handed_over(ctx, to=OTHER, sender="Bluegum", account_id=sender.account.id, error="number barred")
    handed_over(ctx, to=THIRD, sender="Smile", account_id=other.account.id, receipt="failed")

    sign_in(page, live)
    hours = page.get_by_role("figure", name="Per hour, last 24 hours")
    expect(hours.locator("figcaption")).to_contain_text("Sent 5 Delivered 3 Failed 2")
    expect(hours.get_by_role("img")).to_have_attribute(
        "aria-label", "Per hour, last 24 hours: 5 sent, 3 delivered, 2 failed")
    now = bar_heights(page, "all-hours", 23)  # the current hour, the last slot
    assert now["sent"] > now["delivered"] > now["failed"] > 0
    assert abs(now["failed"] / now["sent"] - 2 / 5) < 0.05  # drawn to scale
    assert set(bar_heights(page, "all-hours", 22).values()) == {0}
    today = bar_heights(page, "all-days", 6)
    assert today == now
    expect(page.locator("#chart-all-hours g.slot").nth(23).locator("title")).to_have_text(
        "2026-01-01 00:00: 5 sent, 3 delivered, 2 failed")

    page.get_by_role("link", name="Accounts").click()
    page.get_by_role("link", name="Bluegum Travel", exact=True).click()
    mine = page.get_by_role("figure", name="Per day, last 7 days")
    expect(mine.locator("figcaption")).to_contain_text("Sent 4 Delivered 3 Failed 1")
    drawn = bar_heights(page, "account-days", 6)
    assert drawn["sent"] > drawn["delivered"] > drawn["failed"] > 0
