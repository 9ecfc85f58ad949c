"""Business names (SPEC §1.3 business/add, §5): the documented bodies, every rule, the
lifecycle, the audit trail, webhook events and the operator's CLI."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from senderid.domain import accounts as accounts_domain
from senderid.domain import business_names
from senderid.domain.types import CLI, Actor
from senderid.errors import Conflict, InvalidRequest, NotFound
from senderid.store.tables import accounts, audit_events, webhook_events
from senderid.store.tables import business_names as business_table
from tests.api.test_contract import documented

ADD = "/api/v1/business/add"
LIST = "/api/v1/business/list"
OPERATOR = Actor("operator")
T0 = "2026-01-01T00:00:00.000Z"  # the frozen clock's start

ADDED = "Request added successfully for business name!"
REQUIRED = documented(status=True, show_message=0, message="Busniess Name is required!", data=400, error={})


def _add(client: TestClient, customer, name: str, **extra: Any) -> dict[str, Any]:
    r = client.post(ADD, json={"businessname": name, **extra}, headers=customer.headers)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def _rows(ctx) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(business_table))]


def _actions(ctx, prefix: str = "business_name.") -> list[tuple[str, str]]:
    with ctx.db.read() as conn:
        rows = conn.execute(
            sa.select(audit_events.c.action, audit_events.c.actor)
            .where(audit_events.c.action.like(prefix + "%"))
            .order_by(audit_events.c.id)
        ).all()
    return [(r.action, r.actor) for r in rows]


# -- POST /api/v1/business/add: the documented bodies ------------------------------------------


def test_added_body_is_the_documented_record(app_client: TestClient, customer) -> None:
    r = app_client.post(ADD, json={"businessname": "Acme Shop"}, headers=customer.headers)
    assert r.status_code == 200
    body = r.json()
    record_id = body["data"]["_id"]
    assert len(record_id) == 24 and all(c in "0123456789abcdef" for c in record_id)
    assert body == documented(
        status=True, show_message=0, message=ADDED, error={},
        data={
            "isDeleted": False, "isDefault": False, "_id": record_id, "businessname": "Acme Shop",
            "user": customer.account.id, "requestedAt": T0, "status": "REQUESTED",
            "createdBy": customer.account.id, "createdAt": T0, "updatedAt": T0, "__v": 0,
        },
    )


def test_added_body_with_a_customer_contact(app_client: TestClient, customer) -> None:
    r = app_client.post(ADD, json={"businessname": "Acme", "customerContact": "0491 570 156"},
                        headers=customer.headers)
    assert r.status_code == 200
    data = r.json()["data"]
    assert r.json() == documented(
        status=True, show_message=0, message=ADDED, error={},
        data={
            "isDeleted": False, "isDefault": False, "_id": data["_id"], "businessname": "Acme",
            "customerContact": "+61491570156", "user": customer.account.id, "requestedAt": T0,
            "status": "REQUESTED", "createdBy": customer.account.id, "createdAt": T0,
            "updatedAt": T0, "__v": 0,
        },
    )


@pytest.mark.parametrize("body", [
    {}, {"businessname": None}, {"businessname": ""}, {"businessname": "   "},
    {"customerContact": "0491 570 156"}, {"businessname": "", "customerContact": "nonsense"},
])
def test_missing_name_is_the_documented_quirky_body(app_client: TestClient, customer, ctx, body) -> None:
    r = app_client.post(ADD, json=body, headers=customer.headers)
    assert (r.status_code, r.json()) == (400, REQUIRED)
    assert _rows(ctx) == [] and _actions(ctx) == []


def test_add_needs_a_key(app_client: TestClient) -> None:
    r = app_client.post(ADD, json={"businessname": "Acme"})
    assert r.status_code == 401
    assert r.json() == {"code": 401, "message": "Authorization token is required",
                        "stack": "APIError: Authorization token is required"}


# -- the rules of SPEC §5 ------------------------------------------------------------------------


ACCEPTED = [
    "Acme", "ABC", "abc", "Acme Shop", "Acme-Shop", "A-1", "A1B2C3", "Acme Alerts", "Bank 24",
    "Taxi Co", "Helpage", "Bankstown", "Z 9", "Acme  Shop", "X" * 11, "Unverifie", "Verifiable",
]


@pytest.mark.parametrize("name", ACCEPTED)
def test_accepted_names(app_client: TestClient, customer, ctx, name: str) -> None:
    assert _add(app_client, customer, name)["businessname"] == name
    assert [r["name_key"] for r in _rows(ctx)] == [name.lower()]


LENGTH = "Business name must be 3 to 11 characters"
CHARACTERS = "Business name may only contain letters, digits, spaces and -"
SPACES = "Business name must not start or end with a space"
DIGITS = "Business name must not be all digits: it needs at least one letter"
UNVERIFIED = "Business name must not contain 'Unverified'"
GENERIC = "Business name must not be made only of generic words"
NOT_A_STRING = "Business name must be a string of 3 to 11 characters"

REFUSED = [
    ("AB", LENGTH), ("A", LENGTH), ("Acme Shop Co", LENGTH), ("X" * 40, LENGTH),
    ("Acme_Shop", CHARACTERS), ("Acmé", CHARACTERS), ("Acme!", CHARACTERS), ("Acme.com", CHARACTERS),
    ("Acme\tShop", CHARACTERS), ("Acme\n", CHARACTERS), ("Ac'me", CHARACTERS), ("Ａｃｍｅ", CHARACTERS),
    (" Acme", SPACES), ("Acme ", SPACES), (" Acme Shop ", SPACES),
    ("12345", DIGITS), ("0491570156", DIGITS), ("0491 570", DIGITS), ("12-34", DIGITS), ("---", DIGITS),
    ("Unverified", UNVERIFIED), ("UNVERIFIED", UNVERIFIED), ("unverifiedX", UNVERIFIED),
    ("Un-Verified", UNVERIFIED), ("Unverified1", UNVERIFIED),
    ("Bank", GENERIC), ("BANK", GENERIC), ("Bank Alert", GENERIC), ("BankAlert", GENERIC),
    ("bank-alerts", GENERIC), ("Verify", GENERIC), ("Verified", GENERIC), ("Tax Help", GENERIC),
    ("Info", GENERIC), ("Security", GENERIC), ("Support", GENERIC), ("Urgent", GENERIC),
    ("Service", GENERIC), ("Messages", GENERIC), ("Notice", GENERIC), ("Password", GENERIC),
    ("Delivery", GENERIC), ("Billing", GENERIC), ("Account", GENERIC), ("No-Reply", GENERIC),
    ("SMS Code", GENERIC), ("Infotext", GENERIC),
    (12345, NOT_A_STRING), (["Acme"], NOT_A_STRING), (True, NOT_A_STRING),
]


@pytest.mark.parametrize(("name", "rule"), REFUSED, ids=[repr(n) for n, _ in REFUSED])
def test_refused_names_name_the_rule_and_write_nothing(app_client: TestClient, customer, ctx, name, rule) -> None:
    r = app_client.post(ADD, json={"businessname": name}, headers=customer.headers)
    assert r.status_code == 400
    body = r.json()
    assert body["message"].startswith(rule), body["message"]
    assert body == documented(status=False, show_message=1, message=body["message"], data={},
                              error={"error": body["message"]})
    assert _rows(ctx) == [] and _actions(ctx) == []


def test_the_generic_message_says_which_words(app_client: TestClient, customer) -> None:
    r = app_client.post(ADD, json={"businessname": "BankAlerts"}, headers=customer.headers)
    assert "found: bank, alerts" in r.json()["message"]


@pytest.mark.unit
def test_the_generic_list_holds_the_specs_words() -> None:
    spec = {"account", "alert", "bank", "billing", "delivery", "help", "info", "message", "notice",
            "password", "security", "service", "support", "tax", "urgent", "verify", "verified"}
    assert spec <= business_names.GENERIC_WORDS


@pytest.mark.parametrize(("contact", "stored"), [
    ("0491 570 156", "+61491570156"), ("+61491570156", "+61491570156"), ("(02) 5550 1234", "+61255501234"),
    ("", None), (None, None),
])
def test_customer_contact_any_number_a_person_can_answer(
    app_client: TestClient, customer, ctx, contact, stored
) -> None:
    data = _add(app_client, customer, "Acme", customerContact=contact)
    assert data.get("customerContact") == stored
    assert _rows(ctx)[0]["customer_contact"] == stored


@pytest.mark.parametrize("contact", ["nonsense", "0491", "+1 202 555 0100", "04915701561234", ["0491570156"], True])
def test_customer_contact_must_be_valid(app_client: TestClient, customer, ctx, contact) -> None:
    r = app_client.post(ADD, json={"businessname": "Acme", "customerContact": contact}, headers=customer.headers)
    assert r.status_code == 400
    assert r.json()["message"].startswith("customerContact is not a valid phone number")
    assert _rows(ctx) == []


# -- one account holds a name once; accounts may share a name ------------------------------------


def test_one_account_holds_a_name_once(app_client: TestClient, customer, make_customer, ctx) -> None:
    first = _add(app_client, customer, "Acme")
    for again in ("Acme", "ACME", "acme"):
        r = app_client.post(ADD, json={"businessname": again}, headers=customer.headers)
        assert r.status_code == 400
        assert r.json()["message"] == (
            "Your account already holds the business name 'Acme' (REQUESTED); an account holds a name once"
        )
    rival = make_customer("Rival")
    assert _add(app_client, rival, "ACME")["status"] == "REQUESTED"  # another account: its own request

    business_names.approve(ctx, first["_id"], actor=OPERATOR)
    r = app_client.post(ADD, json={"businessname": "acme"}, headers=customer.headers)
    assert r.status_code == 400 and "(APPROVED)" in r.json()["message"]
    assert len(_rows(ctx)) == 2


def test_a_name_can_be_asked_for_again_after_a_rejection_or_withdrawal(app_client: TestClient, customer, ctx) -> None:
    first = _add(app_client, customer, "Acme")
    business_names.reject(ctx, first["_id"], reason="Show us your ABN", actor=OPERATOR)
    second = _add(app_client, customer, "Acme")
    assert app_client.delete(f"/api/v1/business/{second['_id']}", headers=customer.headers).status_code == 200
    third = _add(app_client, customer, "ACME")
    assert len({first["_id"], second["_id"], third["_id"]}) == 3
    assert sorted(r["status"] for r in _rows(ctx)) == ["REJECTED", "REQUESTED", "WITHDRAWN"]


def test_the_database_has_the_last_word(customer, ctx) -> None:
    business_names.request(ctx, customer.account, businessname="Acme", actor=CLI)
    with pytest.raises(sa.exc.IntegrityError), ctx.db.write() as conn:
        conn.execute(sa.insert(business_table).values(
            id="0" * 24, account_id=customer.account.id, businessname="ACME", name_key="acme",
            status="APPROVED", created_by="test", requested_at=ctx.clock.now(),
            created_at=ctx.clock.now(), updated_at=ctx.clock.now(),
        ))


# -- decisions -------------------------------------------------------------------------------------


def test_approve_reject_withdraw_transitions(app_client: TestClient, customer, ctx, clock) -> None:
    a = _add(app_client, customer, "Acme")["_id"]
    b = _add(app_client, customer, "Acme Two")["_id"]
    c = _add(app_client, customer, "Acme Three")["_id"]
    clock.advance(seconds=60)

    approved = business_names.approve(ctx, a, actor=OPERATOR)
    assert (approved.status, approved.decided_by, approved.decided_at) == ("APPROVED", "operator", clock.now())
    with pytest.raises(Conflict, match="Only a REQUESTED business name can be approved; this one is APPROVED"):
        business_names.approve(ctx, a, actor=OPERATOR)
    with pytest.raises(Conflict, match="can be rejected; this one is APPROVED"):
        business_names.reject(ctx, a, reason="no", actor=OPERATOR)

    for reason in ("", "   ", None, 12):
        with pytest.raises(InvalidRequest, match="A rejection needs a reason"):
            business_names.reject(ctx, b, reason=reason, actor=OPERATOR)
    with pytest.raises(InvalidRequest, match="at most 500"):
        business_names.reject(ctx, b, reason="x" * 501, actor=OPERATOR)
    rejected = business_names.reject(ctx, b, reason="  Show us your ABN  ", actor=OPERATOR)
    assert (rejected.status, rejected.reason) == ("REJECTED", "Show us your ABN")
    with pytest.raises(Conflict, match="this one is REJECTED"):
        business_names.approve(ctx, b, actor=OPERATOR)

    r = app_client.delete(f"/api/v1/business/{c}", headers=customer.headers)
    assert r.status_code == 200 and r.json()["message"] == "Business name request withdrawn"
    assert r.json()["data"]["status"] == "WITHDRAWN" and r.json()["data"]["isDeleted"] is True
    assert r.json()["data"]["updatedAt"] == "2026-01-01T00:01:00.000Z"
    assert r.json()["data"]["requestedAt"] == T0
    for decided in (a, b, c):
        r = app_client.delete(f"/api/v1/business/{decided}", headers=customer.headers)
        assert r.status_code == 409 and r.json()["status"] is False
        assert r.json()["message"].startswith("Only a REQUESTED business name can be withdrawn; this one is ")
    with pytest.raises(Conflict, match="this one is WITHDRAWN"):
        business_names.approve(ctx, c, actor=OPERATOR)

    assert {r["id"]: r["status"] for r in _rows(ctx)} == {a: "APPROVED", b: "REJECTED", c: "WITHDRAWN"}
    got = app_client.get(f"/api/v1/business/{b}", headers=customer.headers).json()["data"]
    assert got["reason"] == "Show us your ABN" and got["status"] == "REJECTED"
    assert "reason" not in app_client.get(f"/api/v1/business/{a}", headers=customer.headers).json()["data"]


def test_unknown_ids_are_not_found(customer, ctx) -> None:
    for call in (
        lambda: business_names.approve(ctx, "0" * 24, actor=OPERATOR),
        lambda: business_names.reject(ctx, "0" * 24, reason="r", actor=OPERATOR),
        lambda: business_names.withdraw(ctx, customer.account, "0" * 24, actor=OPERATOR),
        lambda: business_names.get(ctx, "not-an-id"),
    ):
        with pytest.raises(NotFound):
            call()


def test_other_accounts_ids_are_404(app_client: TestClient, customer, make_customer, ctx) -> None:
    mine = _add(app_client, customer, "Acme")["_id"]
    rival = make_customer("Rival")
    for method in ("get", "delete"):
        for who, name_id in ((rival, mine), (customer, "0" * 24)):
            r = app_client.request(method.upper(), f"/api/v1/business/{name_id}", headers=who.headers)
            assert r.status_code == 404, r.text
            assert r.json()["message"] == f"No business name with id {name_id} in your account"
            assert r.json()["status"] is False
    assert _rows(ctx)[0]["status"] == "REQUESTED"
    assert app_client.get("/api/v1/business/add", headers=customer.headers).status_code == 405


def test_is_approved_is_case_insensitive_and_per_account(app_client: TestClient, customer, make_customer, ctx) -> None:
    rival = make_customer("Rival")
    name_id = _add(app_client, customer, "AcmeShop")["_id"]
    _add(app_client, rival, "AcmeShop")
    with ctx.db.read() as conn:
        assert not business_names.is_approved(conn, customer.account.id, "AcmeShop")
    business_names.approve(ctx, name_id, actor=OPERATOR)
    with ctx.db.read() as conn:
        for spelling in ("AcmeShop", "acmeshop", "ACMESHOP", " AcmeShop "):
            assert business_names.is_approved(conn, customer.account.id, spelling)
        assert not business_names.is_approved(conn, rival.account.id, "AcmeShop")
        for other in ("Acme", "", None, 5, "x" * 50):
            assert not business_names.is_approved(conn, customer.account.id, other)


# -- the audit trail and webhook events -------------------------------------------------------------


def test_every_change_is_audited(app_client: TestClient, customer, ctx) -> None:
    a = _add(app_client, customer, "Acme", customerContact="0491 570 156")["_id"]
    b = _add(app_client, customer, "Acme Two")["_id"]
    c = _add(app_client, customer, "Acme Three")["_id"]
    business_names.approve(ctx, a, actor=OPERATOR)
    business_names.reject(ctx, b, reason="Show us your ABN", actor=OPERATOR)
    app_client.delete(f"/api/v1/business/{c}", headers=customer.headers)

    key_actor = f"key:{accounts_domain.list_keys(ctx, customer.account.id)[0].id}"
    actions = _actions(ctx)
    assert [a for a, _ in actions] == [
        "business_name.requested", "business_name.requested", "business_name.requested",
        "business_name.approved", "business_name.rejected", "business_name.withdrawn",
    ]
    assert [actor for _, actor in actions[:3]] == [key_actor] * 3
    assert actions[5][1] == key_actor
    assert [actor for _, actor in actions[3:5]] == ["operator", "operator"]
    with ctx.db.read() as conn:
        rows = {r.action + r.subject: r for r in conn.execute(sa.select(audit_events))}
    requested = rows["business_name.requested" + a]
    assert requested.account_id == customer.account.id and requested.ip == "testclient"
    assert requested.details == {"businessname": "Acme", "customer_contact": "+61491570156"}
    assert rows["business_name.rejected" + b].details == {"businessname": "Acme Two", "reason": "Show us your ABN"}
    assert customer.key not in str([r.details for r in rows.values()])


def test_decisions_queue_webhook_events_with_the_change(app_client: TestClient, customer, make_customer, ctx) -> None:
    silent = make_customer("NoHook")
    with ctx.db.write() as conn:
        conn.execute(sa.update(accounts).where(accounts.c.id == customer.account.id)
                     .values(webhook_url="https://hooks.example.com/in", webhook_secret="whsec_dGVzdA=="))
    a = _add(app_client, customer, "Acme")["_id"]
    b = _add(app_client, customer, "Acme Two")["_id"]
    c = _add(app_client, silent, "Acme")["_id"]
    business_names.approve(ctx, a, actor=OPERATOR)
    business_names.reject(ctx, b, reason="Show us your ABN", actor=OPERATOR)
    business_names.approve(ctx, c, actor=OPERATOR)  # no webhook: nothing queued
    with ctx.db.read() as conn:
        queued = conn.execute(sa.select(webhook_events).order_by(webhook_events.c.created_at)).all()
    by_type = {e.type: e for e in queued}
    assert set(by_type) == {"business_name.approved", "business_name.rejected"}
    assert all(e.account_id == customer.account.id for e in queued)
    assert by_type["business_name.approved"].payload["data"] == {
        "id": a, "businessname": "Acme", "status": "APPROVED"}
    assert by_type["business_name.rejected"].payload["data"] == {
        "id": b, "businessname": "Acme Two", "status": "REJECTED", "reason": "Show us your ABN"}


def test_a_refused_decision_writes_nothing(customer, ctx) -> None:
    name = business_names.request(ctx, customer.account, businessname="Acme", actor=CLI)
    business_names.approve(ctx, name.id, actor=OPERATOR)
    before = (_rows(ctx), _actions(ctx))
    for call in (
        lambda: business_names.approve(ctx, name.id, actor=OPERATOR),
        lambda: business_names.reject(ctx, name.id, reason="r", actor=OPERATOR),
        lambda: business_names.withdraw(ctx, customer.account, name.id, actor=OPERATOR),
    ):
        with pytest.raises(Conflict):
            call()
    assert (_rows(ctx), _actions(ctx)) == before


# -- listing ----------------------------------------------------------------------------------------


def test_list_filters_pages_and_keeps_to_the_account(
    app_client: TestClient, customer, make_customer, ctx, clock
) -> None:
    rival = make_customer("Rival")
    _add(app_client, rival, "Rival Co")
    made = []
    for i in range(7):
        made.append(_add(app_client, customer, f"Acme {i}")["_id"])
        if i % 2:
            clock.advance(seconds=1)  # some share a creation time: the id breaks the tie
    business_names.approve(ctx, made[3], actor=OPERATOR)

    def listing(**params: Any) -> dict[str, Any]:
        r = app_client.get(LIST, params=params, headers=customer.headers)
        assert r.status_code == 200, r.text
        assert r.json()["message"] == "Business names"
        data: dict[str, Any] = r.json()["data"]
        return data

    pages = [listing(limit=3, offset=o) for o in (0, 3, 6)]
    assert [p["total"] for p in pages] == [7, 7, 7]
    ids_in_order = [i["_id"] for p in pages for i in p["items"]]
    assert ids_in_order == [i.id for i in business_names.list_(ctx, account_id=customer.account.id, limit=10)[0]]
    assert sorted(ids_in_order) == sorted(made)
    approved = listing(status="approved")
    assert [i["_id"] for i in approved["items"]] == [made[3]] and approved["total"] == 1
    assert listing(status="REQUESTED")["total"] == 6
    assert pages[0]["items"][0] == app_client.get(
        f"/api/v1/business/{pages[0]['items'][0]['_id']}", headers=customer.headers).json()["data"]

    assert app_client.get(LIST, params={"status": "bogus"}, headers=customer.headers).status_code == 400
    assert app_client.get(LIST, params={"limit": 0}, headers=customer.headers).status_code == 400
    everyone, total = business_names.list_(ctx, limit=100)
    assert total == 8 and len(everyone) == 8


# -- the operator's CLI -----------------------------------------------------------------------------


def test_cli_list_approve_reject(run, customer, make_customer, ctx, clock) -> None:
    rival = make_customer("Rival")
    a = business_names.request(ctx, customer.account, businessname="Acme", customer_contact="0491 570 156",
                               actor=CLI)
    clock.advance(seconds=1)
    b = business_names.request(ctx, rival.account, businessname="Rival Co", actor=CLI)

    listing = run("business", "list")
    assert listing.exit_code == 0, listing.output
    lines = listing.stdout.splitlines()
    assert lines[0].split()[:5] == ["ID", "ACCOUNT", "ACCOUNT", "NAME", "STATUS"]
    assert [line.split()[0] for line in lines[1:]] == [a.id, b.id]
    assert "+614915***56" in lines[1] and "+61491570156" not in listing.stdout  # masked
    assert "REQUESTED" in lines[1] and "Acme" in lines[1] and "Rival" in lines[2]
    assert " UTC" in lines[1]
    as_json = json.loads(run("business", "list", "--json").stdout)
    assert [(r["id"], r["account"], r["customer_contact"]) for r in as_json] == [
        (a.id, "Acme", "+614915***56"), (b.id, "Rival", None)]

    approved = run("business", "approve", a.id)
    assert approved.exit_code == 0, approved.output
    assert approved.stdout == "" and "approved 'Acme'" in approved.stderr
    assert business_names.get(ctx, a.id).status == "APPROVED"
    assert business_names.get(ctx, a.id).decided_by == "cli"

    rejected = run("business", "reject", b.id, "--reason", "Show us your ABN")
    assert rejected.exit_code == 0, rejected.output
    assert (business_names.get(ctx, b.id).status, business_names.get(ctx, b.id).reason) == (
        "REJECTED", "Show us your ABN")

    requested_only = run("business", "list", "--status", "REQUESTED")
    assert requested_only.exit_code == 0 and requested_only.stdout == ""
    assert "no REQUESTED business names" in requested_only.stderr
    rejected_list = run("business", "list", "--status", "rejected")
    assert rejected_list.exit_code == 0 and b.id in rejected_list.stdout and "Show us your ABN" in rejected_list.stdout
    assert run("business", "list", "--account", customer.account.id).stdout.count("\n") == 2
    assert _actions(ctx)[-2:] == [("business_name.approved", "cli"), ("business_name.rejected", "cli")]


def test_cli_refusals_exit_1_and_usage_exits_2(run, customer, ctx) -> None:
    name = business_names.request(ctx, customer.account, businessname="Acme", actor=CLI)
    unknown = run("business", "approve", "0" * 24)
    assert unknown.exit_code == 1 and "No business name with id" in unknown.stderr
    assert run("business", "reject", "0" * 24, "--reason", "r").exit_code == 1
    assert run("business", "reject", name.id, "--reason", "  ").exit_code == 1
    assert run("business", "approve", name.id).exit_code == 0
    twice = run("business", "approve", name.id)
    assert twice.exit_code == 1 and "this one is APPROVED" in twice.stderr
    assert run("business", "reject", name.id, "--reason", "late").exit_code == 1

    assert run("business", "reject", name.id).exit_code == 2  # --reason is required
    assert run("business", "approve").exit_code == 2
    assert run("business", "list", "--status", "bogus").exit_code == 2
    assert business_names.get(ctx, name.id).status == "APPROVED"
