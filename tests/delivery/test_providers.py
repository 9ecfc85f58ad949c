"""The delivery contract every SMS provider keeps, checked against a local peer of each.

Every provider talks over real loopback sockets to a peer speaking its real protocol
(peers/): a Cellcast gateway, Twilio's REST API, an SMPP 3.4 SMSC and a Standard
Webhooks receiver. The contract suite runs once per provider; provider-specific tests
follow it.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from smpplib import consts

from peers.cellcast import CellcastPeer
from peers.http import HttpPeer, Request, Response
from peers.smsc import TestSmsc
from peers.twilio import TwilioPeer
from peers.webhook import WebhookPeer
from senderid import signing
from senderid.clock import FrozenClock
from senderid.delivery.providers.base import (
    OutgoingSms,
    PermanentError,
    ProviderError,
    TransientError,
)
from senderid.delivery.providers.cellcast import CellcastProvider, parse_status_webhook
from senderid.delivery.providers.smpp import SmppProvider, parse_receipt, receipt_done_at
from senderid.delivery.providers.twilio import (
    TwilioProvider,
    parse_status_callback,
    status_callback_time,
    verify_signature,
)
from senderid.delivery.providers.webhook import WebhookProvider
from tests.support.standard_webhooks import signature_ok

TO = "+61491570156"
INVALID_TO = "+61491570000"  # every peer refuses it as an invalid number
NUMERIC_SENDER = "+61491570157"
ALPHA_SENDER = "Acme"
OTP = "918273"
BODY = f"Your senderid code is {OTP}. It expires in 10 minutes."
TIMEOUT = 0.5
_ids = iter(range(1, 1_000_000))


def sms(body: str = BODY, to: str = TO, sender: str = NUMERIC_SENDER) -> OutgoingSms:
    return OutgoingSms(message_id=f"{next(_ids):024x}", to=to, sender=sender, body=body)


def assert_safe(error: ProviderError, body: str = BODY) -> None:
    """No error text may carry the message body, or the code inside it."""
    for text in (str(error), error.reason):
        assert body not in text and OTP not in text, text


@dataclass
class Delivered:
    to: str
    sender: str
    body: str
    provider_message_id: str


# -- one harness per provider: the peer, a provider factory, the faults ----------------


@dataclass
class Harness:
    name: str
    peer: Any
    factory: Callable[[float], Any]
    throttle_retry_after: float | None
    receipts: list[tuple[str, str]] = field(default_factory=list)
    _providers: list[Any] = field(default_factory=list)

    def provider(self, timeout: float = 5.0) -> Any:
        created = self.factory(timeout)
        self._providers.append(created)
        return created

    def close(self) -> None:
        for created in self._providers:
            created.close()

    def fail(self, times: int = 1) -> None:
        if isinstance(self.peer, TestSmsc):
            self.peer.refuse(consts.SMPP_ESME_RSYSERR, times)
        else:
            self.peer.fail(times, 500)

    def throttle(self) -> None:
        if isinstance(self.peer, TestSmsc):  # one throttle is absorbed: it must last
            self.peer.throttle_for(60)
        else:
            self.peer.throttle(retry_after=7)

    def delivered(self) -> list[Delivered]:
        peer = self.peer
        if isinstance(peer, CellcastPeer):
            return [Delivered(q.to, q.sender, q.body, q.message_id) for q in peer.queued]
        if isinstance(peer, TwilioPeer):
            return [Delivered(m["To"] or "", m["From"] or m["MessagingServiceSid"] or "",
                              m["Body"] or "", sid) for sid, m in peer.messages.items()]
        if isinstance(peer, TestSmsc):
            return [Delivered("+" + m.destination_addr,
                              ("+" if m.source_addr_ton == 1 else "") + m.source_addr,
                              m.text, m.message_ids[0]) for m in peer.messages]
        found = []
        for delivery_id, request in peer.accepted:
            data = request.json()["data"]
            found.append(Delivered(data["to"], data["sender"], data["body"], delivery_id))
        return found


TWILIO_FROM = "+61491570199"
SMPP_THROTTLE_LIMIT = 0.3  # seconds an SMPP send may stay throttled before it gives up
SMPP_RETRY_AFTER = 0.2  # its longest back-off, given as retry_after
WEBHOOK_SECRET = signing.generate_secret()


@pytest.fixture(params=["cellcast", "twilio", "smpp", "webhook"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    name = request.param
    if name == "cellcast":
        with CellcastPeer() as peer:
            yield from _run(Harness(name, peer, lambda t: CellcastProvider(peer.url, peer.api_key, t), 7.0))
    elif name == "twilio":
        with TwilioPeer() as peer:
            yield from _run(Harness(name, peer, lambda t: TwilioProvider(
                peer.url, peer.account_sid, peer.auth_token, TWILIO_FROM, timeout=t), 7.0))
    elif name == "smpp":
        with TestSmsc() as smsc:
            receipts: list[tuple[str, str]] = []
            yield from _run(Harness(name, smsc, lambda t: SmppProvider(
                "127.0.0.1", smsc.port, "senderid", "secret", timeout=t,
                on_receipt=lambda *r: receipts.append(r[:2]), throttle_limit=SMPP_THROTTLE_LIMIT,
                throttle_backoff_max=SMPP_RETRY_AFTER), SMPP_RETRY_AFTER, receipts))
    else:
        with WebhookPeer() as peer:
            yield from _run(Harness(name, peer, lambda t: WebhookProvider(
                peer.url + "/hooks/sms", WEBHOOK_SECRET, timeout=t), 7.0))


def _run(harness: Harness) -> Iterator[Harness]:
    try:
        yield harness
    finally:
        harness.close()


# -- the contract -----------------------------------------------------------------------


@pytest.mark.parametrize("sender", [NUMERIC_SENDER, ALPHA_SENDER])
def test_delivers_to_sender_and_body(harness: Harness, sender: str) -> None:
    result = harness.provider().send(sms(sender=sender))

    assert result.provider_message_id
    assert harness.delivered() == [Delivered(TO, sender, BODY, result.provider_message_id)]


@pytest.mark.parametrize("body", [
    "Ваш код 918273 ✓ — café 😀",
    "Long message. " * 30 + "€[]{}~^|\\ end",
    "Длинное сообщение 😀. " * 12,
], ids=["unicode", "long-gsm", "long-unicode"])
def test_delivers_unicode_and_long_bodies_intact(harness: Harness, body: str) -> None:
    result = harness.provider().send(sms(body=body))

    assert harness.delivered() == [Delivered(TO, NUMERIC_SENDER, body, result.provider_message_id)]


def test_server_errors_are_transient_then_delivery_resumes(harness: Harness) -> None:
    provider = harness.provider()
    harness.fail(times=2)

    for _ in range(2):
        with pytest.raises(TransientError) as caught:
            provider.send(sms())
        assert_safe(caught.value)
    assert provider.send(sms()).provider_message_id
    assert len(harness.delivered()) == 1


def test_throttling_is_transient_with_retry_after(harness: Harness) -> None:
    harness.throttle()

    with pytest.raises(TransientError) as caught:
        harness.provider().send(sms())

    assert caught.value.retry_after == harness.throttle_retry_after
    assert_safe(caught.value)


def test_invalid_number_is_permanent(harness: Harness) -> None:
    with pytest.raises(PermanentError) as caught:
        harness.provider().send(sms(to=INVALID_TO))

    assert_safe(caught.value)
    assert harness.delivered() == []


def test_timeout_is_transient_within_the_timeout(harness: Harness) -> None:
    provider = harness.provider(timeout=TIMEOUT)
    harness.peer.stall(30)

    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        provider.send(sms())

    assert time.monotonic() - started < TIMEOUT + 1.0
    assert_safe(caught.value)


def test_dropped_connection_is_transient_and_the_next_send_works(harness: Harness) -> None:
    provider = harness.provider()
    provider.send(sms())  # a connection is open when the peer drops it
    harness.peer.drop()

    with pytest.raises(TransientError) as caught:
        provider.send(sms())
    assert_safe(caught.value)

    result = provider.send(sms())
    assert result.provider_message_id == harness.delivered()[-1].provider_message_id


# -- cellcast ---------------------------------------------------------------------------


@pytest.fixture
def cellcast() -> Iterator[CellcastPeer]:
    with CellcastPeer() as peer:
        yield peer


def test_cellcast_request_is_the_v1_gateway_call(cellcast: CellcastPeer) -> None:
    provider = CellcastProvider(cellcast.url + "/", cellcast.api_key)
    try:
        provider.send(sms(sender=ALPHA_SENDER))
        provider.send(sms(sender=""))
    finally:
        provider.close()

    first, second = cellcast.requests
    assert (first.method, first.path) == ("POST", "/api/v1/gateway")
    assert first.headers["authorization"] == f"Bearer {cellcast.api_key}"
    assert first.headers["content-type"] == "application/json"
    assert first.json() == {"message": BODY, "contacts": [TO], "sender": ALPHA_SENDER}
    assert second.json() == {"message": BODY, "contacts": [TO]}  # the account's default


def test_cellcast_bad_key_is_permanent(cellcast: CellcastPeer) -> None:
    provider = CellcastProvider(cellcast.url, "not-the-key")
    try:
        with pytest.raises(PermanentError, match="HTTP 401: Token expired"):
            provider.send(sms())
    finally:
        provider.close()


def test_cellcast_unregistered_sender_is_permanent(cellcast: CellcastPeer) -> None:
    cellcast.senders = {NUMERIC_SENDER}
    provider = CellcastProvider(cellcast.url, cellcast.api_key)
    try:
        with pytest.raises(PermanentError, match="sender id is not registered"):
            provider.send(sms(sender="Other"))
    finally:
        provider.close()


# -- twilio -----------------------------------------------------------------------------


class CallbackSink(HttpPeer):
    """Where Twilio's status callbacks land."""

    def handle(self, request: Request) -> Response:
        return Response(204)


@pytest.fixture
def twilio() -> Iterator[TwilioPeer]:
    with TwilioPeer() as peer:
        yield peer


def test_twilio_form_fields_and_basic_auth(twilio: TwilioPeer) -> None:
    provider = TwilioProvider(twilio.url, twilio.account_sid, twilio.auth_token, TWILIO_FROM,
                              status_callback_url="http://127.0.0.1:9/status")
    try:
        provider.send(sms(sender=""))
        provider.send(sms(sender=ALPHA_SENDER))
    finally:
        provider.close()

    first, second = twilio.requests
    assert first.path == f"/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
    assert first.headers["content-type"] == "application/x-www-form-urlencoded"
    scheme, _, credentials = first.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(credentials).decode() == f"{twilio.account_sid}:{twilio.auth_token}"
    assert first.form() == {"To": TO, "From": TWILIO_FROM, "Body": BODY,
                            "StatusCallback": "http://127.0.0.1:9/status"}
    assert second.form()["From"] == ALPHA_SENDER


def test_twilio_messaging_service_sid_replaces_from(twilio: TwilioPeer) -> None:
    service = "MG" + "0123456789abcdef" * 2
    provider = TwilioProvider(twilio.url, twilio.account_sid, twilio.auth_token, service)
    try:
        provider.send(sms(sender=""))
    finally:
        provider.close()

    assert twilio.requests[0].form() == {"To": TO, "MessagingServiceSid": service, "Body": BODY}


@pytest.mark.parametrize("setup, error", [
    ({"auth_token": "wrong"}, "20003"),
    ({"sender": "+12"}, "21212"),
    ({"to": "0491570156"}, "21211"),
])
def test_twilio_errors_are_permanent_with_their_code(
    twilio: TwilioPeer, setup: dict[str, str], error: str
) -> None:
    provider = TwilioProvider(twilio.url, twilio.account_sid,
                              setup.get("auth_token", twilio.auth_token), TWILIO_FROM)
    try:
        with pytest.raises(PermanentError, match=error) as caught:
            provider.send(sms(to=setup.get("to", TO), sender=setup.get("sender", NUMERIC_SENDER)))
    finally:
        provider.close()
    assert_safe(caught.value)


def test_twilio_status_callback_is_signed_and_parsed() -> None:
    with TwilioPeer() as twilio, CallbackSink() as sink:
        callback_url = sink.url + "/twilio/status?tenant=1"
        provider = TwilioProvider(twilio.url, twilio.account_sid, twilio.auth_token, TWILIO_FROM,
                                  status_callback_url=callback_url)
        try:
            sid = provider.send(sms()).provider_message_id
        finally:
            provider.close()
        assert sid is not None
        assert twilio.status_callback(sid, "delivered") == 204
        assert twilio.status_callback(sid, "undelivered", error_code="30003") == 204
        delivered, undelivered = sink.wait_for(2)

    for callback, status in ((delivered, "delivered"), (undelivered, "failed")):
        form, signature = callback.form(), callback.headers["x-twilio-signature"]
        assert verify_signature(callback_url, form, signature, twilio.auth_token)
        assert not verify_signature(callback_url, form, signature, "another-token")
        assert not verify_signature(callback_url, {**form, "MessageStatus": "read"}, signature,
                                    twilio.auth_token)
        assert not verify_signature(callback_url, form, "", twilio.auth_token)
        assert parse_status_callback(form) == (sid, status)


@pytest.mark.unit
def test_twilio_signature_matches_the_documented_example() -> None:
    # The example of Twilio's webhook security documentation.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234",
              "From": "+12349013030", "To": "+18005551212"}
    signature = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="

    assert verify_signature(url, params, signature, "12345")
    assert verify_signature("https://mycompany.com:443/myapp.php?foo=1&bar=2", params, signature,
                            "12345")
    assert not verify_signature(url, params, signature, "54321")


@pytest.mark.unit
@pytest.mark.parametrize("twilio_status, ours", [
    ("queued", "sent"), ("sending", "sent"), ("sent", "sent"), ("delivered", "delivered"),
    ("read", "delivered"), ("undelivered", "failed"), ("failed", "failed"),
])
def test_twilio_status_mapping(twilio_status: str, ours: str) -> None:
    form = {"MessageSid": "SM" + "0" * 32, "MessageStatus": twilio_status}
    assert parse_status_callback(form) == ("SM" + "0" * 32, ours)


@pytest.mark.unit
@pytest.mark.parametrize("form", [{"MessageStatus": "delivered"},
                                  {"MessageSid": "SM1", "MessageStatus": "exploded"}])
def test_twilio_status_callback_rejects_other_forms(form: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        parse_status_callback(form)


@pytest.mark.unit
@pytest.mark.parametrize("done, expected", [
    ("2601021304", datetime(2026, 1, 2, 13, 4, tzinfo=UTC)),
    ("260102130455", datetime(2026, 1, 2, 13, 4, 55, tzinfo=UTC)),
    ("2613021304", None), ("26010213", None), ("", None), ("yesterday", None), (None, None),
])
def test_twilio_raw_dlr_done_date(done: str | None, expected: datetime | None) -> None:
    form = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    if done is not None:
        form["RawDlrDoneDate"] = done
    assert status_callback_time(form) == expected


# -- cellcast status webhooks -----------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("cellcast_status, ours", [
    ("delivered", "delivered"), ("Delivered", "delivered"), ("failed", "failed"), ("expired", "failed"),
    ("dead", "failed"), ("rejected", "failed"), ("blocked", "failed"), ("canceled", "failed"),
    ("queued", "sent"), ("sent", "sent"), ("received", "sent"),
])
def test_cellcast_status_mapping(cellcast_status: str, ours: str) -> None:
    report = {"_id": "66b5b93b1e2c012dfe964000", "status": cellcast_status, "type": "send",
              "sender": "cellcast", "receiver": "+61400000001"}
    assert parse_status_webhook(report) == ("66b5b93b1e2c012dfe964000", ours)


@pytest.mark.unit
@pytest.mark.parametrize("report", [
    None, [], {"status": "delivered"}, {"_id": "", "status": "delivered"},
    {"_id": "a1", "status": "exploded"}, {"_id": "a1", "status": 3},
    {"_id": "a1", "status": "delivered", "type": "receive"},
])
def test_cellcast_status_webhook_rejects_other_bodies(report: Any) -> None:
    with pytest.raises(ValueError):
        parse_status_webhook(report)


# -- smpp -------------------------------------------------------------------------------


@dataclass
class Smpp:
    smsc: TestSmsc
    provider: SmppProvider
    receipts: list[tuple[str, str]]
    receipt_arrived: threading.Event
    done_dates: list[datetime | None]


@pytest.fixture
def smpp() -> Iterator[Smpp]:
    receipts: list[tuple[str, str]] = []
    done_dates: list[datetime | None] = []
    arrived = threading.Event()

    def on_receipt(message_id: str, status: str, done_at: datetime | None) -> None:
        receipts.append((message_id, status))
        done_dates.append(done_at)
        arrived.set()

    with TestSmsc() as smsc:
        provider = SmppProvider("127.0.0.1", smsc.port, "senderid", "secret", timeout=2.0,
                                on_receipt=on_receipt, enquire_link_interval=0.1)
        try:
            yield Smpp(smsc, provider, receipts, arrived, done_dates)
        finally:
            provider.close()
        assert smsc.errors == []


@pytest.mark.parametrize("sender, ton, npi, addr", [
    (NUMERIC_SENDER, 1, 1, "61491570157"),
    (ALPHA_SENDER, 5, 0, ALPHA_SENDER),
])
def test_smpp_ton_npi(smpp: Smpp, sender: str, ton: int, npi: int, addr: str) -> None:
    smpp.provider.send(sms(sender=sender))

    (submit,) = smpp.smsc.submits
    assert (submit.source_addr_ton, submit.source_addr_npi, submit.source_addr) == (ton, npi, addr)
    assert (submit.dest_addr_ton, submit.dest_addr_npi, submit.destination_addr) == (1, 1, "61491570156")
    assert submit.registered_delivery == 1
    assert smpp.smsc.binds == [{"system_id": "senderid", "password": "secret", "system_type": "",
                                "interface_version": 0x34}]


@pytest.mark.parametrize("body, coding, parts", [
    ("Plain GSM text with €", 0, 1),
    ("x" * 160, 0, 1),
    ("x" * 161, 0, 2),
    ("€" * 100, 0, 2),  # escaped characters count twice and are never split
    ("Ж" * 70, 8, 1),
    ("Ж" * 71, 8, 2),
    ("😀" * 40, 8, 2),  # surrogate pairs are never split
], ids=["gsm", "gsm-160", "gsm-161", "gsm-escaped", "ucs2-70", "ucs2-71", "ucs2-surrogates"])
def test_smpp_encoding_and_concatenation(smpp: Smpp, body: str, coding: int, parts: int) -> None:
    result = smpp.provider.send(sms(body=body))

    submits = smpp.smsc.submits
    assert len(submits) == parts
    assert {s.data_coding for s in submits} == {coding}
    assert (message := smpp.smsc.messages[0]).text == body
    assert result.provider_message_id == message.message_ids[0]
    if parts == 1:
        assert submits[0].esm_class == 0
        assert len(submits[0].short_message) <= (140 if coding == 8 else 160)
    else:
        headers = [s.short_message[:6] for s in submits]
        reference = headers[0][3]
        assert headers == [bytes([5, 0, 3, reference, parts, n]) for n in range(1, parts + 1)]
        room = 140 if coding == 8 else 6 + 153  # octets; GSM septets sit one per octet
        assert all(s.esm_class == 0x40 and len(s.short_message) <= room for s in submits)


def test_smpp_answers_enquire_link_and_sends_its_own(smpp: Smpp) -> None:
    smpp.provider.connect()

    assert smpp.smsc.enquire_link()
    smpp.smsc.wait_for_enquire_links(2)  # the idle session keeps itself alive


@pytest.mark.parametrize("stat, status, tlvs", [
    ("DELIVRD", "delivered", True),
    ("UNDELIV", "failed", True),
    ("EXPIRED", "failed", False),
    ("ENROUTE", "sent", False),
])
def test_smpp_receipt_reaches_on_receipt(smpp: Smpp, stat: str, status: str, tlvs: bool) -> None:
    smpp.smsc.receipt_tlvs = tlvs
    message_id = smpp.provider.send(sms(body="stat:DELIVRD id:spoof")).provider_message_id
    assert message_id

    assert smpp.smsc.send_receipt(message_id, stat) == 0  # deliver_sm_resp ESME_ROK
    assert smpp.receipts == [(message_id, status)]


def test_smpp_receipts_of_a_long_message_are_folded(smpp: Smpp) -> None:
    smpp.smsc.auto_receipt = True  # the SMSC sends each part's receipt right after its resp
    message_id = smpp.provider.send(sms(body="y" * 400)).provider_message_id

    assert smpp.receipt_arrived.wait(5)
    assert smpp.receipts == [(message_id, "delivered")]
    assert len(smpp.smsc.submits) == 3


def test_smpp_a_failed_part_fails_the_message(smpp: Smpp) -> None:
    message_id = smpp.provider.send(sms(body="z" * 200)).provider_message_id
    first, second = (s.message_id for s in smpp.smsc.submits)
    assert first is not None and first == message_id and second is not None

    smpp.smsc.send_receipt(second, "UNDELIV")
    smpp.smsc.send_receipt(first, "DELIVRD")
    assert smpp.receipts == [(message_id, "failed")]


@pytest.mark.parametrize("status", [consts.SMPP_ESME_RMSGQFUL, consts.SMPP_ESME_RTHROTTLED])
def test_smpp_busy_statuses_are_transient(smpp: Smpp, status: int) -> None:
    provider = SmppProvider("127.0.0.1", smpp.smsc.port, "senderid", "secret", timeout=2.0,
                            throttle_limit=0.2, throttle_backoff_max=0.1)
    smpp.smsc.throttle_for(60, status)  # busy for longer than the provider waits
    try:
        with pytest.raises(TransientError, match=f"0x{status:08X}") as caught:
            provider.send(sms())
    finally:
        provider.close()
    assert caught.value.retry_after == 0.1
    assert_safe(caught.value)
    assert len(smpp.smsc.submits) >= 2  # it was submitted again before giving up


@pytest.mark.parametrize("status", [consts.SMPP_ESME_RMSGQFUL, consts.SMPP_ESME_RTHROTTLED])
def test_smpp_a_short_busy_spell_is_absorbed(smpp: Smpp, status: int) -> None:
    smpp.smsc.refuse(status, times=2)

    result = smpp.provider.send(sms())

    assert [s.status for s in smpp.smsc.submits] == [status, status, 0]
    assert result.provider_message_id == smpp.smsc.submits[-1].message_id
    assert [m.text for m in smpp.smsc.messages] == [BODY]


@pytest.mark.parametrize("status", [consts.SMPP_ESME_RINVSRCADR, consts.SMPP_ESME_RINVDSTADR])
def test_smpp_address_statuses_are_permanent(smpp: Smpp, status: int) -> None:
    smpp.smsc.refuse(status)
    with pytest.raises(PermanentError, match=f"0x{status:08X}"):
        smpp.provider.send(sms())


def test_smpp_bind_failure_is_permanent() -> None:
    with TestSmsc() as smsc:
        provider = SmppProvider("127.0.0.1", smsc.port, "senderid", "wrong", timeout=2.0)
        try:
            with pytest.raises(PermanentError, match="ESME_RINVPASWD"):
                provider.send(sms())
        finally:
            provider.close()


def test_smpp_unreachable_smsc_is_transient() -> None:
    with TestSmsc() as smsc:
        port = smsc.port
    provider = SmppProvider("127.0.0.1", port, "senderid", "secret", timeout=2.0)
    try:
        with pytest.raises(TransientError, match="cannot connect"):
            provider.send(sms())
    finally:
        provider.close()


def test_smpp_rebinds_after_an_idle_drop(smpp: Smpp) -> None:
    smpp.provider.connect()
    smpp.smsc.disconnect_all()

    try:  # the drop may or may not have been noticed yet
        smpp.provider.send(sms())
    except TransientError as error:
        assert_safe(error)
    assert smpp.provider.send(sms()).provider_message_id
    assert len(smpp.smsc.binds) == 2


def test_smpp_refuses_an_overlong_alpha_sender(smpp: Smpp) -> None:
    with pytest.raises(PermanentError, match="longer than 11"):
        smpp.provider.send(sms(sender="ThisIsTooLongAName"))
    assert smpp.smsc.submits == []


@pytest.mark.unit
@pytest.mark.parametrize("text, expected", [
    ("id:0A1B2C sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 stat:DELIVRD "
     "err:000 text:Hello", ("0A1B2C", "delivered")),
    (b"id:77 sub:001 dlvrd:000 submit date:2601011200 done date:2601011201 stat:UNDELIV "
     b"err:001 Text:stat:DELIVRD", ("77", "failed")),
    ("id:5 stat:REJECTD", ("5", "failed")),
    ("id:5 stat:ACCEPTD", ("5", "sent")),
])
def test_parse_receipt(text: str | bytes, expected: tuple[str, str]) -> None:
    assert parse_receipt(text) == expected


@pytest.mark.unit
@pytest.mark.parametrize("text, expected", [
    ("id:0A1B2C sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 stat:DELIVRD "
     "err:000 text:done date:2001010000", datetime(2026, 1, 1, 12, 1, tzinfo=UTC)),
    (b"id:77 sub:001 dlvrd:000 submit date:2601011200 done date:260101120130 stat:UNDELIV",
     datetime(2026, 1, 1, 12, 1, 30, tzinfo=UTC)),
    ("id:5 stat:DELIVRD", None),
    ("id:5 done date:2613011201 stat:DELIVRD", None),
])
def test_receipt_done_date(text: str | bytes, expected: datetime | None) -> None:
    assert receipt_done_at(text) == expected


def test_smpp_receipt_hands_on_its_done_date(smpp: Smpp) -> None:
    message_id = smpp.provider.send(sms()).provider_message_id
    assert message_id
    assert smpp.smsc.send_receipt(message_id, "DELIVRD", done_date="2601021304") == 0
    assert smpp.receipts == [(message_id, "delivered")]
    assert smpp.done_dates == [datetime(2026, 1, 2, 13, 4, tzinfo=UTC)]


def test_smpp_a_long_message_is_delivered_at_its_latest_parts_time(smpp: Smpp) -> None:
    message_id = smpp.provider.send(sms(body="z" * 200)).provider_message_id
    first, second = (s.message_id for s in smpp.smsc.submits)
    assert first is not None and second is not None
    smpp.smsc.send_receipt(second, "DELIVRD", done_date="2601021307")
    smpp.smsc.send_receipt(first, "DELIVRD", done_date="2601021305")
    assert smpp.receipts == [(message_id, "delivered")]
    assert smpp.done_dates == [datetime(2026, 1, 2, 13, 7, tzinfo=UTC)]


@pytest.mark.unit
def test_parse_receipt_refuses_a_plain_message() -> None:
    with pytest.raises(ValueError):
        parse_receipt("hello, this is an ordinary SMS")


# -- webhook ----------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[WebhookPeer]:
    with WebhookPeer() as peer:
        yield peer


def test_webhook_is_signed_per_standard_webhooks(receiver: WebhookPeer) -> None:
    clock = FrozenClock(datetime(2026, 3, 1, 9, 30, tzinfo=UTC))
    message = sms(sender=ALPHA_SENDER)
    provider = WebhookProvider(receiver.url + "/hooks/sms", WEBHOOK_SECRET, clock=clock)
    try:
        assert provider.send(message).provider_message_id == "wh_1"
    finally:
        provider.close()

    (request,) = receiver.requests
    assert request.path == "/hooks/sms"
    assert request.headers["webhook-id"] == message.message_id
    assert request.headers["webhook-timestamp"] == str(int(clock.now().timestamp()))
    assert signature_ok(WEBHOOK_SECRET, request.headers, request.body)
    assert not signature_ok(WEBHOOK_SECRET, request.headers, request.body + b" ")
    assert request.json() == {
        "type": "sms.send", "timestamp": "2026-03-01T09:30:00Z",
        "data": {"id": message.message_id, "to": TO, "sender": ALPHA_SENDER, "body": BODY},
    }


def test_webhook_retries_carry_the_same_webhook_id(receiver: WebhookPeer) -> None:
    message = sms()
    provider = WebhookProvider(receiver.url, WEBHOOK_SECRET)
    receiver.fail(1, 503)
    try:
        with pytest.raises(TransientError):
            provider.send(message)
        provider.send(message)
    finally:
        provider.close()

    assert {r.headers["webhook-id"] for r in receiver.requests} == {message.message_id}
    assert all(signature_ok(WEBHOOK_SECRET, r.headers, r.body) for r in receiver.requests)


@pytest.mark.unit
def test_signing_matches_the_standard_webhooks_example() -> None:
    # The test vector of the Standard Webhooks reference libraries.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    signature = signing.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                             b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.unit
def test_signatures_pass_the_reference_librarys_verify() -> None:
    """Whole check by the ``standardwebhooks`` package, timestamp window included (signed now)."""
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    secret, now = signing.generate_secret(), int(time.time())
    body = '{"type": "custom_number.verified", "data": {"name": "Zoë"}}'.encode()
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now),
               "webhook-signature": signing.sign(secret, "msg_1", now, body)}
    assert Webhook(secret).verify(body, headers) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.generate_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)


@pytest.mark.unit
def test_generated_secrets_are_whsec_and_32_random_bytes() -> None:
    first, second = signing.generate_secret(), signing.generate_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32


@pytest.mark.unit
@pytest.mark.parametrize("secret", ["whsec_not base64!", "whsec_"])
def test_webhook_provider_refuses_a_malformed_secret(secret: str) -> None:
    with pytest.raises(ValueError):
        WebhookProvider("http://127.0.0.1:9/", secret)
