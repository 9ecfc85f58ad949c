"""The console's messages through HTTP, on both databases: the search (MessageId, number in
any form, customString), a message's page with its timeline (never an OTP code, no text
after the retention), the overview's and an account's charts of SMS sent, delivered and
failed, and the queue tile that counts scheduled messages apart."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from senderid.clock import iso_ms
from senderid.delivery.providers.base import PermanentError, TransientError
from senderid.delivery.worker import Worker
from senderid.domain import outbox, overview
from senderid.domain.context import Context
from senderid.domain.outbox import retention
from tests.support.console_support import csrf_of
from tests.support.fake_providers import ScriptedProvider
from tests.support.gateway import CONTACT, own_number, post
from tests.support.helpers import latest_code

OTHER = "+61491570158"
THEIRS = "+61491570159"  # the other account's own number
TEXT = "Your table for two is booked for 7 pm"


@pytest.fixture
def sender(app_client: TestClient, no_otp_customer):
    own_number(app_client, no_otp_customer)
    return no_otp_customer


def send(client: TestClient, who: Any, **body: object) -> str:
    status, answer, [message_id] = post(client, who.headers, **{"message": TEXT, "contacts": [CONTACT], **body})
    assert status == 200, answer
    return message_id


def work(ctx: Context, *script: BaseException | None) -> None:
    """One worker pass through a provider that answers with ``script`` (then accepts)."""
    Worker(ctx.db, ctx.settings, ScriptedProvider(script), ctx.clock, name="w").run_once()


def receipt(ctx: Context, message_id: str, status: str) -> None:
    with ctx.db.write() as conn:
        assert outbox.record_receipt(conn, provider="fake", provider_message_id=f"fake-{message_id}",
                                     status=status, now=ctx.clock.now())


def listed(console: TestClient, expected_status: int = 200, **query: str) -> list[str]:
    """The ids of the messages the list shows for ``query``, in its order."""
    r = console.get("/console/messages", params=query)
    assert r.status_code == expected_status, r.text
    rows = re.findall(r'<tr id="m-([0-9a-f]{24})">\s*<td data-label="MessageId"><a href="/console/messages/\1"',
                      r.text)
    assert len(rows) == r.text.count('<tr id="m-')  # every row's id links to its page
    return rows


# -- the search ----------------------------------------------------------------------------


def test_search_by_message_id_number_and_custom_string(
        console: TestClient, app_client: TestClient, sender, ctx: Context, clock) -> None:
    spring = send(app_client, sender, customString="spring-sale")
    clock.advance(10)
    autumn = send(app_client, sender, contacts=[OTHER], customString="autumn-sale")
    clock.advance(10)
    plain = send(app_client, sender)
    everything = listed(console)
    assert everything[:3] == [plain, autumn, spring]  # newest first

    for form in ("+61491570157", "61491570157", "0491570157", "0491 570 157", "491570157"):
        assert listed(console, to=form) == [plain, spring], form
    assert listed(console, to="0491 570 158") == [autumn]
    assert listed(console, custom_string="spring-sale") == [spring]
    assert listed(console, custom_string="spring") == []  # exact, as the API's filter
    assert listed(console, message_id=autumn) == [autumn]
    assert listed(console, message_id=autumn.upper()) == [autumn]
    assert listed(console, to="0491570157", custom_string="autumn-sale") == []  # filters combine
    assert listed(console, to="0491570157", account_id=sender.account.id, status="queued") == [plain, spring]

    page = console.get("/console/messages", params={"to": "0491 570 157"})
    assert 'value="0491 570 157"' in page.text  # the form keeps what was typed


@pytest.mark.parametrize(("query", "error"), [
    ({"message_id": "nope"}, "MessageId &#39;nope&#39; is not a message id: 24 hex digits"),
    ({"to": "12345"}, "&#39;12345&#39; is not a mobile number"),
    ({"to": "02 9876 5432"}, "is not a mobile number"),  # a landline: no SMS goes there
])
def test_a_search_that_cannot_match_says_why(console: TestClient, app_client: TestClient, sender,
                                             query: dict[str, str], error: str) -> None:
    send(app_client, sender)
    assert listed(console, 400, **query) == []
    assert error in console.get("/console/messages", params=query).text


# -- a message's page ----------------------------------------------------------------------


def message_page(console: TestClient, message_id: str) -> str:
    r = console.get(f"/console/messages/{message_id}")
    assert r.status_code == 200, r.text
    return r.text


def timeline(html: str) -> list[tuple[str, ...]]:
    """(status, attempt, provider, detail) of each row of the page's timeline."""
    body = html.split('aria-labelledby="timeline"', 1)[1].split("</table>", 1)[0]
    rows = []
    for row in re.findall(r"<tr>\s*<td data-label=\"When\">(.*?)</tr>", body, re.S):
        cells = re.findall(r'<td data-label="[^"]+"[^>]*>(.*?)</td>', "<td data-label=\"When\">" + row, re.S)
        rows.append(tuple(re.sub(r"<[^>]+>", "", c).strip() for c in cells))
    return rows


def test_a_message_page_shows_its_timeline(console: TestClient, app_client: TestClient, sender, ctx, clock) -> None:
    message_id = send(app_client, sender, customString="spring-sale")
    clock.advance(2)
    work(ctx, TransientError("HTTP 503"))
    clock.advance(3600)
    work(ctx)
    clock.advance(5)
    receipt(ctx, message_id, "delivered")

    html = message_page(console, message_id)
    rows = timeline(html)
    assert [row[:4] for row in rows] == [
        ("2026-01-01 00:00:00 UTC", "queued", "", ""),
        ("2026-01-01 00:00:02 UTC", "queued", "1", "fake"),
        ("2026-01-01 01:00:02 UTC", "sent", "2", "fake"),
        ("2026-01-01 01:00:07 UTC", "delivered", "", "fake"),
    ]
    assert rows[1][4].startswith("HTTP 503; next try at ")
    assert [row[4] for row in rows[2:]] == [f"provider message id fake-{message_id}", "delivery receipt"]
    facts = html.split('id="message-facts"', 1)[1].split("</dl>", 1)[0]
    assert '<span class="badge badge-delivered">delivered</span>' in html.split("</h1>", 1)[0]
    assert TEXT in facts and "spring-sale" in facts and sender.account.name in facts
    assert "2026-01-01 01:00:07 UTC" in facts  # delivered
    assert "Retry this message" not in html

    assert f'href="/console/messages/{message_id}"' in console.get("/console/messages").text


def test_a_failed_message_can_be_retried_from_its_page(
        console: TestClient, app_client: TestClient, sender, ctx) -> None:
    message_id = send(app_client, sender)
    work(ctx, PermanentError("number barred"))
    html = message_page(console, message_id)
    assert timeline(html)[-1][1:] == ("failed", "1", "fake", "number barred")
    r = console.post(f"/console/messages/{message_id}/retry", data={"csrf": csrf_of(html), "back": "message"},
                     follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/console/messages/{message_id}?done=retried"
    assert timeline(message_page(console, message_id))[-1][1:] == (
        "queued", "", "", "retried by an operator (was failed)")


def test_an_otp_message_never_shows_its_code(console: TestClient, app_client: TestClient, customer, ctx) -> None:
    r = app_client.post("/api/v1/customNumber/add", json={"name": "Support", "number": "0491 570 156"},
                        headers=customer.headers)
    assert r.json()["status"] is True, r.text
    [otp_message] = outbox.list_messages(ctx)
    queued = message_page(console, otp_message.id)  # while the code is still in the body, to be sent
    code = latest_code(ctx, "+61491570156")  # delivers it
    sent = message_page(console, otp_message.id)
    for html in (queued, sent):
        assert code not in html
        assert "******" in html and "the code is never shown" in html
    assert [row[1] for row in timeline(sent)] == ["queued", "sent"]


def test_the_text_is_gone_after_the_retention(console: TestClient, app_client: TestClient, sender, ctx, clock) -> None:
    message_id = send(app_client, sender)
    work(ctx)
    assert TEXT in message_page(console, message_id)
    with ctx.db.write() as conn:  # as the retention sweep does, once the days have passed
        assert retention.blank_ended(conn, cutoff=clock.now() + timedelta(days=1), start=None, limit=10) == 1
    html = message_page(console, message_id)
    assert TEXT not in html and "no longer kept" in html
    assert [row[1] for row in timeline(html)] == ["queued", "sent"]  # the history stays


def test_an_unknown_message_is_a_404_page(console: TestClient) -> None:
    r = console.get(f"/console/messages/{'0' * 24}")
    assert r.status_code == 404 and f"No outbox message with id {'0' * 24}" in r.text
    assert console.get("/console/messages/not-an-id").status_code == 404


# -- the charts ----------------------------------------------------------------------------


def chart(html: str, key: str) -> dict[str, tuple[int, int, int]]:
    """The chart's numbers (its table): start -> (sent, delivered, failed), only the non-zero."""
    figure = html.split(f'id="chart-{key}"', 1)[1].split("</figure>", 1)[0]
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td></tr>', figure)
    assert len(rows) == (24 if key.endswith("hours") else 7)
    return {start: (int(s), int(d), int(f)) for start, s, d, f in rows if (s, d, f) != ("0", "0", "0")}


def test_the_charts_count_per_hour_and_per_day(
        request: pytest.FixtureRequest, app_client: TestClient, sender, make_customer, ctx, clock) -> None:
    other = make_customer("Other", otp_required=False)
    r = app_client.post("/api/v1/customNumber/add", json={"name": "own", "number": THEIRS}, headers=other.headers)
    assert r.json()["status"] is True, r.text
    old = send(app_client, sender)  # 2026-01-01 00:00: sent, delivered 10 minutes later
    work(ctx)
    clock.advance(minutes=10)
    receipt(ctx, old, "delivered")
    clock.advance(days=2, hours=5, minutes=20)  # 2026-01-03 05:30
    send(app_client, sender)
    send(app_client, sender, contacts=[OTHER])
    send(app_client, other, sender=THEIRS)
    work(ctx, None, PermanentError("number barred"), None)  # sent, failed, sent
    clock.advance(hours=1)
    scheduled = send(app_client, sender, scheduleAt=iso_ms(clock.now() + timedelta(days=7)))  # in no bar
    clock.advance(hours=2, minutes=45)  # now 2026-01-03 09:15
    assert scheduled
    console = request.getfixturevalue("console")  # signed in now: a session lasts hours, not days

    home = console.get("/console")
    assert chart(home.text, "all-hours") == {"2026-01-03 05:00": (2, 0, 1)}
    assert chart(home.text, "all-days") == {"2026-01-01": (1, 1, 0), "2026-01-03": (2, 0, 1)}
    assert re.search(r"Per hour, last 24 hours: 2 sent, 0 delivered, 1 failed", home.text)
    hours = home.text.split('id="chart-all-hours"', 1)[1]
    assert re.search(r"<th scope=\"row\">2026-01-02 10:00</th>", hours)  # the first of the 24 hours
    assert "<svg" in hours.split("</figure>", 1)[0]

    mine = console.get(f"/console/accounts/{sender.account.id}")
    assert chart(mine.text, "account-hours") == {"2026-01-03 05:00": (1, 0, 1)}
    assert chart(mine.text, "account-days") == {"2026-01-01": (1, 1, 0), "2026-01-03": (1, 0, 1)}
    theirs = console.get(f"/console/accounts/{other.account.id}")
    assert chart(theirs.text, "account-hours") == {"2026-01-03 05:00": (1, 0, 0)}


def test_a_receipt_that_says_undelivered_is_a_failure_and_the_reads_are_two(
        app_client: TestClient, sender, ctx, clock) -> None:
    message_id = send(app_client, sender)
    work(ctx)
    receipt(ctx, message_id, "failed")
    with ctx.db.count() as counts:
        activity = overview.activity(ctx, sender.account.id)
    assert (counts.total, counts.reads) == (2, 1)  # one grouped read per chart, in one read block
    assert (activity.hours[-1].sent, activity.hours[-1].delivered, activity.hours[-1].failed) == (1, 0, 1)
    assert [b.start for b in activity.days][-1] == clock.now().replace(hour=0, minute=0, second=0, microsecond=0)


# -- the queue tile ------------------------------------------------------------------------


def queue_tile(html: str) -> str:
    tile = html.split('id="queue">', 1)[1].split("</section>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", tile)).strip()


def test_scheduled_messages_are_counted_apart_from_waiting_ones(
        console: TestClient, app_client: TestClient, sender, clock) -> None:
    for _ in range(10):
        send(app_client, sender, scheduleAt=iso_ms(clock.now() + timedelta(days=7)))  # next week
    clock.advance(minutes=5)
    assert queue_tile(console.get("/console").text).startswith(
        "Queue Waiting 0 Scheduled 10 Nothing waiting.")
    send(app_client, sender)
    clock.advance(seconds=90)
    assert queue_tile(console.get("/console").text).startswith(
        "Queue Waiting 1 Scheduled 10 Oldest waiting since 2026-01-01 00:05:00 UTC (1 min ago).")
