"""The developer inbox: each SMS with its message id, pages instead of a silent cap, and a
filter by number, in /dev/inbox.json and on /dev/inbox; on both databases."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import insert

from senderid import ids
from senderid.delivery.providers import devinbox
from senderid.domain.context import Context
from senderid.store.tables import dev_inbox

FIRST, SECOND = "+61491570156", "+61491570157"
LOOPBACK = ("127.0.0.1", 50000)


def _fill(ctx: Context, count: int) -> list[str]:
    """``count`` SMS, alternately to FIRST and SECOND, oldest first: their message ids."""
    made = [ids.new_id() for _ in range(count)]
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        conn.execute(insert(dev_inbox), [
            {"message_id": message_id, "to_number": FIRST if i % 2 == 0 else SECOND, "sender": "senderid",
             "body": f"SMS number {i}", "created_at": now + timedelta(seconds=i)}
            for i, message_id in enumerate(made)
        ])
    return made


def _client(ctx: Context) -> TestClient:
    from senderid.api.app import create_app

    return TestClient(create_app(ctx.settings, context=ctx, run_worker=False), client=LOOPBACK)


def _next(link: str | None) -> str | None:
    if link is None:
        return None
    found = re.fullmatch(r'<(/dev/inbox\.json\?[^>]+)>; rel="next"', link)
    assert found, link
    return found.group(1)


def test_the_json_pages_through_every_sms_with_its_id(ctx: Context) -> None:
    made = _fill(ctx, 2 * devinbox.PAGE + 7)  # more than the old cap of 200 would show in 4 pages of 50
    seen: list[str] = []
    url: str | None = "/dev/inbox.json"
    with _client(ctx) as client:
        while url is not None:
            r = client.get(url)
            assert r.status_code == 200
            page = r.json()
            assert 0 < len(page) <= devinbox.PAGE
            seen.extend(m["id"] for m in page)
            url = _next(r.headers.get("link"))
    assert seen == made[::-1]  # newest first, each once, none left out


def test_more_than_the_old_cap_is_reachable(ctx: Context) -> None:
    made = _fill(ctx, 230)
    with _client(ctx) as client:
        r = client.get("/dev/inbox.json", params={"limit": 500})
        assert [m["id"] for m in r.json()] == made[::-1] and "link" not in r.headers


def test_the_filter_keeps_one_numbers_sms(ctx: Context) -> None:
    _fill(ctx, 20)
    with _client(ctx) as client:
        for given in ("0491 570 156", FIRST, "61491570156"):
            found = client.get("/dev/inbox.json", params={"to": given}).json()
            assert len(found) == 10 and {m["to"] for m in found} == {FIRST}, given
        digits = client.get("/dev/inbox.json", params={"to": "0157"}).json()
        assert len(digits) == 10 and {m["to"] for m in digits} == {SECOND}
        paged = client.get("/dev/inbox.json", params={"to": FIRST, "limit": 4})
        assert _next(paged.headers["link"]).startswith("/dev/inbox.json?to=%2B61491570156&before=")
        assert client.get("/dev/inbox.json", params={"to": "+61491570999"}).json() == []


def test_the_page_shows_ids_a_filter_and_a_link_to_older_sms(ctx: Context) -> None:
    made = _fill(ctx, devinbox.PAGE + 3)
    with _client(ctx) as client:
        first = client.get("/dev/inbox").text
        assert made[-1] in first and made[3] in first and made[2] not in first
        older = re.search(r'id="inbox-older" href="([^"]+)" rel="next">', first)
        assert older, first
        second = client.get(older.group(1).replace("&amp;", "&")).text
        assert all(m in second for m in made[:3]) and made[3] not in second
        assert re.search(r'id="inbox-older" href="" rel="next" hidden>', second)

        filtered = client.get("/dev/inbox", params={"to": "0491570157"}).text
        assert 'value="0491570157"' in filtered
        assert made[1] in filtered and made[0] not in filtered
        assert "No SMS to 0491570000." in client.get("/dev/inbox", params={"to": "0491570000"}).text
