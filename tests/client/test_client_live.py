"""``senderid.client`` against a real senderid server (uvicorn on a loopback port, the
delivery worker running, SQLite and PostgreSQL), not a fake: every test runs through
``Client`` and through ``AsyncClient``."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from senderid.client import (
    APIConnectionError,
    AsyncClient,
    AuthenticationError,
    Client,
    ConflictError,
    CustomNumber,
    NotFoundError,
    NumberAlreadyExistsError,
    OTPVerificationError,
    RateLimitError,
    ValidationError,
)
from senderid.clock import FrozenClock
from tests.support.env import Customer
from tests.support.live_server import closed_port, codes, inbox, live_server, tls, wait_for_code

__all__ = ["live_server"]  # the fixture, imported for pytest

NUMBER = "+61491570156"  # ACMA's range for fiction and examples
OTHER = "+61491570157"


class Twin:
    """One call through a fresh ``Client`` (``kind="sync"``) or ``AsyncClient``."""

    def __init__(self, kind: str, base_url: str, api_key: str) -> None:
        self.kind, self.base_url, self.api_key = kind, base_url, api_key

    def run(self, op: Callable[[Any], Any], **client_kwargs: Any) -> Any:
        kwargs = {"base_url": self.base_url, "api_key": self.api_key, **client_kwargs}
        if self.kind == "sync":
            with httpx.Client(verify=tls()) as http, Client(http_client=http, **kwargs) as client:
                return op(client)

        async def main() -> Any:
            async with (
                httpx.AsyncClient(verify=tls()) as http,
                AsyncClient(http_client=http, **kwargs) as client,
            ):
                return await op(client)

        return asyncio.run(main())

    def __call__(self, method: str, /, **kwargs: Any) -> Any:
        return self.run(lambda client: getattr(client, method)(**kwargs))


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest, live_server: str, customer: Customer) -> Twin:
    return Twin(str(request.param), live_server, customer.key)


def _register(api: Twin, number: str = NUMBER, name: str = "Support line") -> str:
    """Add ``number`` and verify it with the OTP read from /dev/inbox.json; its code."""
    added = api("add_custom_number", name=name, number=number)
    assert added.otp_sent is True
    code = wait_for_code(api.base_url, number)
    verified = api("verify_custom_number", name=name, number=number, otp=code)
    assert verified.message == "OTP Verified Successfully!"
    return code


def test_verify_token_and_a_bad_key(api: Twin, customer: Customer) -> None:
    info = api("verify_token")
    assert info.token == customer.key
    assert info.envelope["message"] == "Token verified successfully!"

    with pytest.raises(AuthenticationError) as refused:
        api.run(lambda client: client.verify_token(), api_key="sid_not_a_key")
    assert refused.value.status_code == 401
    assert refused.value.envelope == {
        "code": 401,
        "message": "Token expired",
        "stack": "APIError: Token expired",
    }


def test_add_read_the_otp_verify_then_send_as_the_number(api: Twin) -> None:
    added = api("add_custom_number", name="Support line", number="0491 570 156")
    assert (added.otp_sent, added.message) == (True, "OTP sent to your number successfully")
    code = wait_for_code(api.base_url, NUMBER)
    assert len(code) == 6 and code.isdigit()

    verified = api("verify_custom_number", name="Support line", number="0491 570 156", otp=code)
    assert verified.message == "OTP Verified Successfully!"
    assert verified.envelope["status"] is True

    check = api("check_sender", sender="0491 570 156")
    assert (check.allowed, check.kind, check.send_as) == (True, "custom_number", NUMBER)
    sent = api("send_sms", message="Your order is ready", contacts=[OTHER], sender=NUMBER)
    assert sent.total_valid == 1 and sent.queued[0].number == OTHER
    assert len(sent.queued[0].message_id) == 24


def test_the_documented_errors_raise_the_documented_exceptions(
    api: Twin, clock: FrozenClock
) -> None:
    with pytest.raises(ValidationError) as invalid:
        api("add_custom_number", name="Support line", number="not a number")
    assert (invalid.value.status_code, invalid.value.message) == (400, "Mobile number is not valid")
    assert type(invalid.value) is ValidationError

    with pytest.raises(ValidationError) as missing:
        api("add_custom_number", name="", number=NUMBER)
    assert missing.value.error == {"error": "name is not valid"}

    with pytest.raises(ValidationError) as no_name:  # the documented HTTP 200, status false
        api("verify_custom_number", name="", number=NUMBER, otp="123456")
    assert (no_name.value.status_code, no_name.value.message) == (200, "Name is Required")

    api("add_custom_number", name="Support line", number=NUMBER)
    with pytest.raises(RateLimitError) as limited:  # a second add within the cooldown
        api("add_custom_number", name="Support line", number=NUMBER)
    assert limited.value.status_code == 429
    assert limited.value.retry_after is not None and 0 < limited.value.retry_after <= 60

    code = wait_for_code(api.base_url, NUMBER)
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(OTPVerificationError) as failed:
        api("verify_custom_number", name="Support line", number=NUMBER, otp=wrong)
    assert (failed.value.status_code, failed.value.message) == (400, "OTP verification failed")

    api("verify_custom_number", name="Support line", number=NUMBER, otp=code)
    clock.advance(61)
    with pytest.raises(NumberAlreadyExistsError) as exists:  # HTTP 400 with status true
        api("add_custom_number", name="Support line", number=NUMBER)
    assert exists.value.status_code == 400 and exists.value.envelope["status"] is True


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_no_server_is_a_connection_error(kind: str) -> None:
    nobody = Twin(kind, f"http://127.0.0.1:{closed_port()}", "sid_whatever")
    with pytest.raises(APIConnectionError) as failed:
        nobody.run(lambda client: client.verify_token(), max_retries=0)
    assert "Connection error: GET http://127.0.0.1:" in failed.value.message


def test_list_get_resend_delete(api: Twin, clock: FrozenClock) -> None:
    _register(api, NUMBER, "Support line")
    api("add_custom_number", name="Sales", number=OTHER)
    first = wait_for_code(api.base_url, OTHER)

    page = api("list_custom_numbers")
    assert (page.total, page.limit, page.offset, page.next_offset) == (2, 50, 0, None)
    assert {(n.number, n.status) for n in page.items} == {(NUMBER, "active"), (OTHER, "pending")}
    pending = api("list_custom_numbers", status="pending")
    assert [n.number for n in pending.items] == [OTHER] and pending.total == 1
    one = api("list_custom_numbers", limit=1, offset=0)
    assert (len(one.items), one.total, one.next_offset) == (1, 2, 1)

    registration = pending.items[0]
    got = api("get_custom_number", id=registration.id)
    assert isinstance(got, CustomNumber)
    assert (got.id, got.name, got.number, got.status) == (registration.id, "Sales", OTHER, "pending")
    assert got.otp_expires_at is not None and got.created_at is not None
    assert got.verified_at is None and got.ended_at is None
    assert got.envelope["data"]["_id"] == got.id

    with pytest.raises(RateLimitError):  # still within the resend cooldown
        api("resend_otp", id=registration.id)
    clock.advance(61)
    resent = api("resend_otp", id=registration.id)
    assert (resent.id, resent.status) == (registration.id, "pending")
    assert resent.message == "OTP sent to your number successfully"
    fresh = wait_for_code(api.base_url, OTHER, count=2)
    assert codes(api.base_url, OTHER)[1] == first

    deleted = api("delete_custom_number", id=registration.id)
    assert (deleted.status, deleted.ended_at is not None) == ("deleted", True)
    assert api("delete_custom_number", id=registration.id).status == "deleted"  # idempotent
    assert api("get_custom_number", id=registration.id).status == "deleted"
    with pytest.raises(OTPVerificationError):  # a deleted registration verifies nothing
        api("verify_custom_number", name="Sales", number=OTHER, otp=fresh)

    active = api("list_custom_numbers", status="active")
    assert [n.number for n in active.items] == [NUMBER]
    with pytest.raises(ValidationError):
        api("list_custom_numbers", status="nonsense")
    with pytest.raises(NotFoundError):
        api("get_custom_number", id="0" * 24)
    with pytest.raises(ConflictError):  # only a pending registration gets a new code
        api("resend_otp", id=active.items[0].id)


def test_business_names_add_list_get_withdraw(api: Twin) -> None:
    added = api("add_business_name", name="Acme Co", contact="0491 570 158")
    assert (added.businessname, added.status, added.customer_contact) == (
        "Acme Co",
        "REQUESTED",
        "+61491570158",
    )
    assert added.message == "Request added successfully for business name!"
    assert len(added.id) == 24 and added.requested_at is not None and not added.is_deleted

    page = api("list_business_names")
    assert [b.id for b in page.items] == [added.id] and page.total == 1
    assert api("list_business_names", status="approved").total == 0
    assert api("list_business_names", status="REQUESTED").items[0].businessname == "Acme Co"

    got = api("get_business_name", id=added.id)
    assert dataclasses.replace(got, message=added.message) == added  # the same record

    withdrawn = api("withdraw_business_name", id=added.id)
    assert (withdrawn.status, withdrawn.is_deleted) == ("WITHDRAWN", True)
    with pytest.raises(ConflictError):
        api("withdraw_business_name", id=added.id)
    with pytest.raises(NotFoundError):
        api("get_business_name", id="f" * 24)
    with pytest.raises(ValidationError) as refused:
        api("add_business_name", name="Unverified")
    assert refused.value.status_code == 400


def test_send_sms_and_check_sender_with_the_shared_sender(api: Twin) -> None:
    check = api("check_sender", sender="#SharedNum#")
    assert (check.allowed, check.kind) == (True, "shared")

    sent = api("send_sms", message="Hello from the shared number", contacts=[OTHER, "12"])
    assert (sent.total_valid, sent.total_invalid, sent.invalid_contacts) == (1, 1, ("12",))
    assert sent.message == "Request is being processed"
    assert sent.queued[0].contact == "491570157" and sent.queued[0].result

    deadline = time.monotonic() + 10
    while not any(m["to"] == OTHER for m in inbox(api.base_url)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [m["body"] for m in inbox(api.base_url) if m["to"] == OTHER] == [
        "Hello from the shared number"
    ]

    refused = api("check_sender", sender="+61491570159")
    assert (refused.allowed, refused.kind, refused.send_as) == (False, None, None)


def test_the_gateway_fields_opt_outs_and_credit_usage(api: Twin, clock: FrozenClock) -> None:
    from datetime import timedelta

    from senderid.client import CreditUsageLine

    later = clock.now() + timedelta(minutes=5)
    scheduled = api("send_sms", message="Later", contacts=[OTHER], schedule_at=later, custom_string="crm",
                    reply_stop_to_opt_out=True)
    assert (scheduled.total_valid, scheduled.message_parts, scheduled.scheduled_at) == (1, 1, later)
    cancelled = api("cancel_message", id=scheduled.queued[0].message_id)
    assert (cancelled.message_id, cancelled.status, cancelled.scheduled_at) == (
        scheduled.queued[0].message_id, "cancelled", later)
    with pytest.raises(NotFoundError):
        api("cancel_message", id="0" * 24)

    added = api("add_optout", number="0491 570 157")
    assert (added.number, added.source) == (OTHER, "api")
    listed = api("list_optouts")
    assert ([o.number for o in listed.items], listed.total, len(listed.optout_id)) == ([OTHER], 1, 24)
    skipped = api("send_sms", message="Sale", contacts=[OTHER, "0491570158"], optout=True,
                  optout_id=listed.optout_id, delay=1)
    assert (skipped.unsubscribed_contacts, skipped.total_unsubscribed, skipped.total_valid) == ((OTHER,), 1, 1)
    assert api("remove_optout", number=OTHER).number == OTHER
    with pytest.raises(NotFoundError):
        api("remove_optout", number=OTHER)
    with pytest.raises(ValidationError) as refused:
        api("send_sms", message="Hi {{[First Name]}}", contacts=[OTHER])
    assert "custom fields" in refused.value.message
    with pytest.raises(ValidationError) as refused:
        api("send_sms", message="Hi", contacts=["12"])
    assert refused.value.message.startswith("Contacts must either start with 61")

    clock.advance(seconds=1)
    deadline = time.monotonic() + 10
    while not (usage := api("credit_usage")).items and time.monotonic() < deadline:
        time.sleep(0.05)  # the worker records the send a moment after the provider took it
    assert (usage.items, usage.total, usage.page, usage.total_pages, usage.has_next_page) == (
        (CreditUsageLine(custom_string="api", parts=1, credits=1.0),), 1, 1, 1, False)


def test_list_inbound_replies(api: Twin, clock: FrozenClock) -> None:
    sent = api("send_sms", message="Table for two?", contacts=[OTHER])
    message_id = sent.queued[0].message_id
    since = clock.now()
    deadline = time.monotonic() + 10
    while not (page := api("list_inbound")).items and time.monotonic() < deadline:
        # kept once the worker has recorded the SMS as sent (a reply to nothing is not kept)
        r = httpx.post(f"{api.base_url}/dev/inbox/reply", json={"from": "0491570157", "to": "senderid",
                                                                "body": "Yes, 7pm"}, verify=tls())
        assert r.status_code == 200, r.text
        time.sleep(0.02)
    (reply,) = page.items
    assert (reply.from_number, reply.to, reply.body, reply.received_at, reply.reply_to) == (
        OTHER, "senderid", "Yes, 7pm", since, message_id)
    assert (page.total, page.limit, page.offset) == (1, 50, 0)
    assert api("list_inbound", from_number="0491 570 157", since=since).items == (reply,)
    assert api("list_inbound", from_number="+61491570158").total == 0
    walked = (api.run(lambda client: list(client.iter_inbound(limit=1))) if api.kind == "sync"
              else api.run(lambda client: _alist(client.iter_inbound(limit=1))))
    assert walked == [reply]
    assert api("list_inbound", since=since.isoformat(), limit=1, offset=1).items == ()
    with pytest.raises(ValidationError) as refused:
        api("list_inbound", from_number="12")
    assert refused.value.message == "from is not a valid mobile number"


def test_messages_get_list_and_every_list_walked_page_by_page(api: Twin, clock: FrozenClock) -> None:
    from datetime import timedelta

    later = clock.now() + timedelta(minutes=5)
    sent = api("send_sms", message="Later", contacts=[OTHER, "0491570158", "0491570159"], schedule_at=later,
               custom_string="crm")
    ids = [q.message_id for q in sent.queued]
    message = api("get_message", id=ids[0])
    assert (message.id, message.to, message.status, message.custom_string, message.scheduled_at) == (
        ids[0], OTHER, "scheduled", "crm", later)
    assert [(e.status, e.detail) for e in message.events] == [("queued", None)]
    with pytest.raises(NotFoundError):
        api("get_message", id="0" * 24)

    page = api("list_messages", custom_string="crm", limit=2)
    assert (len(page.items), page.total, page.next_offset) == (2, 3, 2)
    assert api("list_messages", to="0491 570 158").items[0].id == ids[1]

    def walked(method: str, **kwargs: Any) -> Any:
        if api.kind == "sync":
            return api.run(lambda client: [m.id for m in getattr(client, method)(**kwargs)])

        async def collect(client: Any) -> list[str]:
            return [m.id async for m in getattr(client, method)(**kwargs)]
        return api.run(collect)

    assert sorted(walked("iter_messages", limit=1)) == sorted(ids)  # three pages of one
    assert walked("iter_messages", status="delivered") == []
    for number in (OTHER, "0491570158", "0491570159"):
        api("add_optout", number=number)
    numbers = api.run(lambda client: [o.number for o in client.iter_optouts(limit=2)]) if api.kind == "sync" \
        else api.run(lambda client: _alist(client.iter_optouts(limit=2)))
    assert sorted(o if isinstance(o, str) else o.number for o in numbers) == sorted(
        [OTHER, "+61491570158", "+61491570159"])
    assert walked("iter_custom_numbers", limit=1) == []
    assert walked("iter_business_names", limit=1) == []


async def _alist(iterator: Any) -> list[Any]:
    return [item async for item in iterator]
