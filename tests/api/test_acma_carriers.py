"""The gateway and a business name's per-carrier authorisations on ACMA's SMS Sender ID Register
(SENDERID_UNREGISTERED_ALPHA with a routes file), on both databases, with the sender cache
live as in a server.

* ``refuse``: a name goes only through providers of its route that authorised it; a request
  with a contact whose route has none is refused whole with the 403 that names the register;
* ``warn``: a name goes by its route, and ``message.sent`` says ``acmaRegistered: false`` when
  the provider used had not authorised it.

The routes (tests/domain/test_acma_providers.py): business names to +61491570159 go through
``other`` alone, every other business name through ``primary`` then ``backup``.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from senderid.domain import acma, business_names
from senderid.domain.types import CLI, Actor
from senderid.store.tables import business_names as business_table
from senderid.store.tables import outbox, webhook_events
from tests.api.test_query_budget import settle, warm
from tests.domain.test_acma_providers import (  # noqa: F401  (the fixtures)
    CONTACT,
    OTHERS_PREFIX_CONTACT,
    _hook,
    ctx,
    policy,
    settings_overrides,
)
from tests.support.helpers import deliver_all

GATEWAY = "/api/v1/gateway"
OPERATOR = Actor("operator")
REGISTER = "ACMA's SMS Sender ID Register"


def _name(ctx, customer, providers: list[str], status: str = "registered") -> str:
    record = business_names.request(ctx, customer.account, businessname="Acme Shop", actor=CLI)
    business_names.approve(ctx, record.id, actor=OPERATOR)
    acma.set_status(ctx, record.id, status=status, providers=providers, actor=OPERATOR)
    return record.id


def _send(client: TestClient, customer, contacts: list[str], sender: str = "Acme Shop"):
    return client.post(GATEWAY, json={"message": "Your order is ready", "contacts": contacts, "sender": sender},
                       headers=customer.headers)


def _queued(ctx) -> list[str]:
    with ctx.db.read() as conn:
        return list(conn.execute(sa.select(outbox.c.to_number).where(outbox.c.kind == "sms")
                                 .order_by(outbox.c.to_number)).scalars())


def _refused(r, number: str) -> None:
    assert r.status_code == 403, r.text
    body = r.json()
    assert (body["status"], body["data"]) == (False, {})
    assert body["message"] == (
        f"You may not send as 'Acme Shop' to {number}: this platform sends a business name only through "
        f"carriers that have authorised it on {REGISTER}, and none of those that carry this message has "
        "authorised this one yet; ask your provider to have it authorised")
    assert body["error"] == {"error": body["message"]}


@pytest.mark.parametrize("policy", ["refuse"])
def test_refuse_a_name_no_provider_of_its_route_authorised(
    app_client: TestClient, customer, ctx, policy: str
) -> None:
    warm(app_client, customer)
    _name(ctx, customer, ["other"])  # other carries only +61491570159
    settle(ctx)
    _refused(_send(app_client, customer, [CONTACT]), CONTACT)
    assert _queued(ctx) == []
    # its own prefix goes through other: accepted
    assert _send(app_client, customer, [OTHERS_PREFIX_CONTACT]).status_code == 200
    # one contact that no carrier may take refuses the whole request: nothing queued for either
    _refused(_send(app_client, customer, [OTHERS_PREFIX_CONTACT, CONTACT]), CONTACT)
    assert _queued(ctx) == [OTHERS_PREFIX_CONTACT]
    # numbers and the shared sender are not business names: untouched
    assert _send(app_client, customer, [CONTACT], sender="#SharedNum#").status_code == 200


@pytest.mark.parametrize("policy", ["refuse"])
def test_refuse_accepts_a_name_one_provider_of_its_route_authorised(
    app_client: TestClient, customer, ctx, policy: str
) -> None:
    warm(app_client, customer)
    name_id = _name(ctx, customer, ["backup"])
    settle(ctx)
    r = _send(app_client, customer, [CONTACT])
    assert r.status_code == 200, r.text
    _refused(_send(app_client, customer, [OTHERS_PREFIX_CONTACT]), OTHERS_PREFIX_CONTACT)  # other's route
    # a change through the domain: this process forgets at the commit
    acma.set_status(ctx, name_id, status="registered", providers=["backup", "other"], actor=OPERATOR)
    assert _send(app_client, customer, [OTHERS_PREFIX_CONTACT, CONTACT]).status_code == 200
    # every provider again
    acma.set_status(ctx, name_id, status="registered", providers=[], actor=OPERATOR)
    assert _send(app_client, customer, [OTHERS_PREFIX_CONTACT]).status_code == 200
    assert _queued(ctx) == [CONTACT, CONTACT, OTHERS_PREFIX_CONTACT, OTHERS_PREFIX_CONTACT]


@pytest.mark.parametrize("policy", ["refuse"])
def test_refuse_hears_a_change_made_elsewhere(app_client: TestClient, customer, ctx, policy: str) -> None:
    """Migration 0020's change signal: the list changed by anything (another process, SQL by
    hand) empties this process's memory of the account's senders."""
    warm(app_client, customer)
    name_id = _name(ctx, customer, ["other"])
    settle(ctx)
    _refused(_send(app_client, customer, [CONTACT]), CONTACT)
    assert ctx.senders.holds_senders(customer.account.id)  # in memory now
    with ctx.db.write() as conn:  # not through the domain: no forget in this process
        conn.execute(sa.update(business_table).where(business_table.c.id == name_id)
                     .values(acma_providers='["primary"]'))
    settle(ctx)
    assert _send(app_client, customer, [CONTACT]).status_code == 200


@pytest.mark.parametrize("policy", ["refuse"])
def test_refuse_still_refuses_a_name_not_registered(app_client: TestClient, customer, ctx, policy: str) -> None:
    _name(ctx, customer, ["primary"], status="submitted")
    r = _send(app_client, customer, [CONTACT])
    assert r.status_code == 403 and "is not registered yet" in r.json()["message"]


@pytest.mark.parametrize("policy", ["allow", "warn"])
def test_allow_and_warn_go_by_the_route(app_client: TestClient, customer, ctx, policy: str) -> None:
    _name(ctx, customer, ["other"])
    assert _send(app_client, customer, [CONTACT, OTHERS_PREFIX_CONTACT]).status_code == 200
    assert _queued(ctx) == [CONTACT, OTHERS_PREFIX_CONTACT]


def _sent_events(ctx) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        rows = conn.execute(sa.select(webhook_events.c.payload).where(webhook_events.c.type == "message.sent")).all()
    return [r.payload["data"] for r in rows]


@pytest.mark.parametrize("policy", ["warn"])
def test_warn_tells_when_the_provider_used_had_not_authorised_it(
    app_client: TestClient, customer, ctx, policy: str
) -> None:
    """Through the worker: the route's first provider (primary), or the single provider of a
    worker that serves one, is not backup, which alone authorised the name."""
    _hook(ctx, customer.account.id)
    name_id = _name(ctx, customer, ["backup"])
    assert _send(app_client, customer, [CONTACT]).status_code == 200
    deliver_all(ctx)
    acma.set_status(ctx, name_id, status="registered", providers=[], actor=OPERATOR)  # every provider
    assert _send(app_client, customer, [CONTACT]).status_code == 200
    deliver_all(ctx)
    assert [e["acmaRegistered"] for e in _sent_events(ctx)] == [False, True]
