"""ACMA's SMS Sender ID Register: the registrant and evidence of a business-name request, the
account defaults, the register status operators record, the export, on both databases.

The sending policy (SENDERID_UNREGISTERED_ALPHA) is in tests/domain/test_acma_policy.py.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from senderid.clock import iso_ms
from senderid.domain import abn, acma, business_names, registrant
from senderid.domain.types import CLI, Actor
from senderid.errors import Conflict, InvalidRequest, NotFound
from senderid.store.tables import accounts, audit_events, webhook_events
from senderid.store.tables import business_names as business_table
from tests.api.test_contract import documented

ADD = "/api/v1/business/add"
LIST = "/api/v1/business/list"
OPERATOR = Actor("operator")
T0 = "2026-01-01T00:00:00.000Z"
ADDED = "Request added successfully for business name!"
ABN = "51 824 753 556"
ABN_DIGITS = "51824753556"
ADMIN_TOKEN = "admin-" + "r" * 40
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
FULL = {"abn": ABN, "entityName": "Acme Pty Ltd", "useCase": "business_name", "useCaseReference": "BN 1234567"}


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"admin_token": ADMIN_TOKEN}


def _ok(r) -> Any:
    assert r.status_code == 200, r.text
    return r.json()["data"]


def _rows(ctx) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(business_table))]


def _audit(ctx, action: str) -> list[Any]:
    with ctx.db.read() as conn:
        return conn.execute(
            sa.select(audit_events).where(audit_events.c.action == action).order_by(audit_events.c.id)
        ).all()


def _hook(ctx, account_id: str) -> None:
    with ctx.db.write() as conn:
        conn.execute(sa.update(accounts).where(accounts.c.id == account_id)
                     .values(webhook_url="https://hooks.example.com/in", webhook_secret="whsec_dGVzdA=="))


# -- the ABN rule (ATO check digits) ---------------------------------------------------------------

VALID_ABNS = [
    "51824753556",     # the ATO's own example
    "51 824 753 556",  # as the ATO writes it
    "33051775556", "49004028077", "11005357522", "88000014675", "53004085616", "12004044937",
    "33 102 417 032", "5 1 8 2 4 7 5 3 5 5 6",
]
INVALID_ABNS = [
    ("51824753557", "check digits"),    # the last digit off by one
    ("15824753556", "check digits"),    # two digits swapped
    ("51824753565", "check digits"),
    ("00000000000", "check digits"),
    ("99999999999", "check digits"),
    ("5182475355", "11 digits"),        # 10 digits
    ("518247535566", "11 digits"),      # 12 digits
    ("51-824-753-556", "11 digits"),    # dashes are not spaces
    ("5182475355A", "11 digits"),
    ("５１８２４７５３５５６", "11 digits"),  # full-width digits are not ASCII
    ("51\t824753556", "11 digits"),
]


@pytest.mark.parametrize("value", VALID_ABNS)
def test_valid_abns(value: str) -> None:
    assert abn.normalise(value) == value.replace(" ", "")
    assert abn.is_valid(value.replace(" ", ""))


@pytest.mark.parametrize(("value", "rule"), INVALID_ABNS)
def test_invalid_abns_say_which_rule(value: str, rule: str) -> None:
    with pytest.raises(abn.InvalidAbn, match=rule):
        abn.normalise(value)


def test_the_rule_is_the_atos_weighted_sum() -> None:
    # (5-1)*10 + 1*1 + 8*3 + 2*5 + 4*7 + 7*9 + 5*11 + 3*13 + 5*15 + 5*17 + 6*19 = 534 = 6 * 89
    assert sum(w * d for w, d in zip(abn.WEIGHTS, [4, 1, 8, 2, 4, 7, 5, 3, 5, 5, 6], strict=False)) == 534 == 6 * 89
    assert abn.formatted(ABN_DIGITS) == ABN


# -- business/add: the fields --------------------------------------------------------------------


def test_the_documented_200_body_is_unchanged_by_the_register_fields(app_client: TestClient, customer, ctx) -> None:
    r = app_client.post(ADD, json={"businessname": "Acme Shop", **FULL}, headers=customer.headers)
    assert r.status_code == 200
    record_id = r.json()["data"]["_id"]
    assert r.json() == documented(
        status=True, show_message=0, message=ADDED, error={},
        data={
            "isDeleted": False, "isDefault": False, "_id": record_id, "businessname": "Acme Shop",
            "user": customer.account.id, "requestedAt": T0, "status": "REQUESTED",
            "createdBy": customer.account.id, "createdAt": T0, "updatedAt": T0, "__v": 0,
        },
    )
    (row,) = _rows(ctx)
    assert (row["abn"], row["entity_name"], row["use_case"], row["use_case_reference"], row["acma_status"]) == (
        ABN_DIGITS, "Acme Pty Ltd", "business_name", "BN 1234567", "not_submitted")


def test_get_and_list_show_the_register_fields(app_client: TestClient, customer) -> None:
    full = _ok(app_client.post(ADD, json={"businessname": "Acme", **FULL}, headers=customer.headers))["_id"]
    bare = _ok(app_client.post(ADD, json={"businessname": "Acme Two"}, headers=customer.headers))["_id"]
    one = _ok(app_client.get(f"/api/v1/business/{full}", headers=customer.headers))
    assert {k: one[k] for k in ("abn", "entityName", "useCase", "useCaseReference", "acmaStatus",
                                "acmaReference", "acmaUpdatedAt")} == {
        "abn": ABN_DIGITS, "entityName": "Acme Pty Ltd", "useCase": "business_name",
        "useCaseReference": "BN 1234567", "acmaStatus": "not_submitted", "acmaReference": None,
        "acmaUpdatedAt": None}
    items = _ok(app_client.get(LIST, headers=customer.headers))["items"]
    assert [i["_id"] for i in items] == [full, bare]
    assert items[0] == one
    assert (items[1]["abn"], items[1]["entityName"], items[1]["useCase"], items[1]["acmaStatus"]) == (
        None, None, None, "not_submitted")


@pytest.mark.parametrize(
    ("fields", "stored"),
    [
        ({"abn": "51824753556"}, {"abn": ABN_DIGITS}),
        ({"abn": 51824753556}, {"abn": ABN_DIGITS}),  # a JSON number is the same 11 digits
        ({"abn": " 51 824 753 556 "}, {"abn": ABN_DIGITS}),
        ({"abn": "", "entityName": "  ", "useCase": None}, {"abn": None, "entity_name": None, "use_case": None}),
        ({"entityName": "  Acme Pty Ltd  "}, {"entity_name": "Acme Pty Ltd"}),
        (
            {"useCase": "TradeMark", "useCaseReference": "1234567"},
            {"use_case": "trademark", "use_case_reference": "1234567"},
        ),
        ({"useCase": "company_name", "useCaseReference": "ACN 004 085 616"}, {"use_case": "company_name"}),
        ({"useCase": "domain", "useCaseReference": "Acme.COM.au"}, {"use_case_reference": "acme.com.au"}),
        ({"useCase": "domain", "useCaseReference": "acme.au"}, {"use_case_reference": "acme.au"}),
        (
            {"useCase": "domain", "useCaseReference": "shop.acme-group.net.au"},
            {"use_case_reference": "shop.acme-group.net.au"},
        ),
        ({"useCase": "domain"}, {"use_case": "domain", "use_case_reference": None}),  # the evidence can follow
    ],
)
def test_accepted_register_fields(app_client: TestClient, customer, ctx, fields, stored) -> None:
    _ok(app_client.post(ADD, json={"businessname": "Acme", **fields}, headers=customer.headers))
    (row,) = _rows(ctx)
    assert {k: row[k] for k in stored} == stored


@pytest.mark.parametrize(("fields", "message"), [
    ({"abn": ABN.replace("556", "557")}, "abn is not valid: this is not a valid ABN: its check digits do not match"),
    ({"abn": "5182475355"}, "abn is not valid: an ABN is 11 digits (spaces allowed)"),
    ({"abn": "ABN 51824753556"}, "abn is not valid: an ABN is 11 digits"),
    ({"abn": True}, "abn must be a string"),
    ({"abn": ["51824753556"]}, "abn must be a string"),
    ({"entityName": 5}, "entityName must be a string of 1 to 200 characters"),
    ({"entityName": "x" * 201}, "entityName must be 1 to 200 characters"),
    ({"entityName": "Acme\nPty"}, "entityName must not contain control characters"),
    ({"entityName": "=HYPERLINK(1)"}, "entityName must not start with =, +, - or @"),
    ({"useCase": "abn"}, "useCase must be one of business_name, company_name, trademark, domain"),
    ({"useCase": 1}, "useCase must be one of"),
    ({"useCaseReference": "BN 1"}, "useCaseReference needs a useCase"),
    ({"useCase": "trademark", "useCaseReference": "x" * 254}, "useCaseReference must be 1 to 253 characters"),
    ({"useCase": "domain", "useCaseReference": "acme.com"}, "useCaseReference must be a domain name ending in .au"),
    ({"useCase": "domain", "useCaseReference": "https://acme.com.au"}, "ending in .au"),
    ({"useCase": "domain", "useCaseReference": "acme.com.au/shop"}, "ending in .au"),
    ({"useCase": "domain", "useCaseReference": "au"}, "ending in .au"),
    ({"useCase": "domain", "useCaseReference": "acme..com.au"}, "ending in .au"),
    ({"useCase": "domain", "useCaseReference": "-acme.com.au"}, "must not start with"),
    ({"useCase": "domain", "useCaseReference": "acme-.com.au"}, "ending in .au"),
    ({"useCase": "domain", "useCaseReference": "acme.au."}, "ending in .au"),
])
def test_refused_register_fields_name_the_field_and_rule(
    app_client: TestClient, customer, ctx, fields, message
) -> None:
    r = app_client.post(ADD, json={"businessname": "Acme", **fields}, headers=customer.headers)
    assert r.status_code == 400, r.text
    body = r.json()
    assert (body["status"], body["show_message"]) == (False, 1)
    assert message in body["message"], body["message"]
    assert body["error"] == {"error": body["message"]}
    assert _rows(ctx) == [] and _audit(ctx, "business_name.requested") == []


def test_a_missing_name_is_still_the_documented_answer_first(app_client: TestClient, customer) -> None:
    r = app_client.post(ADD, json={"abn": "nonsense", "useCase": "bogus"}, headers=customer.headers)
    assert (r.status_code, r.json()["message"], r.json()["data"]) == (400, "Busniess Name is required!", 400)


def test_the_request_is_audited_with_its_register_fields(app_client: TestClient, customer, ctx) -> None:
    _ok(app_client.post(ADD, json={"businessname": "Acme", **FULL}, headers=customer.headers))
    (event,) = _audit(ctx, "business_name.requested")
    assert event.details == {"businessname": "Acme", "customer_contact": None, "abn": ABN_DIGITS,
                             "entity_name": "Acme Pty Ltd", "use_case": "business_name",
                             "use_case_reference": "BN 1234567"}


# -- account defaults --------------------------------------------------------------------------------


def test_account_defaults_fill_what_a_request_omits(app_client: TestClient, customer, run, ctx) -> None:
    done = run("account", "set", customer.account.id, "--abn", ABN, "--entity-name", "Acme Pty Ltd")
    assert done.exit_code == 0, done.output
    assert done.stdout == "" and f"abn={ABN_DIGITS} entity_name=Acme Pty Ltd" in done.stderr
    assert registrant.get_defaults(ctx, customer.account.id) == registrant.Defaults(ABN_DIGITS, "Acme Pty Ltd")
    (event,) = _audit(ctx, "account.registrant_updated")
    assert (event.actor, event.details) == ("cli", {"abn": ABN_DIGITS, "entity_name": "Acme Pty Ltd"})

    omitted = _ok(app_client.post(ADD, json={"businessname": "Acme"}, headers=customer.headers))["_id"]
    own = _ok(app_client.post(ADD, json={"businessname": "Acme Two", "abn": "33 051 775 556",
                                         "entityName": "Acme Two Pty Ltd"}, headers=customer.headers))["_id"]
    half = _ok(app_client.post(ADD, json={"businessname": "Acme Three", "entityName": "Trading Trust"},
                               headers=customer.headers))["_id"]
    got = {i: business_names.get(ctx, i) for i in (omitted, own, half)}
    assert (got[omitted].abn, got[omitted].entity_name) == (ABN_DIGITS, "Acme Pty Ltd")
    assert (got[own].abn, got[own].entity_name) == ("33051775556", "Acme Two Pty Ltd")
    assert (got[half].abn, got[half].entity_name) == (ABN_DIGITS, "Trading Trust")

    # one flag alone changes only its field; '' clears
    assert run("account", "set", customer.account.id, "--entity-name", "").exit_code == 0
    assert registrant.get_defaults(ctx, customer.account.id) == registrant.Defaults(ABN_DIGITS, None)


def test_account_set_refuses_a_bad_abn_and_changes_nothing(customer, run, ctx) -> None:
    bad = run("account", "set", customer.account.id, "--no-otp-required", "--reason", "vouched for", "--abn",
              "51 824 753 557",
              "--entity-name", "Acme Pty Ltd")
    assert bad.exit_code == 1 and "--abn is not valid" in bad.stderr
    assert registrant.get_defaults(ctx, customer.account.id) == registrant.Defaults(None, None)
    assert _audit(ctx, "account.registrant_updated") == []
    with ctx.db.read() as conn:
        assert conn.execute(sa.select(accounts.c.otp_required)).scalar_one() is True
    assert run("account", "set", "0" * 24, "--abn", ABN).exit_code == 1


def test_admin_api_sets_and_shows_account_defaults(app_client: TestClient, customer, ctx) -> None:
    path = f"/admin/v1/accounts/{customer.account.id}"
    body = _ok(app_client.patch(path, json={"abn": ABN, "entity_name": "Acme Pty Ltd"}, headers=ADMIN))
    assert (body["abn"], body["entity_name"], body["otp_required"]) == (ABN_DIGITS, "Acme Pty Ltd", True)
    assert _ok(app_client.get(path, headers=ADMIN))["abn"] == ABN_DIGITS
    refused = app_client.patch(path, json={"abn": "123", "otp_required": False, "reason": "vouched for"},
                               headers=ADMIN)
    assert refused.status_code == 400 and refused.json()["message"].startswith("abn is not valid")
    assert _ok(app_client.get(path, headers=ADMIN))["otp_required"] is True  # nothing changed
    cleared = _ok(app_client.patch(path, json={"entity_name": None}, headers=ADMIN))
    assert (cleared["abn"], cleared["entity_name"]) == (ABN_DIGITS, None)
    assert [e.actor for e in _audit(ctx, "account.registrant_updated")] == ["admin-api", "admin-api"]


# -- the register status ------------------------------------------------------------------------------


def test_acma_status_through_the_cli(app_client: TestClient, customer, run, ctx) -> None:
    _hook(ctx, customer.account.id)
    name = business_names.request(ctx, customer.account, businessname="Acme", actor=CLI, **{
        "abn": ABN, "entity_name": "Acme Pty Ltd", "use_case": "business_name", "use_case_reference": "BN 1"})
    business_names.approve(ctx, name.id, actor=OPERATOR)
    submitted = run("business", "acma", name.id, "--status", "submitted", "--reference", "APP-0001")
    assert submitted.exit_code == 0, submitted.output
    assert "'Acme'" in submitted.stderr and "submitted" in submitted.stderr and "APP-0001" in submitted.stderr
    assert run("business", "acma", name.id, "--status", "REGISTERED").exit_code == 0  # reference kept

    got = business_names.get(ctx, name.id)
    assert (got.acma_status, got.acma_reference, got.acma_updated_by) == ("registered", "APP-0001", "cli")
    assert got.acma_updated_at is not None  # the CLI's own clock: the real time
    api = _ok(app_client.get(f"/api/v1/business/{name.id}", headers=customer.headers))
    assert (api["acmaStatus"], api["acmaReference"], api["acmaUpdatedAt"]) == (
        "registered", "APP-0001", iso_ms(got.acma_updated_at))

    events = _audit(ctx, acma.EVENT)
    assert [(e.actor, e.details["previous_acma_status"], e.details["acma_status"], e.details["acma_reference"])
            for e in events] == [("cli", "not_submitted", "submitted", "APP-0001"),
                                 ("cli", "submitted", "registered", "APP-0001")]
    with ctx.db.read() as conn:
        hooks = conn.execute(sa.select(webhook_events).where(webhook_events.c.type == acma.EVENT)
                             .order_by(webhook_events.c.created_at)).all()
    assert [h.payload["data"] for h in hooks] == [
        {"id": name.id, "businessname": "Acme", "status": "APPROVED", "acmaStatus": "submitted",
         "acmaReference": "APP-0001", "acmaAuthorisedProviders": []},
        {"id": name.id, "businessname": "Acme", "status": "APPROVED", "acmaStatus": "registered",
         "acmaReference": "APP-0001", "acmaAuthorisedProviders": []},
    ]

    # the same again changes nothing and writes nothing
    assert run("business", "acma", name.id, "--status", "registered").exit_code == 0
    assert len(_audit(ctx, acma.EVENT)) == 2
    # '' clears the reference
    assert run("business", "acma", name.id, "--status", "registered", "--reference", "").exit_code == 0
    assert business_names.get(ctx, name.id).acma_reference is None


def test_acma_status_refusals(customer, run, ctx) -> None:
    name = business_names.request(ctx, customer.account, businessname="Acme", actor=CLI)
    usage = run("business", "acma", name.id, "--status", "approved")
    assert usage.exit_code == 2
    assert run("business", "acma", name.id).exit_code == 2  # --status is required
    unknown = run("business", "acma", "0" * 24, "--status", "submitted")
    assert unknown.exit_code == 1 and "No business name with id" in unknown.stderr
    long = run("business", "acma", name.id, "--status", "submitted", "--reference", "x" * 101)
    assert long.exit_code == 1 and "reference must be at most 100 characters" in long.stderr
    business_names.reject(ctx, name.id, reason="Show us your ABN", actor=OPERATOR)
    rejected = run("business", "acma", name.id, "--status", "submitted")
    assert rejected.exit_code == 1 and "this one is REJECTED" in rejected.stderr
    with pytest.raises(InvalidRequest, match="status must be one of not_submitted, submitted, registered, refused"):
        acma.set_status(ctx, name.id, status="done", actor=OPERATOR)
    with pytest.raises(Conflict):
        acma.set_status(ctx, name.id, status="submitted", actor=OPERATOR)
    with pytest.raises(NotFound):
        acma.set_status(ctx, "nonsense", status="submitted", actor=OPERATOR)
    assert business_names.get(ctx, name.id).acma_status == "not_submitted"
    assert _audit(ctx, acma.EVENT) == []


def test_acma_status_on_a_requested_name_and_through_the_admin_api(
    app_client: TestClient, customer, ctx, clock
) -> None:
    name = business_names.request(ctx, customer.account, businessname="Acme", actor=CLI)
    path = f"/admin/v1/business-names/{name.id}"
    body = _ok(app_client.post(f"{path}/acma", json={"status": "submitted", "reference": "APP-7"}, headers=ADMIN))
    assert (body["status"], body["acmaStatus"], body["acmaReference"], body["acmaUpdatedBy"]) == (
        "REQUESTED", "submitted", "APP-7", "admin-api")
    clock.advance(seconds=5)
    _ok(app_client.post(f"{path}/acma", json={"status": "refused"}, headers=ADMIN))
    history = _ok(app_client.get(f"{path}/acma", headers=ADMIN))
    assert (history["acmaStatus"], history["acmaReference"]) == ("refused", "APP-7")
    assert history["items"] == [
        {"at": "2026-01-01T00:00:05.000Z", "by": "admin-api", "acmaStatus": "refused", "acmaReference": "APP-7",
         "acmaAuthorisedProviders": []},
        {"at": T0, "by": "admin-api", "acmaStatus": "submitted", "acmaReference": "APP-7",
         "acmaAuthorisedProviders": []},
    ]
    bad = app_client.post(f"{path}/acma", json={"status": "registered", "reference": 5}, headers=ADMIN)
    assert bad.status_code == 400 and bad.json()["message"].startswith("reference must be a string")
    assert app_client.post(f"{path}/acma", json={}, headers=ADMIN).status_code == 400
    assert app_client.get(f"/admin/v1/business-names/{'0' * 24}/acma", headers=ADMIN).status_code == 404
    assert business_names.get(ctx, name.id).acma_status == "refused"


def test_approving_without_register_fields_says_what_is_missing(customer, run, ctx) -> None:
    bare = business_names.request(ctx, customer.account, businessname="Acme", actor=CLI)
    half = business_names.request(ctx, customer.account, businessname="Acme Two", abn=ABN,
                                  use_case="domain", actor=CLI)
    full = business_names.request(ctx, customer.account, businessname="Acme Three", abn=ABN,
                                  entity_name="Acme Pty Ltd", use_case="domain",
                                  use_case_reference="acme.com.au", actor=CLI)
    said = run("business", "approve", bare.id)
    assert said.exit_code == 0
    assert "it still lacks: abn, entityName, useCase, useCaseReference" in said.stderr
    assert "it still lacks: entityName, useCaseReference" in run("business", "approve", half.id).stderr
    complete = run("business", "approve", full.id)
    assert complete.exit_code == 0 and "lacks" not in complete.stderr
    assert {business_names.get(ctx, i).status for i in (bare.id, half.id, full.id)} == {"APPROVED"}


# -- the export ------------------------------------------------------------------------------------------


def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_export_for_the_register(app_client: TestClient, customer, make_customer, run, ctx, clock) -> None:
    rival = make_customer("Rival")
    a = business_names.request(ctx, customer.account, businessname="Acme", customer_contact="0491 570 156",
                               abn=ABN, entity_name='Acme "Shops", Pty Ltd', use_case="business_name",
                               use_case_reference="BN 1", actor=CLI)
    clock.advance(seconds=1)
    business_names.request(ctx, rival.account, businessname="Rival Co", actor=CLI)
    clock.advance(seconds=1)
    c = business_names.request(ctx, rival.account, businessname="Rival Two", actor=CLI)
    business_names.approve(ctx, a.id, actor=OPERATOR)
    business_names.reject(ctx, c.id, reason="No", actor=OPERATOR)

    everything = run("business", "export", "--acma")
    assert everything.exit_code == 0, everything.output
    rows = _csv(everything.stdout)
    assert rows[0] == ["Sender ID", "Entity name", "ABN", "Use case", "Use case reference", "Customer contact",
                       "Account"]
    assert rows[1:] == [
        ["Acme", 'Acme "Shops", Pty Ltd', ABN_DIGITS, "business_name", "BN 1", "61491570156", customer.account.id],
        ["Rival Co", "", "", "", "", "", rival.account.id],
    ]
    approved = run("business", "export", "--acma", "--status", "approved")
    assert approved.exit_code == 0 and _csv(approved.stdout)[1:] == [rows[1]]
    assert _csv(run("business", "export", "--acma", "--status", "REJECTED").stdout)[1:] == [
        ["Rival Two", "", "", "", "", "", rival.account.id]]
    assert run("business", "export").exit_code == 2  # the format is named
    assert run("business", "export", "--acma", "--status", "bogus").exit_code == 2

    admin = app_client.get("/admin/v1/business-names/export.csv", params={"status": "approved"}, headers=ADMIN)
    assert admin.status_code == 200 and admin.headers["content-type"].startswith("text/csv")
    assert admin.text == approved.stdout
    assert app_client.get("/admin/v1/business-names/export.csv", params={"status": "x"},
                          headers=ADMIN).status_code == 400
    assert app_client.get("/admin/v1/business-names/export.csv").status_code == 401


def test_export_of_nothing_is_the_header(run) -> None:
    done = run("business", "export", "--acma")
    assert done.exit_code == 0 and _csv(done.stdout) == [list(acma.HEADER)]
