"""The gateway's ``longUrl``: a short link per message under SENDERID_SHORT_LINK_BASE, redirects, clicks."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from senderid.domain import short_links
from tests.support.gateway import CONTACT, ok, post, refused, sent, sms_rows
from tests.support.helpers import deliver_all

BASE = "https://sms.example.com/s"
LINK = re.compile(re.escape(BASE) + r"/([A-Za-z0-9]{8})")
QUEUED = "Request is being processed"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"short_link_base": BASE + "/"}


def test_each_message_gets_its_own_link(app_client: TestClient, customer, ctx) -> None:
    text = "Sale! Visit gosite.au/goo or https://gosite.au/map now"
    status, body, ids = post(app_client, customer.headers, message=text, contacts=[CONTACT, "0491570158"],
                             longUrl=[{"longUrl": "www.example.com/sale?x=1", "shortUrl": "goo"},
                                      {"longUrl": "http://maps.example.com", "shortUrl": "map"}])
    assert (status, body) == (200, ok(QUEUED, sent([("491570157", CONTACT), ("491570158", "0491570158")])))
    bodies = {r.id: r.body for r in sms_rows(ctx)}
    codes = {}
    for message_id in ids:
        found = LINK.findall(bodies[message_id])
        assert bodies[message_id] == f"Sale! Visit {BASE}/{found[0]} or {BASE}/{found[1]} now"
        codes[message_id] = found
    assert len({c for found in codes.values() for c in found}) == 4  # a code per message and link
    goo = codes[ids[0]][0]
    for _ in range(2):
        r = app_client.get(f"/s/{goo}", follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (302, "https://www.example.com/sale?x=1")
    r = app_client.get(f"/s/{codes[ids[1]][1]}", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (302, "http://maps.example.com")
    assert {link["code"]: (link["long_url"], link["clicks"]) for link in short_links.of_message(ctx, ids[0])} == {
        goo: ("https://www.example.com/sale?x=1", 2), codes[ids[0]][1]: ("http://maps.example.com", 0)}
    r = app_client.get("/s/zzzzzzzz", follow_redirects=False)
    assert (r.status_code, r.json()) == (404, refused("No such link"))
    deliver_all(ctx)


def test_parts_count_the_link_as_sent(app_client: TestClient, customer) -> None:
    # 130 + the link (33 characters once replaced) > 160: two parts, though the text as given is one
    text = "a" * 130 + " gosite.au/goo"
    status, body, _ = post(app_client, customer.headers, message=text, contacts=[CONTACT],
                           longUrl=[{"longUrl": "example.com", "shortUrl": "goo"}])
    assert (status, body) == (200, ok(QUEUED, sent([("491570157", CONTACT)], parts=2)))


@pytest.mark.parametrize("links,message", [
    ([{"longUrl": "example.com", "shortUrl": "go"}], "longUrl: each shortUrl must be 3 to 32 letters or digits"),
    ([{"longUrl": "example.com", "shortUrl": "g-o"}], "longUrl: each shortUrl must be 3 to 32 letters or digits"),
    ([{"longUrl": "example.com", "shortUrl": "abc"}], "longUrl: the message does not contain gosite.au/abc"),
    ([{"longUrl": "example.com", "shortUrl": "goo"}, {"longUrl": "example.org", "shortUrl": "goo"}],
     "longUrl: shortUrl 'goo' is given twice"),
    ([{"longUrl": "", "shortUrl": "goo"}], "longUrl: each longUrl must be a URL of at most 2000 characters"),
    ([{"longUrl": "ftp://example.com", "shortUrl": "goo"}], "longUrl: each longUrl must be an http(s) web address"),
    ([{"longUrl": "javascript:alert(1)", "shortUrl": "goo"}], "longUrl: each longUrl must be an http(s) web address"),
    ([{"longUrl": "https://[::1", "shortUrl": "goo"}], "longUrl: each longUrl must be an http(s) web address"),
    ("example.com", 'longUrl must be a list of at most 10 {"longUrl": ..., "shortUrl": ...}'),
    (["example.com"], 'longUrl must be a list of {"longUrl": ..., "shortUrl": ...}'),
])
def test_bad_links_are_refused(app_client: TestClient, customer, ctx, links: Any, message: str) -> None:
    status, body, _ = post(app_client, customer.headers, message="See gosite.au/goo", contacts=[CONTACT],
                           longUrl=links)
    assert (status, body) == (400, refused(message))
    assert sms_rows(ctx) == []


@pytest.mark.parametrize("settings_overrides", [{}])
def test_without_a_base_links_are_refused(app_client: TestClient, customer, ctx) -> None:
    status, body, _ = post(app_client, customer.headers, message="See gosite.au/goo", contacts=[CONTACT],
                           longUrl=[{"longUrl": "example.com", "shortUrl": "goo"}])
    assert (status, body) == (400, refused(
        "longUrl: short links are not enabled on this server (SENDERID_SHORT_LINK_BASE is not set)"))
    assert sms_rows(ctx) == []
