"""The gateway's documented fields (SPEC §6.1), each honoured or refused naming it, bodies compared whole.

Scheduling runs on the FrozenClock: nothing is handed to the provider before the due
time, everything is once the clock passes it. One test on the real clock and a real
server checks the same over a couple of seconds.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from senderid.api.app import create_app
from senderid.clock import Clock
from senderid.delivery.providers.devinbox import list_messages
from senderid.domain import gateway_fields
from senderid.domain.context import Context
from senderid.errors import InvalidRequest
from tests.support.gateway import (
    CONTACT,
    CONTACTS_400,
    GATEWAY,
    OWN,
    ok,
    own_number,
    post,
    refused,
    sent,
    sms_rows,
)
from tests.support.helpers import deliver_all
from tests.support.live import serve

QUEUED = "Request is being processed"


def delivered(ctx: Context, body: str | None = None) -> list[dict[str, Any]]:
    deliver_all(ctx)
    return [m for m in list_messages(ctx.db) if body is None or m["body"] == body]


# -- contacts: the documented 400 -------------------------------------------------------


@pytest.mark.parametrize("contacts", [None, [], ["nope"], ["0298765432", "12"]])
def test_no_valid_contacts_is_the_documented_400(app_client: TestClient, customer, ctx, contacts: Any) -> None:
    body: dict[str, Any] = {"message": "Hello"}
    if contacts is not None:
        body["contacts"] = contacts
    r = app_client.post(GATEWAY, json=body, headers=customer.headers)
    assert (r.status_code, r.json()) == (400, CONTACTS_400)
    assert sms_rows(ctx) == []


# -- #SharedNum# --------------------------------------------------------------------------


@pytest.mark.parametrize("sender", ["#SharedNum#", "#sharednum#", "#SHAREDNUM#", " #sharedNum# "])
def test_shared_number_in_any_case(app_client: TestClient, customer, ctx, sender: str) -> None:
    status, body, _ = post(app_client, customer.headers, message="Shared", contacts=[CONTACT], sender=sender)
    assert (status, body) == (200, ok(QUEUED, sent([("491570157", CONTACT)])))
    assert [m["sender"] for m in delivered(ctx, "Shared")] == ["senderid"]  # the provider's default


# -- custom fields and customString ---------------------------------------------------------


@pytest.mark.parametrize("text", ["Hi {{[First Name]}}, welcome", "{{[Address]}}", "a {{ [x] }} b"])
def test_custom_fields_are_refused(app_client: TestClient, customer, ctx, text: str) -> None:
    field = text[text.index("{{"):text.index("}}") + 2]
    status, body, _ = post(app_client, customer.headers, message=text, contacts=[CONTACT])
    assert (status, body) == (400, refused(
        f"message: custom fields such as {field} are not supported; senderid keeps no contact book to fill "
        "them from, so put the text itself in the message"))
    assert sms_rows(ctx) == []


def test_custom_string_is_kept_with_each_message(app_client: TestClient, customer, ctx) -> None:
    status, body, ids = post(app_client, customer.headers, message="Tagged", contacts=[CONTACT, "0491570158"],
                             customString="zoho-CRM-2")
    assert (status, body) == (200, ok(QUEUED, sent([("491570157", CONTACT), ("491570158", "0491570158")])))
    assert {r.id: r.custom_string for r in sms_rows(ctx)} == {i: "zoho-CRM-2" for i in ids}


@pytest.mark.parametrize("value", ["with space", "under_score", "x" * 65, 12, ["a"], "zoho!"])
def test_a_bad_custom_string_is_refused(app_client: TestClient, customer, ctx, value: Any) -> None:
    status, body, _ = post(app_client, customer.headers, message="x", contacts=[CONTACT], customString=value)
    assert (status, body) == (400, refused("customString may hold only letters, digits and dashes (at most 64)"))
    assert sms_rows(ctx) == []


def test_country_code_61_only(app_client: TestClient, customer, ctx) -> None:
    status, _, _ = post(app_client, customer.headers, message="x", contacts=[CONTACT], countryCode=61)
    assert status == 200
    status, body, _ = post(app_client, customer.headers, message="x", contacts=[CONTACT], countryCode=64)
    assert (status, body) == (400, refused("countryCode: the only allowed value is 61"))
    assert len(sms_rows(ctx)) == 1


@pytest.mark.parametrize("value", [10**5000, True, 61.0, "sixty-one", [61]],
                         ids=["5000-digit-int", "true", "float", "text", "list"])
def test_country_code_of_any_type_but_61_is_refused(value: object) -> None:
    """Read without turning the value into text first (an int of 5,000 digits cannot be)."""
    with pytest.raises(InvalidRequest) as refusal:
        gateway_fields.parse({"countryCode": value}, message="x", now=datetime(2026, 1, 1, tzinfo=UTC),
                             list_id="x", short_link_base=None)
    assert refusal.value.message == "countryCode: the only allowed value is 61"


# -- scheduleAt and delay ----------------------------------------------------------------------


@pytest.mark.parametrize("field,value,due", [
    ("scheduleAt", "2026-01-01T02:30:00.981Z", "2026-01-01T02:30:00.981Z"),
    ("scheduleAt", "2026-01-01 02:30:00", "2026-01-01T02:30:00.000Z"),
    ("scheduleAt", "2026-01-01T12:30:00+10:00", "2026-01-01T02:30:00.000Z"),
    ("delay", 60_000, "2026-01-01T00:01:00.000Z"),
    ("delay", 86_400_000, "2026-01-02T00:00:00.000Z"),
])
def test_a_scheduled_message_waits_for_its_time(app_client: TestClient, no_otp_customer, ctx, clock,
                                                field: str, value: object, due: str) -> None:
    own_number(app_client, no_otp_customer)
    status, body, [message_id] = post(app_client, no_otp_customer.headers, message="Later", contacts=[CONTACT],
                                      sender=OWN, **{field: value})
    assert (status, body) == (200, ok(QUEUED, sent([("491570157", CONTACT)], scheduledAt=due)))
    start = clock.now()
    wait = {"delay": timedelta(milliseconds=value) if isinstance(value, int) else None}.get(field)
    wait = wait or timedelta(hours=2, minutes=30, seconds=0.981 if ".981" in due else 0)
    clock.advance(seconds=wait.total_seconds() - 0.002)
    assert delivered(ctx, "Later") == []  # a moment before: still waiting
    clock.advance(seconds=0.002)
    assert clock.now() - start == wait
    assert [(m["to"], m["sender"]) for m in delivered(ctx, "Later")] == [(CONTACT, OWN)]


def test_messages_sent_now_are_not_held_behind_scheduled_ones(app_client: TestClient, customer, ctx) -> None:
    post(app_client, customer.headers, message="Later", contacts=[CONTACT], delay=5000)
    post(app_client, customer.headers, message="Now", contacts=[CONTACT])
    assert [m["body"] for m in delivered(ctx)] == ["Now"]


@pytest.mark.parametrize("body,message", [
    ({"scheduleAt": "2025-12-31T23:59:59Z"},
     "scheduleAt is in the past: give a future time (UTC), or leave it out to send now"),
    ({"scheduleAt": "2026-01-01 00:00:00"},
     "scheduleAt is in the past: give a future time (UTC), or leave it out to send now"),
    ({"scheduleAt": "tomorrow"},
     "scheduleAt 'tomorrow' is not a time: use ISO-8601 UTC such as 2024-08-14T14:58:00.981Z or Y-m-d H:i:s "
     "such as 2024-08-14 14:58:00 (UTC)"),
    ({"scheduleAt": 1767225600},
     "scheduleAt must be a string such as 2024-08-14T14:58:00.981Z or 2024-08-14 14:58:00 (UTC)"),
    ({"scheduleAt": "2028-01-01T00:00:00Z"}, "scheduleAt is more than a year ahead"),
    # The calendar's edges, carried by the offset beyond what UTC can hold.
    ({"scheduleAt": "0001-01-01T00:00:00+01:00"},
     "scheduleAt is in the past: give a future time (UTC), or leave it out to send now"),
    ({"scheduleAt": "9999-12-31T23:59:59-01:00"}, "scheduleAt is more than a year ahead"),
    ({"scheduleAt": "2026-01-02T00:00:00Z", "delay": 1000}, "scheduleAt and delay cannot both be given: choose one"),
    ({"delay": 0}, "delay must be a whole number of milliseconds from 1 to 86,400,000 (24 hours)"),
    ({"delay": 86_400_001}, "delay must be a whole number of milliseconds from 1 to 86,400,000 (24 hours)"),
    ({"delay": -5}, "delay must be a whole number of milliseconds from 1 to 86,400,000 (24 hours)"),
    ({"delay": 1.5}, "delay must be a whole number of milliseconds from 1 to 86,400,000 (24 hours)"),
    ({"delay": True}, "delay must be a whole number of milliseconds from 1 to 86,400,000 (24 hours)"),
    ({"delay": "soon"}, "delay must be a whole number of milliseconds from 1 to 86,400,000 (24 hours)"),
    ({"delay": "²"}, "delay must be a whole number of milliseconds from 1 to 86,400,000 (24 hours)"),
    ({"delay": "٦٠٠٠٠"}, "delay must be a whole number of milliseconds from 1 to 86,400,000 (24 hours)"),
    ({"delay": "9" * 5000}, "delay must be a whole number of milliseconds from 1 to 86,400,000 (24 hours)"),
])
def test_bad_schedules_are_refused_naming_the_field(app_client: TestClient, customer, ctx, body: dict[str, Any],
                                                     message: str) -> None:
    status, answer, _ = post(app_client, customer.headers, message="x", contacts=[CONTACT], **body)
    assert (status, answer) == (400, refused(message))
    assert sms_rows(ctx) == []


@pytest.mark.parametrize("blank", [{"scheduleAt": ""}, {"delay": None}, {"scheduleAt": None, "delay": ""}])
def test_blank_schedule_fields_mean_now(app_client: TestClient, customer, ctx, blank: dict[str, Any]) -> None:
    status, body, _ = post(app_client, customer.headers, message="Now", contacts=[CONTACT], **blank)
    assert (status, body) == (200, ok(QUEUED, sent([("491570157", CONTACT)])))
    assert len(delivered(ctx, "Now")) == 1


# -- cancelling ------------------------------------------------------------------------------


def cancel(client: TestClient, headers: dict[str, str], message_id: str) -> tuple[int, dict[str, Any]]:
    r = client.delete(f"{GATEWAY}/messages/{message_id}", headers=headers)
    return r.status_code, r.json()


def test_cancel_a_scheduled_message(app_client: TestClient, customer, make_customer, ctx, clock) -> None:
    _, _, [first, second] = post(app_client, customer.headers, message="Later", contacts=[CONTACT, "0491570158"],
                                 delay=60_000)
    done = ok("Message cancelled", {"MessageId": first, "status": "cancelled",
                                    "scheduledAt": "2026-01-01T00:01:00.000Z"})
    assert cancel(app_client, customer.headers, first) == (200, done)
    assert cancel(app_client, customer.headers, first) == (200, done)  # again: the same answer
    other = make_customer("Other")
    assert cancel(app_client, other.headers, second) == (404, refused(f"No message {second} in your account"))
    assert cancel(app_client, customer.headers, "0" * 24) == (404, refused(f"No message {'0' * 24} in your account"))
    assert cancel(app_client, customer.headers, "nope") == (404, refused("No message nope in your account"))
    clock.advance(seconds=61)
    assert [m["to"] for m in delivered(ctx, "Later")] == ["+61491570158"]
    assert cancel(app_client, customer.headers, second) == (
        409, refused(f"Message {second} can no longer be cancelled: it is sent"))
    assert {r.id: r.status for r in sms_rows(ctx)} == {first: "cancelled", second: "sent"}


def test_cancel_needs_a_key(app_client: TestClient, customer) -> None:
    r = app_client.delete(f"{GATEWAY}/messages/{'0' * 24}")
    assert (r.status_code, r.json()) == (401, {"code": 401, "message": "Authorization token is required",
                                               "stack": "APIError: Authorization token is required"})


@pytest.fixture
def real_time_ctx(settings, db):
    return Context(db=db, settings=settings, clock=Clock(), secret=settings.resolved_secret())


def test_a_delayed_message_on_the_real_clock(real_time_ctx: Context) -> None:
    """A real server with its worker: a 1.5 s delay holds the SMS back that long, no longer than a poll more."""
    from senderid.domain import accounts
    from senderid.domain.types import CLI

    ctx = real_time_ctx
    account = accounts.create_account(ctx, "Realtime", actor=CLI)
    _, key = accounts.create_key(ctx, account.id, actor=CLI)
    app = create_app(ctx.settings, context=ctx, run_worker=True)
    with serve(app, loop="asyncio", ws="none", timeout_graceful_shutdown=5) as base:
        with httpx.Client(base_url=base, timeout=5) as client:
            asked = time.monotonic()
            r = client.post(GATEWAY, json={"message": "Real time", "contacts": [CONTACT], "delay": 1500},
                            headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 200, r.text
            arrived = None
            while time.monotonic() - asked < 6:
                if any(m["body"] == "Real time" for m in client.get("/dev/inbox.json").json()):
                    arrived = time.monotonic() - asked
                    break
                time.sleep(0.05)
    assert arrived is not None, "the delayed SMS never arrived"
    assert 1.5 <= arrived < 1.5 + ctx.settings.worker_poll_seconds + 1.5, arrived
