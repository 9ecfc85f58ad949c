"""A business name's per-carrier authorisations on ACMA's SMS Sender ID Register, on both
databases: set with its ACMA status (domain, admin API, CLI), shown in get and list,
audited, told to the account's webhook, read by the worker's claim, and told in
``message.sent``. What the gateway does with them is tests/api/test_acma_carriers.py.

The deployment has a routes file (SENDERID_ROUTES_FILE) with three devinbox providers:
``primary`` and ``backup`` carry business names, ``other`` only those to one prefix.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from senderid.delivery import lanes
from senderid.domain import acma, acma_providers, business_names, outbox
from senderid.domain.context import Context
from senderid.domain.types import CLI, Actor
from senderid.errors import InvalidRequest
from senderid.routing import Route, parse_routes
from senderid.runtime import routes_of
from senderid.settings import Settings
from senderid.store.db import Database
from senderid.store.tables import accounts, audit_events, webhook_events
from senderid.store.tables import business_names as business_table

OPERATOR = Actor("operator")
ADMIN_TOKEN = "admin-" + "c" * 40
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
GATEWAY = "/api/v1/gateway"
CONTACT = "+61491570157"  # carried by primary, then backup
OTHERS_PREFIX_CONTACT = "+61491570159"  # carried by other alone

ROUTES = """
[providers.primary]
kind = "devinbox"

[providers.backup]
kind = "devinbox"

[providers.other]
kind = "devinbox"

[[routes]]
sender = "alpha"
to = "+61491570159*"
providers = ["other"]

[[routes]]
sender = "alpha"
providers = ["primary", "backup"]

[[routes]]
providers = ["primary"]
"""


def write_routes(tmp_path: Path) -> str:
    path = tmp_path / "routes.toml"
    path.write_text(ROUTES, encoding="utf-8")
    return str(path)


@pytest.fixture
def policy() -> str:
    return "allow"


@pytest.fixture
def settings_overrides(tmp_path: Path, policy: str) -> dict[str, object]:
    return {"admin_token": ADMIN_TOKEN, "routes_file": write_routes(tmp_path), "unregistered_alpha": policy}


@pytest.fixture
def ctx(settings: Settings, db: Database, clock) -> Context:
    """The context as a server builds it: the routes file read and checked."""
    return Context(db=db, settings=settings, clock=clock, secret=settings.resolved_secret(),
                   routes=routes_of(settings))


def _ok(r) -> Any:
    assert r.status_code == 200, r.text
    return r.json()["data"]


def _approved(ctx: Context, customer, name: str = "Acme Shop") -> str:
    record = business_names.request(ctx, customer.account, businessname=name, actor=CLI)
    business_names.approve(ctx, record.id, actor=OPERATOR)
    return record.id


def _hook(ctx: Context, account_id: str) -> None:
    with ctx.db.write() as conn:
        conn.execute(sa.update(accounts).where(accounts.c.id == account_id)
                     .values(webhook_url="https://hooks.example.com/in", webhook_secret="whsec_dGVzdA=="))


def _acma_audit(ctx: Context) -> list[Any]:
    with ctx.db.read() as conn:
        return conn.execute(sa.select(audit_events).where(audit_events.c.action == acma.EVENT)
                            .order_by(audit_events.c.id)).all()


def _hooks(ctx: Context, kind: str) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        rows = conn.execute(sa.select(webhook_events.c.payload).where(webhook_events.c.type == kind)
                            .order_by(webhook_events.c.created_at, webhook_events.c.id)).all()
    return [r.payload["data"] for r in rows]


# -- the rules, pure -------------------------------------------------------------------------


@pytest.mark.unit
def test_authorised_by_and_what_message_sent_says() -> None:
    assert acma_providers.authorised_by("primary", ())  # empty: every provider
    assert acma_providers.authorised_by(None, ())
    assert acma_providers.authorised_by("backup", ("backup",))
    assert not acma_providers.authorised_by("primary", ("backup",))
    assert not acma_providers.authorised_by(None, ("backup",))
    assert acma_providers.registered_through(None, "primary", ("backup",)) is None  # allow: not told
    assert acma_providers.registered_through(True, "backup", ("backup",)) is True
    assert acma_providers.registered_through(True, "primary", ("backup",)) is False
    assert acma_providers.registered_through(False, "backup", ("backup",)) is False
    assert acma_providers.decode(acma_providers.encode(["backup", "primary"])) == ("backup", "primary")
    assert acma_providers.encode([]) is None and acma_providers.decode(None) == ()


# -- set, shown, audited, told ---------------------------------------------------------------------


def test_set_with_the_status_shown_audited_and_told(app_client: TestClient, ctx: Context, customer) -> None:
    _hook(ctx, customer.account.id)
    name_id = _approved(ctx, customer)
    assert business_names.get(ctx, name_id).acma_providers == ()  # every provider, as before

    got = acma.set_status(ctx, name_id, status="registered", reference="SID-1",
                          providers=["primary", "backup", "primary"], actor=OPERATOR)
    assert (got.acma_status, got.acma_providers) == ("registered", ("backup", "primary"))

    # the status alone keeps the providers; the reference alone too
    got = acma.set_status(ctx, name_id, status="submitted", actor=OPERATOR)
    assert (got.acma_status, got.acma_reference, got.acma_providers) == ("submitted", "SID-1", ("backup", "primary"))
    got = acma.set_status(ctx, name_id, status="registered", providers=["backup"], actor=OPERATOR)
    assert got.acma_providers == ("backup",)
    # the same again changes nothing and writes nothing
    acma.set_status(ctx, name_id, status="registered", providers=["backup"], actor=OPERATOR)
    assert len(_acma_audit(ctx)) == 3

    records = _acma_audit(ctx)
    assert [r.details["acma_providers"] for r in records] == [["backup", "primary"], ["backup", "primary"],
                                                               ["backup"]]
    assert [h["acmaAuthorisedProviders"] for h in _hooks(ctx, acma.EVENT)] == [
        ["backup", "primary"], ["backup", "primary"], ["backup"]]

    # shown in the account's get and list, and the admin API's get, list and history
    assert _ok(app_client.get(f"/api/v1/business/{name_id}", headers=customer.headers))[
        "acmaAuthorisedProviders"] == ["backup"]
    (listed,) = _ok(app_client.get("/api/v1/business/list", headers=customer.headers))["items"]
    assert listed["acmaAuthorisedProviders"] == ["backup"]
    assert _ok(app_client.get(f"/admin/v1/business-names/{name_id}", headers=ADMIN))[
        "acmaAuthorisedProviders"] == ["backup"]
    page = _ok(app_client.get("/admin/v1/business-names", headers=ADMIN))
    assert [n["acmaAuthorisedProviders"] for n in page["items"]] == [["backup"]]
    history = _ok(app_client.get(f"/admin/v1/business-names/{name_id}/acma", headers=ADMIN))
    assert history["acmaAuthorisedProviders"] == ["backup"]
    assert [h["acmaAuthorisedProviders"] for h in history["items"]] == [["backup"], ["backup", "primary"],
                                                                         ["backup", "primary"]]

    # [] means every provider again
    assert acma.set_status(ctx, name_id, status="registered", providers=[], actor=OPERATOR).acma_providers == ()
    with ctx.db.read() as conn:
        stored = conn.execute(sa.select(business_table.c.acma_providers)
                              .where(business_table.c.id == name_id)).scalar_one()
    assert stored is None


def test_unknown_provider_names_are_refused(ctx: Context, customer) -> None:
    name_id = _approved(ctx, customer)
    with pytest.raises(InvalidRequest) as refused:
        acma.set_status(ctx, name_id, status="registered", providers=["primary", "twilio"], actor=OPERATOR)
    assert refused.value.message == ("authorisedProviders: 'twilio' is not a provider of this deployment; "
                                     "the providers are backup, other, primary")
    for bad in ("primary", [5], {"primary": True}):
        with pytest.raises(InvalidRequest, match="authorisedProviders must be a list of provider names"):
            acma.set_status(ctx, name_id, status="registered", providers=bad, actor=OPERATOR)
    got = business_names.get(ctx, name_id)
    assert (got.acma_status, got.acma_providers) == ("not_submitted", ())  # nothing changed
    assert _acma_audit(ctx) == []


def test_the_admin_route_takes_authorised_providers(app_client: TestClient, ctx: Context, customer) -> None:
    name_id = _approved(ctx, customer)
    path = f"/admin/v1/business-names/{name_id}/acma"
    body = _ok(app_client.post(path, json={"status": "registered", "authorisedProviders": ["primary"]},
                               headers=ADMIN))
    assert (body["acmaStatus"], body["acmaAuthorisedProviders"]) == ("registered", ["primary"])
    body = _ok(app_client.post(path, json={"status": "registered", "reference": "SID-9"}, headers=ADMIN))
    assert (body["acmaReference"], body["acmaAuthorisedProviders"]) == ("SID-9", ["primary"])  # kept
    bad = app_client.post(path, json={"status": "registered", "authorisedProviders": ["nope"]}, headers=ADMIN)
    assert bad.status_code == 400
    assert bad.json()["message"] == ("authorisedProviders: 'nope' is not a provider of this deployment; "
                                     "the providers are backup, other, primary")
    body = _ok(app_client.post(path, json={"status": "registered", "authorisedProviders": []}, headers=ADMIN))
    assert body["acmaAuthorisedProviders"] == []
    assert actor_names(ctx) == ["admin-api", "admin-api", "admin-api"]


def actor_names(ctx: Context) -> list[str]:
    return [r.actor for r in _acma_audit(ctx)]


def test_the_cli_sets_keeps_and_clears(ctx: Context, customer, run, monkeypatch: pytest.MonkeyPatch,
                                       settings: Settings) -> None:
    monkeypatch.setenv("SENDERID_ROUTES_FILE", str(settings.routes_file))
    name_id = _approved(ctx, customer)
    done = run("business", "acma", name_id, "--status", "registered", "--provider", "primary",
               "--provider", "backup")
    assert done.exit_code == 0, done.output
    assert "is registered on the register; authorised for backup, primary" in done.stderr
    assert business_names.get(ctx, name_id).acma_providers == ("backup", "primary")

    kept = run("business", "acma", name_id, "--status", "registered", "--reference", "SID-2")
    assert kept.exit_code == 0 and "authorised for backup, primary" in kept.stderr
    listed = run("business", "list", "--json")
    assert '"acma_authorised_providers": [\n      "backup",\n      "primary"\n    ]' in listed.stdout
    assert "backup,primary" in run("business", "list").stdout

    unknown = run("business", "acma", name_id, "--status", "registered", "--provider", "twilio")
    assert unknown.exit_code == 1
    assert "'twilio' is not a provider of this deployment; the providers are backup, other, primary" in unknown.stderr
    both = run("business", "acma", name_id, "--status", "registered", "--provider", "primary", "--every-provider")
    assert both.exit_code == 2 and "not both" in both.stderr

    cleared = run("business", "acma", name_id, "--status", "registered", "--every-provider")
    assert cleared.exit_code == 0 and "authorised for every provider" in cleared.stderr
    assert business_names.get(ctx, name_id).acma_providers == ()
    assert "every provider" in run("business", "list").stdout


# -- the claim and message.sent ------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["warn"])
def test_the_claim_reads_them_and_message_sent_tells_by_the_provider_used(
    app_client: TestClient, ctx: Context, customer, no_otp_customer, policy: str
) -> None:
    _hook(ctx, customer.account.id)
    name_id = _approved(ctx, customer)
    acma.set_status(ctx, name_id, status="registered", providers=["backup"], actor=OPERATOR)
    for sender in ("ACME SHOP", "#SharedNum#"):
        r = app_client.post(GATEWAY, json={"message": "Hello", "contacts": [CONTACT], "sender": sender},
                            headers=customer.headers)
        assert r.status_code == 200, r.text
    # an OTP from the same account's number (the priority lane)
    r = app_client.post("/api/v1/customNumber/add", json={"name": "own", "number": "+61491570156"},
                        headers=customer.headers)
    assert r.status_code == 200, r.text
    with ctx.db.write() as conn:
        claimed = lanes.claim(conn, now=ctx.clock.now() + timedelta(seconds=1), worker="w", lease_seconds=60,
                              limit=10, shared_sender=ctx.settings.shared_sender)
    by_sender = {(c.kind, c.sender): c for c in claimed}
    assert {key: c.authorised_providers for key, c in by_sender.items()} == {
        ("sms", "Acme Shop"): ("backup",), ("sms", ""): (), ("otp", ctx.settings.shared_sender): ()}

    name_message = by_sender[("sms", "Acme Shop")]
    shared_message = by_sender[("sms", "")]
    assert name_message.acma_registered is True
    with ctx.db.write() as conn:  # the provider that made each attempt decides
        outbox.record(conn, [
            outbox.Outcome(name_message, "sent", provider_message_id="p1", provider="primary"),
            outbox.Outcome(shared_message, "sent", provider_message_id="p2", provider="primary"),
        ], now=ctx.clock.now(), provider="backup")  # the outcome's own provider comes first
    told = {e["sender"]: e.get("acmaRegistered", "untold") for e in _hooks(ctx, "message.sent")}
    assert told == {"Acme Shop": False, "": "untold"}  # primary had not authorised it


def test_an_otp_whose_sender_spells_a_business_name_has_every_provider(ctx: Context, customer) -> None:
    """An OTP goes out as the platform's sender, never as the account's name, even when they
    are spelt alike (SENDERID_SHARED_SENDER = "Acme Shop")."""
    name_id = _approved(ctx, customer)
    acma.set_status(ctx, name_id, status="registered", providers=["backup"], actor=OPERATOR)
    with ctx.db.write() as conn:
        outbox.enqueue(conn, now=ctx.clock.now(), kind="otp", to=CONTACT, sender="Acme Shop", body="code",
                       account_id=customer.account.id)
        (message,) = lanes.claim(conn, now=ctx.clock.now() + timedelta(seconds=1), worker="w", lease_seconds=60,
                                 limit=10, shared_sender="Acme Shop")
    assert (message.kind, message.sender, message.authorised_providers) == ("otp", "Acme Shop", ())


@pytest.mark.parametrize("policy", ["warn"])
def test_message_sent_says_registered_when_the_provider_used_authorised_it(
    app_client: TestClient, ctx: Context, customer, policy: str
) -> None:
    _hook(ctx, customer.account.id)
    name_id = _approved(ctx, customer)
    acma.set_status(ctx, name_id, status="registered", providers=["backup", "primary"], actor=OPERATOR)
    r = app_client.post(GATEWAY, json={"message": "Hello", "contacts": [CONTACT], "sender": "Acme Shop"},
                        headers=customer.headers)
    assert r.status_code == 200, r.text
    with ctx.db.write() as conn:
        (message,) = lanes.claim(conn, now=ctx.clock.now() + timedelta(seconds=1), worker="w", lease_seconds=60,
                                 limit=10, shared_sender=ctx.settings.shared_sender)
        # without the outcome's own provider, the batch's
        outbox.record(conn, [outbox.Outcome(message, "sent", provider_message_id="p1")],
                      now=ctx.clock.now(), provider="backup")
    assert [e["acmaRegistered"] for e in _hooks(ctx, "message.sent")] == [True]


@pytest.mark.unit
def test_providers_for_follows_the_policy() -> None:
    route = Route(("primary", "backup"), sender="alpha")
    for policy, expected in (("refuse", ("backup",)), ("warn", ("primary", "backup")),
                             ("allow", ("primary", "backup"))):
        s = Settings(secret_key="s" * 40, unregistered_alpha=policy)
        ctx: Any = SimpleNamespace(settings=s, routes=parse_routes(ROUTES, s))  # all the helper reads
        assert acma_providers.providers_for(ctx, route, ("backup",)) == expected, policy
        assert acma_providers.providers_for(ctx, route, ()) == ("primary", "backup"), policy
        # refuse: a name authorised by none of the route's providers has nowhere to go
        assert acma_providers.providers_for(ctx, route, ("other",)) == (() if policy == "refuse"
                                                                         else ("primary", "backup"))
