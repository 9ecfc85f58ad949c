"""The console's side of ACMA's SMS Sender ID Register: the review page shows a name's
registrant, evidence, register status and what the register still needs; an operator records
the status there, downloads the register's CSV, and sets an account's default registrant."""

from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from senderid.domain import business_names, registrant
from senderid.domain.context import Context
from senderid.domain.types import CLI, Actor
from senderid.store.tables import audit_events
from tests.console.test_console_security import console, sign_in  # noqa: F401  (the fixture)
from tests.support.console_support import ADMIN_TOKEN

ABN = "51 824 753 556"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"admin_token": ADMIN_TOKEN}


def _actors(ctx: Context, action: str) -> list[str]:
    with ctx.db.read() as conn:
        return list(conn.execute(sa.select(audit_events.c.actor).where(audit_events.c.action == action)).scalars())


def test_review_page_shows_the_register_and_records_its_status(console: TestClient, ctx: Context, customer) -> None:
    bare = business_names.request(ctx, customer.account, businessname="Acme", actor=CLI)
    full = business_names.request(ctx, customer.account, businessname="Acme Two", abn=ABN,
                                  entity_name="Acme Pty Ltd", use_case="domain",
                                  use_case_reference="acme.com.au", actor=CLI)
    csrf = sign_in(console)
    page = console.get("/console/business-names")
    assert page.status_code == 200
    assert "Missing for ACMA's register: abn, entityName, useCase, useCaseReference." in page.text
    assert "Acme Pty Ltd" in page.text and "51824753556" in page.text and "acme.com.au" in page.text
    assert page.text.count("Missing for ACMA") == 1  # the complete one needs nothing
    assert f'action="/console/business-names/{bare.id}/acma"' in page.text

    r = console.post(f"/console/business-names/{full.id}/acma",
                     data={"csrf": csrf, "acma_status": "registered", "acma_reference": "SID-42"},
                     follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/business-names?done=acma-updated"
    got = business_names.get(ctx, full.id)
    assert (got.acma_status, got.acma_reference, got.acma_updated_by) == ("registered", "SID-42", "console")
    assert _actors(ctx, "business_name.acma_updated") == ["console"]
    shown = console.get("/console/business-names?done=acma-updated")
    assert "Status on ACMA&#39;s SMS Sender ID Register recorded." in shown.text
    assert "badge-registered" in shown.text and "SID-42" in shown.text

    bad = console.post(f"/console/business-names/{bare.id}/acma",
                       data={"csrf": csrf, "acma_status": "approved", "acma_reference": ""})
    assert bad.status_code == 400 and "status must be one of" in bad.text
    assert business_names.get(ctx, bare.id).acma_status == "not_submitted"

    business_names.reject(ctx, bare.id, reason="No", actor=Actor("operator"))
    late = console.post(f"/console/business-names/{bare.id}/acma",
                        data={"csrf": csrf, "acma_status": "submitted", "acma_reference": ""})
    assert late.status_code == 409 and "this one is REJECTED" in late.text


def test_the_register_csv_download(console: TestClient, ctx: Context, customer) -> None:
    a = business_names.request(ctx, customer.account, businessname="Acme", abn=ABN, actor=CLI)
    business_names.request(ctx, customer.account, businessname="Acme Two", actor=CLI)
    business_names.approve(ctx, a.id, actor=Actor("operator"))
    sign_in(console)
    page = console.get("/console/business-names")
    assert 'href="/console/business-names/export.csv?status=APPROVED"' in page.text
    r = console.get("/console/business-names/export.csv?status=APPROVED")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert [row[:3] for row in rows[1:]] == [["Acme", "", "51824753556"]]
    everything = list(csv.reader(io.StringIO(console.get("/console/business-names/export.csv").text)))
    assert [row[0] for row in everything[1:]] == ["Acme", "Acme Two"]


def test_account_page_sets_the_default_registrant(console: TestClient, ctx: Context, customer) -> None:
    csrf = sign_in(console)
    path = f"/console/accounts/{customer.account.id}"
    assert 'action="' + path + '/registrant"' in console.get(path).text
    r = console.post(f"{path}/registrant", data={"csrf": csrf, "abn": ABN, "entity_name": "Acme Pty Ltd"},
                     follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"{path}?done=registrant-set"
    assert registrant.get_defaults(ctx, customer.account.id) == registrant.Defaults("51824753556", "Acme Pty Ltd")
    assert 'value="51824753556"' in console.get(path).text
    bad = console.post(f"{path}/registrant", data={"csrf": csrf, "abn": "123", "entity_name": "Other"})
    assert bad.status_code == 400 and "abn is not valid" in bad.text
    assert registrant.get_defaults(ctx, customer.account.id).entity_name == "Acme Pty Ltd"
    assert _actors(ctx, "account.registrant_updated") == ["console"]
