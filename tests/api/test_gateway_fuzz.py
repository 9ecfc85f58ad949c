"""Every field of POST /api/v1/gateway, fuzzed one at a time: never a 5xx, always the contract's body.

Each field of the gateway's request schema (and each key of a ``longUrl`` item) gets
arbitrary JSON values, arbitrary strings and values close to valid ones (times at the
edges of the calendar with odd offsets, digits of every script, URLs with stray brackets)
in an otherwise valid request. The answer is a 200 envelope, the documented contacts 400,
or an error envelope; a 400 in the envelope names the field it refuses.

The run is bounded and derandomised (the same examples on every run); raise
SENDERID_GATEWAY_FUZZ_EXAMPLES for a longer campaign.
"""

from __future__ import annotations

import json
import os
import string
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from senderid.api.routes.gateway import SendSms
from tests.support.gateway import CONTACT, CONTACTS_400, ENVELOPE, GATEWAY

EXAMPLES = int(os.environ.get("SENDERID_GATEWAY_FUZZ_EXAMPLES", "120"))
SHORT = "goo"
BASE_BODY: dict[str, Any] = {"message": f"Hi gosite.au/{SHORT}", "contacts": [CONTACT]}
ENVELOPE_KEYS = set(ENVELOPE) | {"show_message", "status", "message", "data", "error"}
GATEWAY_SCHEMA = SendSms.json_schema()

# -- values ---------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
# Digits of every script: str.isdigit() says yes to "²" and "٣", int() to some of them.
digits = st.one_of(
    st.text(st.sampled_from(string.digits + "²³¹⁰①٣۳߃০０"), min_size=1, max_size=20),
    st.text(st.characters(categories=("Nd", "No")), min_size=1, max_size=20),
)
offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda m: f"{'-' if m < 0 else '+'}{abs(m) // 60:02}:{abs(m) % 60:02}")
# The calendar's edges: an offset can carry them out of what UTC can hold.
edges = st.sampled_from([datetime.min, datetime.max]).flatmap(
    lambda edge: st.integers(min_value=0, max_value=47).map(
        lambda h: edge + timedelta(hours=h) if edge == datetime.min else edge - timedelta(hours=h)))
calendar = st.datetimes(min_value=datetime.min, max_value=datetime.max) | edges
times = st.one_of(
    st.tuples(calendar, offsets).map(lambda t: t[0].isoformat() + t[1]),
    calendar.map(lambda d: d.isoformat() + "Z"),
    calendar.map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S").rjust(19, "0")),
    st.tuples(digits, digits, digits).map(lambda t: f"{t[0]}-{t[1]}-{t[2]} 00:00:00"),
    st.datetimes(min_value=datetime(2025, 12, 30), max_value=datetime(2027, 1, 3)).map(datetime.isoformat),
)
url_chars = st.sampled_from(list("[]:@%/?#.-_~!$&'()*+,;=") + list("az09") + ["\u3000", "\u00a0", "\u202e", "\\"])
urls = st.tuples(st.sampled_from(["https://", "http://", "HTTP://", "", "//", "https:"]),
                 st.text(url_chars, max_size=24)).map("".join)


def link(long_url: object = "example.com", short_url: object = SHORT) -> list[dict[str, object]]:
    return [{"longUrl": long_url, "shortUrl": short_url}]


def anything(*near: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(json_values, st.text(), *near)


# Each field of the request schema: the request it is fuzzed in (the base body with the field set).
FIELDS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "message": anything(st.text(st.characters(codec="utf-8"), max_size=2000)).map(lambda v: {"message": v}),
    "contacts": anything(st.lists(anything(digits, st.from_regex(r"\A\+?61 ?4[0-9 ]{8,9}\Z")), max_size=4)).map(
        lambda v: {"contacts": v}
    ),
    "sender": anything(digits, st.sampled_from(["#SharedNum#", "#sharednum#", "", " "])).map(lambda v: {"sender": v}),
    "countryCode": anything(digits, st.sampled_from([61, "61", "+61", 61.0, "٦١"])).map(lambda v: {"countryCode": v}),
    "scheduleAt": anything(times).map(lambda v: {"scheduleAt": v}),
    "delay": anything(digits, st.integers(min_value=-(2**70), max_value=2**70), digits.map(lambda d: f" {d} ")).map(
        lambda v: {"delay": v}
    ),
    "replyStopToOptOut": anything().map(lambda v: {"replyStopToOptOut": v}),
    "optout": anything().map(lambda v: {"optout": v}),
    "optoutId": anything().map(lambda v: {"optoutId": v}),
    "longUrl": anything(
        st.lists(st.dictionaries(st.sampled_from(["longUrl", "shortUrl"]), json_values), max_size=3)
    ).map(lambda v: {"longUrl": v}),
    "longUrl.longUrl": anything(urls).map(lambda v: {"longUrl": link(long_url=v)}),
    "longUrl.shortUrl": anything(
        st.sampled_from([SHORT, SHORT.upper()]), st.text(string.ascii_letters + "٣²-", max_size=40)
    ).map(lambda v: {"longUrl": link(short_url=v)}),
    "customString": anything(st.text(string.ascii_letters + string.digits + "-_ ²٣", max_size=80)).map(
        lambda v: {"customString": v}
    ),
}


def test_every_field_of_the_schema_is_fuzzed() -> None:
    schema_fields = set(GATEWAY_SCHEMA["properties"])
    link_fields = {f"longUrl.{k}" for k in GATEWAY_SCHEMA["properties"]["longUrl"]["items"]["properties"]}
    assert set(FIELDS) == schema_fields | link_fields


# -- the answers -----------------------------------------------------------------------------


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"short_link_base": "https://sms.example.com/s"}  # so that longUrl is read, not refused outright


def check_answer(field: str, status: int, body: Any) -> None:
    assert status < 500, body
    if (status, body) == (400, CONTACTS_400):
        assert field == "contacts"
        return
    assert isinstance(body, dict) and set(body) == ENVELOPE_KEYS, body
    assert {k: body[k] for k in ENVELOPE} == ENVELOPE
    if status == 200:
        assert (body["status"], body["message"], body["error"]) == (True, "Request is being processed", {})
        return
    assert status in (400, 403, 429), (status, body)
    message = body["message"]
    assert (body["status"], body["show_message"], body["data"], body["error"]) == (
        False, 1, {}, {"error": message}), body
    assert isinstance(message, str) and message.isprintable()
    if status == 400:  # the only field not as in the base body is the one refused
        assert field.split(".")[0].lower() in message.lower(), (field, message)


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_any_value_of_a_field_gets_a_contract_answer(app_client: TestClient, customer, clock, field: str) -> None:
    answers: set[int] = set()

    @given(fields=FIELDS[field])
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(fields: dict[str, Any]) -> None:
        clock.advance(seconds=61)  # the per-minute send limit does not hide the field's checks
        request = {**BASE_BODY, **fields}
        r = app_client.post(GATEWAY, content=json.dumps(request), headers={
            **customer.headers, "Content-Type": "application/json"})
        check_answer(field, r.status_code, r.json())
        answers.add(r.status_code)

    run()
    assert 200 in answers and answers & {400, 403}, answers  # both the sending and the refusing paths ran
