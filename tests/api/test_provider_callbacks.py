"""Callbacks per named provider: ``/providers/<name>/status`` and ``/providers/<name>/inbound``
for each provider of the routes file whose kind takes them, each checked with that
provider's own signature and settings, and recorded under its name.

The deployment's own single-provider settings (a Twilio token, a Cellcast secret) are set
too and must not be taken for any named provider's. Messages are recorded as the worker
records them: claimed, then sent by the provider's NAME. Real signed requests against the
app; both databases; time is a FrozenClock.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from senderid.api.app import create_app
from senderid.clock import FrozenClock
from senderid.delivery import lanes
from senderid.delivery.providers.twilio import signature_for
from senderid.domain import accounts, outbox
from senderid.domain.context import Context
from senderid.domain.types import CLI
from senderid.routing import parse_routes
from senderid.settings import Settings
from senderid.store.db import Database
from senderid.store.tables import inbound_messages
from senderid.store.tables import optouts as optouts_table
from tests.api.test_receipts import NUMBER, gateway_message, row
from tests.support.env import TEST_SECRET

BACKUP_TOKEN = "backup-auth-token-77"
BACKUP_FROM = "+61491570006"
BACKUP_STATUS_URL = "https://sms.example.com/providers/backup/status"  # as Twilio is told (behind a proxy)
RELAY_SECRET = "relay-inbound-secret-4d"
ENV_TOKEN = "single-provider-token-99"  # the deployment's SENDERID_TWILIO_AUTH_TOKEN
ENV_SECRET = "single-provider-cellcast-secret"  # its SENDERID_CELLCAST_INBOUND_SECRET

ROUTES = f"""
[providers.primary]
kind = "smpp"
host = "127.0.0.1"
system_id = "acme"
password = "smpp-password"

[providers.backup]
kind = "twilio"
account_sid = "AC{"1" * 32}"
auth_token = "{BACKUP_TOKEN}"
from = "{BACKUP_FROM}"
status_callback_url = "{BACKUP_STATUS_URL}"

# a provider named after another kind: its name decides its path, its kind the check
[providers.twilio]
kind = "cellcast"
api_key = "relay-api-key"
inbound_secret = "{RELAY_SECRET}"

[providers.hook]
kind = "webhook"
provider_url = "https://sms.example.com/send"
provider_secret = "whsec_c2VjcmV0LXNpZ25pbmcta2V5LWZvci10ZXN0cw=="

[[routes]]
providers = ["primary", "backup", "twilio", "hook"]
"""


@dataclass
class Named:
    ctx: Context
    client: TestClient
    account: accounts.Account

    def sent_by(self, provider: str, provider_message_id: str) -> str:
        """A gateway message to NUMBER, claimed and recorded as sent by ``provider`` (a name)."""
        message_id = gateway_message(self.ctx, self.account)
        now = self.ctx.clock.now()
        with self.ctx.db.write() as conn:
            [claimed] = lanes.claim(conn, now=now, worker="w", lease_seconds=30, limit=1)
            assert claimed.id == message_id
            outbox.mark_sent(conn, message_id, now=now, provider=provider, provider_message_id=provider_message_id)
        return message_id


def deployment(database_url: str, **values: Any) -> Settings:
    return Settings(database_url=database_url, secret_key=TEST_SECRET, sms_provider="twilio",
                    twilio_account_sid="AC" + "9" * 32, twilio_auth_token=ENV_TOKEN, twilio_from="+61491570100",
                    cellcast_inbound_secret=ENV_SECRET, **values)


@pytest.fixture
def named(database_url: str, db: Database, clock: FrozenClock) -> Iterator[Named]:
    settings = deployment(database_url)
    ctx = Context(db=db, settings=settings, clock=clock, secret=settings.resolved_secret(),
                  routes=parse_routes(ROUTES, settings))
    account = accounts.create_account(ctx, "Acme", actor=CLI)
    with TestClient(create_app(settings, context=ctx, run_worker=False), raise_server_exceptions=False) as client:
        yield Named(ctx, client, account)


def twilio_post(client: TestClient, path: str, form: dict[str, str], *, url: str, token: str) -> httpx.Response:
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature_for(url, form, token)})


def cellcast_post(client: TestClient, path: str, body: dict[str, str], secret: str) -> httpx.Response:
    raw = orjson.dumps(body)
    signature = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return client.post(path, content=raw, headers={"X-Cellcast-Signature": signature,
                                                   "Content-Type": "application/json"})


def replies(ctx: Context) -> list[tuple[str, str, str]]:
    with ctx.db.read() as conn:
        rows = conn.execute(sa.select(inbound_messages).order_by(inbound_messages.c.received_at)).all()
    return [(r.from_number, r.body, r.provider) for r in rows]


def opted_out(ctx: Context, account_id: str) -> set[str]:
    with ctx.db.read() as conn:
        return set(conn.execute(sa.select(optouts_table.c.number).where(
            optouts_table.c.account_id == account_id)).scalars())


def envelope_404(response: httpx.Response) -> None:
    assert response.status_code == 404, response.text
    body = response.json()
    assert body["status"] is False and body["message"].startswith("No such endpoint: POST /providers/")


# -- twilio kind, by name -------------------------------------------------------------------------


def test_a_twilio_providers_status_callback_on_its_own_path(named: Named) -> None:
    ctx = named.ctx
    message_id = named.sent_by("backup", "SM" + "a" * 32)
    form = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered"}
    # the deployment's token, or the provider's token over another URL: not backup's signature
    for url, token in ((BACKUP_STATUS_URL, ENV_TOKEN), ("http://testserver/providers/backup/status", BACKUP_TOKEN)):
        refused = twilio_post(named.client, "/providers/backup/status", form, url=url, token=token)
        assert (refused.status_code, refused.json()["message"]) == (
            403, "The X-Twilio-Signature header does not match")
    assert row(ctx, message_id)["status"] == "sent"
    ctx.clock.advance(3)
    labels = {"method": "POST", "route": "/providers/backup/status", "status": "200"}
    before = REGISTRY.get_sample_value("senderid_http_requests_total", labels) or 0.0
    done = twilio_post(named.client, "/providers/backup/status", form, url=BACKUP_STATUS_URL, token=BACKUP_TOKEN)
    assert (done.status_code, done.json()["data"]) == (200, {"matched": True})
    assert (row(ctx, message_id)["status"], row(ctx, message_id)["delivered_at"]) == ("delivered", ctx.clock.now())
    # the metrics' route label names the provider
    assert REGISTRY.get_sample_value("senderid_http_requests_total", labels) == before + 1


def test_a_receipt_matches_only_messages_its_provider_sent(named: Named) -> None:
    """The same provider message id from two providers: a receipt on backup's path is backup's."""
    sid = "SM" + "b" * 32
    by_primary = named.sent_by("primary", sid)
    by_backup = named.sent_by("backup", sid)
    form = {"MessageSid": sid, "MessageStatus": "undelivered"}
    done = twilio_post(named.client, "/providers/backup/status", form, url=BACKUP_STATUS_URL, token=BACKUP_TOKEN)
    assert done.json()["data"] == {"matched": True}
    assert (row(named.ctx, by_backup)["status"], row(named.ctx, by_primary)["status"]) == ("failed", "sent")


def test_a_reply_through_a_named_twilio_provider_is_its_own(named: Named) -> None:
    ctx = named.ctx
    named.sent_by("backup", "SM" + "c" * 32)  # the shared sender: backup's default From
    form = {"From": NUMBER, "To": BACKUP_FROM, "Body": "STOP", "MessageSid": "SM" + "d" * 32}
    url = "http://testserver/providers/backup/inbound"  # no inbound_url: the URL it arrived at
    assert twilio_post(named.client, "/providers/backup/inbound", form, url=url, token=ENV_TOKEN).status_code == 403
    # to the single provider's From: not backup's default sender, so it answers no SMS of backup's
    other = {**form, "To": "+61491570100"}
    assert twilio_post(named.client, "/providers/backup/inbound", other, url=url, token=BACKUP_TOKEN).status_code == 200
    assert replies(ctx) == [] and opted_out(ctx, named.account.id) == set()
    done = twilio_post(named.client, "/providers/backup/inbound", form, url=url, token=BACKUP_TOKEN)
    assert done.status_code == 200 and done.text.endswith("<Response></Response>")
    assert replies(ctx) == [(NUMBER, "STOP", "backup")]
    assert opted_out(ctx, named.account.id) == {NUMBER}  # a reply to backup's From is a reply to the shared sender


# -- cellcast kind, named "twilio" ----------------------------------------------------------------


def test_a_cellcast_provider_named_twilio_takes_cellcast_callbacks_on_that_path(named: Named) -> None:
    ctx = named.ctx
    message_id = named.sent_by("twilio", "c" * 24)
    report = {"_id": "c" * 24, "status": "delivered", "type": "send"}
    # Twilio's check does not apply on this path, nor the deployment's Cellcast secret
    form = {"MessageSid": "c" * 24, "MessageStatus": "delivered"}
    refused = twilio_post(named.client, "/providers/twilio/status", form,
                          url="http://testserver/providers/twilio/status", token=ENV_TOKEN)
    assert (refused.status_code, refused.json()["message"]) == (403, "The X-Cellcast-Signature header does not match")
    assert cellcast_post(named.client, "/providers/twilio/status", report, ENV_SECRET).status_code == 403
    assert row(ctx, message_id)["status"] == "sent"
    done = cellcast_post(named.client, "/providers/twilio/status", report, RELAY_SECRET)
    assert (done.status_code, done.json()["data"]) == (200, {"matched": True})
    assert row(ctx, message_id)["status"] == "delivered"

    reply = {"from": NUMBER, "to": "", "body": "thanks"}
    assert cellcast_post(named.client, "/providers/twilio/inbound", reply, ENV_SECRET).status_code == 403
    answered = cellcast_post(named.client, "/providers/twilio/inbound", reply, RELAY_SECRET)
    assert (answered.status_code, answered.json()["data"]) == (200, {"optedOut": False})
    assert replies(ctx) == [(NUMBER, "thanks", "twilio")]


# -- what has no callback path --------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/providers/primary/status",  # smpp: receipts come over its binds
    "/providers/primary/inbound",
    "/providers/hook/status",  # webhook: no receipts
    "/providers/nobody/inbound",
    "/providers/cellcast/status",  # a kind's path with a file: only a provider named so
    "/providers/backup/other",
])
def test_a_path_of_no_provider_with_that_callback_is_a_404(named: Named, path: str) -> None:
    signed = cellcast_post(named.client, path, {"_id": "x", "status": "delivered", "type": "send"}, ENV_SECRET)
    envelope_404(signed)


def test_without_a_file_the_single_providers_kind_is_its_path(database_url: str, db: Database,
                                                              clock: FrozenClock) -> None:
    """The single-provider setup: /providers/twilio/... is the single provider's (checked with
    SENDERID_TWILIO_*), and names from nowhere else."""
    settings = deployment(database_url, twilio_status_callback_url="https://sms.example.com/providers/twilio/status")
    ctx = Context(db=db, settings=settings, clock=clock, secret=settings.resolved_secret())
    account = accounts.create_account(ctx, "Acme", actor=CLI)
    with TestClient(create_app(settings, context=ctx, run_worker=False), raise_server_exceptions=False) as client:
        single = Named(ctx, client, account)
        message_id = single.sent_by("twilio", "SM" + "e" * 32)
        form = {"MessageSid": "SM" + "e" * 32, "MessageStatus": "delivered"}
        done = twilio_post(client, "/providers/twilio/status", form, url=settings.twilio_status_callback_url or "",
                           token=ENV_TOKEN)
        assert done.json()["data"] == {"matched": True} and row(ctx, message_id)["status"] == "delivered"
        envelope_404(twilio_post(client, "/providers/backup/status", form, url=BACKUP_STATUS_URL, token=BACKUP_TOKEN))
        envelope_404(cellcast_post(client, "/providers/cellcast/status", {"_id": "x"}, ENV_SECRET))
