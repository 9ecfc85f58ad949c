"""``replyStopToOptOut`` from a business name: an ``Opt out: <link>`` line, its page and its button."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from senderid.domain import business_names
from senderid.domain.types import CLI, Actor
from senderid.store.tables import accounts, short_links, webhook_events
from senderid.store.tables import optouts as optouts_table
from tests.support.browser import SETTINGS as BROWSER_SETTINGS
from tests.support.browser import browser, expect, new_page, quiet_live  # noqa: F401 (fixtures)
from tests.support.gateway import CONTACT, OWN, ok, own_number, post, refused, sent, sms_rows

BASE = "https://sms.example.com/s"
LINK = re.compile(re.escape(BASE) + r"/([A-Za-z0-9]{8})$")
QUEUED = "Request is being processed"
NAME = "Acme Shop"
OTHER = "+61491570158"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"short_link_base": BASE}


def approved_name(ctx, customer, name: str = NAME) -> None:
    record = business_names.request(ctx, customer.account, businessname=name, actor=CLI)
    business_names.approve(ctx, record.id, actor=Actor("operator"))


def listed(ctx) -> dict[tuple[str, str], str]:
    with ctx.db.read() as conn:
        return {(r.account_id, r.number): r.source for r in conn.execute(sa.select(optouts_table)).all()}


def hook(ctx, account_id: str) -> None:
    with ctx.db.write() as conn:
        conn.execute(sa.update(accounts).where(accounts.c.id == account_id)
                     .values(webhook_url="https://hooks.example.com/in", webhook_secret="whsec_dGVzdA=="))


def events_of(ctx, type_: str) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        rows = conn.execute(sa.select(webhook_events.c.payload).where(webhook_events.c.type == type_)).scalars()
        return [row["data"] for row in rows]


def test_a_business_name_sends_a_link_per_message(app_client: TestClient, no_otp_customer, ctx) -> None:
    approved_name(ctx, no_otp_customer)
    hook(ctx, no_otp_customer.account.id)
    status, body, ids = post(app_client, no_otp_customer.headers, message="Sale", contacts=[CONTACT, OTHER],
                             sender=NAME, replyStopToOptOut=True)
    assert (status, body) == (200, ok(QUEUED, sent([("491570157", CONTACT), ("491570158", OTHER)])))
    bodies = {r.id: r.body for r in sms_rows(ctx)}
    codes = {}
    for message_id in ids:
        assert bodies[message_id].startswith("Sale\nOpt out: ")
        codes[message_id] = LINK.search(bodies[message_id]).group(1)
        assert bodies[message_id] == f"Sale\nOpt out: {BASE}/{codes[message_id]}"
    assert len(set(codes.values())) == 2  # one code per message

    code = codes[ids[0]]
    for _ in range(2):  # a GET (a carrier's or a phone's prefetch) changes nothing
        r = app_client.get(f"/s/{code}", follow_redirects=False)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert "Stop receiving messages from Acme Shop?" in r.text and '<form method="post">' in r.text
        assert r.headers["cache-control"] == "no-store" and r.headers["x-frame-options"] == "DENY"
    assert listed(ctx) == {}
    with ctx.db.read() as conn:
        assert conn.execute(sa.select(sa.func.sum(short_links.c.clicks))).scalar() == 0

    clock_before = ctx.clock.now()
    r = app_client.post(f"/s/{code}")
    assert r.status_code == 200 and "You are opted out" in r.text and "Acme Shop will send you no more" in r.text
    assert listed(ctx) == {(no_otp_customer.account.id, CONTACT): "link"}
    with ctx.db.read() as conn:
        kept = conn.execute(sa.select(optouts_table.c.created_at)).scalar_one()
    assert kept == clock_before  # kept with its time (the test clock stands still)
    assert events_of(ctx, "optout.added") == [{"number": CONTACT, "source": "link"}]
    r = app_client.post(f"/s/{code}")  # twice: still on the list, once
    assert r.status_code == 200 and listed(ctx) == {(no_otp_customer.account.id, CONTACT): "link"}

    status, body, _ = post(app_client, no_otp_customer.headers, message="Again", contacts=[CONTACT], sender=NAME)
    assert (status, body) == (200, ok(QUEUED, sent([], unsubscribed=[CONTACT])))


def test_unknown_codes_and_plain_links(app_client: TestClient, no_otp_customer, ctx) -> None:
    approved_name(ctx, no_otp_customer)
    _, _, ids = post(app_client, no_otp_customer.headers, message="See gosite.au/goo", contacts=[CONTACT],
                     sender=NAME, replyStopToOptOut=True, longUrl=[{"longUrl": "example.com", "shortUrl": "goo"}])
    text = sms_rows(ctx)[0].body
    plain, optout = re.findall(re.escape(BASE) + r"/([A-Za-z0-9]{8})", text)
    assert text == f"See {BASE}/{plain}\nOpt out: {BASE}/{optout}"
    r = app_client.post(f"/s/{plain}")  # a plain short link opts nobody out
    assert (r.status_code, r.json()) == (404, refused("No such link"))
    r = app_client.post("/s/zzzzzzzz")
    assert (r.status_code, r.json()) == (404, refused("No such link"))
    assert app_client.get(f"/s/{plain}", follow_redirects=False).headers["location"] == "https://example.com"
    assert listed(ctx) == {}


def test_number_senders_keep_the_stop_line(app_client: TestClient, no_otp_customer, ctx) -> None:
    own_number(app_client, no_otp_customer)
    post(app_client, no_otp_customer.headers, message="Sale", contacts=[CONTACT], sender=OWN, replyStopToOptOut=True)
    post(app_client, no_otp_customer.headers, message="Sale", contacts=[OTHER], replyStopToOptOut=True)  # shared
    assert [r.body for r in sms_rows(ctx)] == ["Sale\nReply STOP to opt out"] * 2
    with ctx.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(short_links)).scalar() == 0


def test_the_parts_count_the_link_line(app_client: TestClient, no_otp_customer, ctx) -> None:
    approved_name(ctx, no_otp_customer)
    # 130 + "\nReply STOP to opt out" (22) fits one part; 130 + "\nOpt out: <base>/<code>" (43) does not
    text = "a" * 130
    status, body, _ = post(app_client, no_otp_customer.headers, message=text, contacts=[CONTACT], sender=NAME,
                           replyStopToOptOut=True)
    assert (status, body) == (200, ok(QUEUED, sent([("491570157", CONTACT)], parts=2)))
    assert sms_rows(ctx)[0].parts == 2


@pytest.mark.parametrize("settings_overrides", [{"short_link_base": None}])
def test_without_a_link_base_a_business_name_cannot_ask_for_it(app_client: TestClient, no_otp_customer, ctx) -> None:
    approved_name(ctx, no_otp_customer)
    status, body, _ = post(app_client, no_otp_customer.headers, message="Sale", contacts=[CONTACT], sender=NAME,
                           replyStopToOptOut=True)
    assert status == 400 and body["status"] is False
    assert body["message"].startswith("replyStopToOptOut: a business name cannot receive a STOP reply")
    assert "SENDERID_SHORT_LINK_BASE" in body["message"]
    assert sms_rows(ctx) == []
    status, body, _ = post(app_client, no_otp_customer.headers, message="Sale", contacts=[CONTACT], sender=NAME)
    assert status == 200 and [r.body for r in sms_rows(ctx)] == ["Sale"]


# -- the page in Chromium -----------------------------------------------------------------------------


@pytest.mark.parametrize("settings_overrides", [{**BROWSER_SETTINGS, "short_link_base": BASE}])
def test_the_unsubscribe_page_in_chromium(app_client: TestClient, quiet_live: str, new_page, no_otp_customer,
                                          ctx) -> None:
    approved_name(ctx, no_otp_customer)
    post(app_client, no_otp_customer.headers, message="Sale", contacts=[CONTACT], sender=NAME, replyStopToOptOut=True)
    code = LINK.search(sms_rows(ctx)[0].body).group(1)
    page = new_page()
    page.goto(f"{quiet_live}/s/{code}")
    expect(page.get_by_role("heading", name="Opt out")).to_be_visible()
    expect(page.get_by_text("Stop receiving messages from Acme Shop?")).to_be_visible()
    page.reload()
    assert listed(ctx) == {}  # opening the page (twice) opts nobody out
    page.get_by_role("button", name="Opt out").click()
    expect(page.get_by_role("heading", name="You are opted out")).to_be_visible()
    assert page.url == f"{quiet_live}/s/{code}"
    assert listed(ctx) == {(no_otp_customer.account.id, CONTACT): "link"}
