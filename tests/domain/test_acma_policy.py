"""SENDERID_UNREGISTERED_ALPHA: sending as an approved business name that is not registered on
ACMA's SMS Sender ID Register (allow, warn, refuse), on both databases, with the sender cache
live (as in a server) and without it.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from senderid.domain import acma, business_names
from senderid.domain.types import CLI, Actor
from senderid.settings import Settings
from senderid.store.tables import accounts, outbox, webhook_events
from senderid.store.tables import business_names as business_table
from tests.api.test_query_budget import settle, warm
from tests.support.helpers import deliver_all

GATEWAY = "/api/v1/gateway"
CHECK = "/api/v1/senderId/check"
CONTACT = "+61491570157"
OPERATOR = Actor("operator")


def _approved(ctx, customer, name: str = "Acme Shop", acma_status: str | None = None) -> str:
    record = business_names.request(ctx, customer.account, businessname=name, actor=CLI)
    business_names.approve(ctx, record.id, actor=OPERATOR)
    if acma_status is not None:
        acma.set_status(ctx, record.id, status=acma_status, actor=OPERATOR)
    return record.id


def _hook(ctx, account_id: str) -> None:
    with ctx.db.write() as conn:
        conn.execute(sa.update(accounts).where(accounts.c.id == account_id)
                     .values(webhook_url="https://hooks.example.com/in", webhook_secret="whsec_dGVzdA=="))


def _send(client: TestClient, customer, sender: str):
    return client.post(GATEWAY, json={"message": "Your order is ready", "contacts": [CONTACT], "sender": sender},
                       headers=customer.headers)


def _check(client: TestClient, customer, sender: str) -> dict[str, Any]:
    r = client.get(CHECK, params={"sender": sender}, headers=customer.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _sent_events(ctx) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        rows = conn.execute(sa.select(webhook_events.c.payload).where(webhook_events.c.type == "message.sent")).all()
    return [r.payload["data"] for r in rows]


def _sms(ctx) -> list[Any]:
    with ctx.db.read() as conn:
        return conn.execute(sa.select(outbox).where(outbox.c.kind == "sms")).all()


def test_the_default_is_allow() -> None:
    assert Settings(secret_key="s" * 40).unregistered_alpha == "allow"


@pytest.mark.parametrize("settings_overrides", [{}, {"unregistered_alpha": "allow"}])
def test_allow_sends_and_says_nothing_new(app_client: TestClient, customer, ctx, settings_overrides) -> None:
    _hook(ctx, customer.account.id)
    _approved(ctx, customer)
    assert _send(app_client, customer, "acme shop").status_code == 200
    assert _check(app_client, customer, "Acme Shop")["data"] == {
        "sender": "Acme Shop", "allowed": True, "type": "business_name", "sendAs": "Acme Shop"}
    deliver_all(ctx)
    (event,) = _sent_events(ctx)
    assert "acmaRegistered" not in event
    (row,) = _sms(ctx)
    assert row.acma_registered is None


@pytest.mark.parametrize("settings_overrides", [{"unregistered_alpha": "warn"}])
def test_warn_sends_and_tells(app_client: TestClient, customer, ctx, settings_overrides) -> None:
    _hook(ctx, customer.account.id)
    _approved(ctx, customer, "Acme Shop")
    _approved(ctx, customer, "Acme Reg", acma_status="registered")
    assert _send(app_client, customer, "Acme Shop").status_code == 200
    assert _send(app_client, customer, "ACME REG").status_code == 200
    assert _send(app_client, customer, "").status_code == 200  # the shared number: nothing to tell

    assert _check(app_client, customer, "acme shop")["data"] == {
        "sender": "acme shop", "allowed": True, "type": "business_name", "sendAs": "Acme Shop",
        "acmaRegistered": False}
    assert _check(app_client, customer, "Acme Reg")["data"]["acmaRegistered"] is True
    assert "acmaRegistered" not in _check(app_client, customer, "#SharedNum#")["data"]

    deliver_all(ctx)
    told = {e["sender"]: e.get("acmaRegistered") for e in _sent_events(ctx)}
    assert told == {"Acme Shop": False, "Acme Reg": True, "": None}
    assert {r.sender: r.acma_registered for r in _sms(ctx)} == {"Acme Shop": False, "Acme Reg": True, "": None}


@pytest.mark.parametrize("settings_overrides", [{"unregistered_alpha": "refuse"}])
@pytest.mark.parametrize("acma_status", ["not_submitted", "submitted", "refused"])
def test_refuse_is_a_403_that_names_the_register(
    app_client: TestClient, customer, ctx, settings_overrides, acma_status
) -> None:
    _approved(ctx, customer, acma_status=None if acma_status == "not_submitted" else acma_status)
    r = _send(app_client, customer, "Acme Shop")
    assert r.status_code == 403
    body = r.json()
    assert (body["status"], body["show_message"], body["data"]) == (False, 1, {})
    assert "ACMA's SMS Sender ID Register" in body["message"] and "'Acme Shop'" in body["message"]
    assert body["error"] == {"error": body["message"]}
    assert _sms(ctx) == []
    check = _check(app_client, customer, "Acme Shop")
    assert check["message"] == "Sender not allowed: it is not registered on ACMA's SMS Sender ID Register"
    assert check["data"] == {"sender": "Acme Shop", "allowed": False, "type": "business_name", "sendAs": None,
                             "acmaRegistered": False}


@pytest.mark.parametrize("settings_overrides", [{"unregistered_alpha": "refuse"}])
def test_refuse_sends_once_registered_and_numbers_are_untouched(
    app_client: TestClient, customer, no_otp_customer, ctx, settings_overrides
) -> None:
    warm(app_client, customer)
    name_id = _approved(ctx, customer)
    assert _send(app_client, customer, "Acme Shop").status_code == 403  # the account's senders are in memory now
    acma.set_status(ctx, name_id, status="registered", reference="SID-1", actor=OPERATOR)
    assert _send(app_client, customer, "Acme Shop").status_code == 200  # this process forgot them at the commit
    assert _check(app_client, customer, "Acme Shop")["data"]["allowed"] is True
    acma.set_status(ctx, name_id, status="refused", actor=OPERATOR)  # an entry can lapse
    assert _send(app_client, customer, "Acme Shop").status_code == 403
    # numbers and the shared sender are not alpha IDs: the policy does not touch them
    r = app_client.post("/api/v1/customNumber/add", json={"name": "own", "number": "+61491570156"},
                        headers=no_otp_customer.headers)
    assert r.status_code == 200
    assert _send(app_client, no_otp_customer, "0491 570 156").status_code == 200
    assert _send(app_client, no_otp_customer, "#SharedNum#").status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"unregistered_alpha": "refuse"}])
def test_a_change_made_elsewhere_reaches_the_cache(app_client: TestClient, customer, ctx, settings_overrides) -> None:
    """The change signal of migration 0007: an approved name's acma_status changed by anything
    (another process, SQL by hand) empties this process's memory of the account's senders."""
    warm(app_client, customer)
    name_id = _approved(ctx, customer)
    settle(ctx)
    assert _check(app_client, customer, "Acme Shop")["data"]["allowed"] is False  # in memory now
    assert ctx.senders.holds_senders(customer.account.id)
    with ctx.db.write() as conn:  # not through the domain: no forget in this process
        conn.execute(sa.update(business_table).where(business_table.c.id == name_id)
                     .values(acma_status="registered"))
    settle(ctx)
    assert _check(app_client, customer, "Acme Shop")["data"] == {
        "sender": "Acme Shop", "allowed": True, "type": "business_name", "sendAs": "Acme Shop",
        "acmaRegistered": True}


@pytest.mark.parametrize("settings_overrides", [{"unregistered_alpha": "warn"}, {"unregistered_alpha": "refuse"}])
def test_the_policy_costs_no_statement(app_client: TestClient, customer, ctx, settings_overrides) -> None:
    """The register status rides on the sender lookup: the check is free once the account's
    senders are in memory, and the first costs the one query it always did."""
    warm(app_client, customer)
    _approved(ctx, customer, acma_status="registered")
    settle(ctx)
    with ctx.db.count() as first:
        assert _check(app_client, customer, "Acme Shop")["data"]["acmaRegistered"] is True
    assert first.total == 1
    with ctx.db.count() as cached:
        assert _check(app_client, customer, "acme shop")["data"]["allowed"] is True
    assert cached.total == 0
    with ctx.db.count() as sending:
        assert _send(app_client, customer, "Acme Shop").status_code == 200
    # the gateway's pinned budget (tests/api/test_query_budget.py): 3 on SQLite, 4 on PostgreSQL
    assert sending.total == (3 if ctx.db.is_sqlite else 4), sending.statements


@pytest.mark.parametrize("settings_overrides", [{"unregistered_alpha": "refuse", "auth_cache_seconds": 0}])
def test_refuse_without_the_cache(app_client: TestClient, customer, ctx, settings_overrides) -> None:
    name_id = _approved(ctx, customer)
    assert _send(app_client, customer, "Acme Shop").status_code == 403
    acma.set_status(ctx, name_id, status="registered", actor=OPERATOR)
    assert _send(app_client, customer, "acme shop").status_code == 200
    assert _check(app_client, customer, "ACME SHOP")["data"]["acmaRegistered"] is True


def test_an_unknown_policy_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="unregistered_alpha"):
        Settings(secret_key="s" * 40, unregistered_alpha="block")


@pytest.mark.parametrize("settings_overrides", [{"unregistered_alpha": "warn"}])
def test_migration_0007_keeps_the_other_change_signals(
    app_client: TestClient, customer, ctx, settings_overrides
) -> None:
    """Adding the columns must not drop migration 0005's triggers (a table rebuild on SQLite
    would): a name inserted APPROVED by hand still reaches this process's memory."""
    from senderid import ids

    warm(app_client, customer)
    settle(ctx)
    assert _check(app_client, customer, "Hand Made")["data"]["allowed"] is False  # in memory now
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        conn.execute(sa.insert(business_table).values(
            id=ids.new_id(), account_id=customer.account.id, businessname="Hand Made", name_key="hand made",
            status="APPROVED", created_by="sql", requested_at=now, created_at=now, updated_at=now,
            acma_status="registered"))
    settle(ctx)
    assert _check(app_client, customer, "Hand Made")["data"] == {
        "sender": "Hand Made", "allowed": True, "type": "business_name", "sendAs": "Hand Made",
        "acmaRegistered": True}
