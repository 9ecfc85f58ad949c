"""The console's CSV downloads (custom numbers, business names, the audit log), on both databases.

Every matching row, the page's filters, cells no spreadsheet runs as formulas, and
no OTP, API key or webhook secret in any of them.
"""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient

from senderid import otp
from senderid.api.app import create_app
from senderid.console import exports
from senderid.domain import accounts, audit, business_names, custom_numbers
from senderid.domain.context import Context
from senderid.domain.types import CLI
from tests.support.console_support import ADMIN_TOKEN

NUMBER, OTHER = "+61491570156", "+61491570157"
CODE = "938271"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"admin_token": ADMIN_TOKEN, "webhook_allow_private": True}




def table(client: TestClient, url: str) -> list[dict[str, str]]:
    r = client.get(url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"].startswith('attachment; filename="senderid-')
    assert r.content.startswith("\ufeff".encode())  # spreadsheets read UTF-8 by it
    return list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))


def test_numbers_follow_the_pages_filters_and_are_all_there(
    console: TestClient, ctx: Context, make_customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exports, "BATCH", 2)  # several reads per download
    direct = make_customer("Direct Pty Ltd", otp_required=False)
    other = make_customer("Other", otp_required=False)
    numbers = [f"+6149157{i:04d}" for i in range(5)]
    for i, number in enumerate(numbers):
        custom_numbers.add(ctx, direct.account, name=f"Line {i}", number=number, actor=CLI)
    custom_numbers.add(ctx, other.account, name="Theirs", number=OTHER, actor=CLI)

    rows = table(console, f"/console/numbers.csv?account_id={direct.account.id}")
    assert sorted(r["number"] for r in rows) == sorted(n[1:] for n in numbers)  # E.164 without +: not a formula
    assert {r["account"] for r in rows} == {"Direct Pty Ltd"} and {r["status"] for r in rows} == {"active"}
    assert list(rows[0]) == exports.NUMBER_COLUMNS
    assert rows[0]["created_at"].endswith("Z")
    assert len(table(console, "/console/numbers.csv")) == 6
    [found] = table(console, "/console/numbers.csv?number=0491 570 157")
    assert (found["name"], found["account"]) == ("Theirs", "Other")
    page = console.get(f"/console/numbers?account_id={direct.account.id}")
    assert f'href="/console/numbers.csv?account_id={direct.account.id}"' in page.text


def test_business_names_by_status_with_every_field(console: TestClient, ctx: Context, customer) -> None:
    shop = business_names.request(ctx, customer.account, businessname="Acme Shop", actor=CLI)
    cafe = business_names.request(ctx, customer.account, businessname="Bobs Cafe", customer_contact="0491 570 156",
                                  actor=CLI)
    business_names.approve(ctx, shop.id, actor=CLI)
    [waiting] = table(console, "/console/business-names.csv")  # like the page: REQUESTED unless told
    assert (waiting["id"], waiting["businessname"], waiting["status"]) == (cafe.id, "Bobs Cafe", "REQUESTED")
    assert waiting["customer_contact"] == NUMBER[1:] and waiting["account"] == "Acme"
    every = table(console, "/console/business-names.csv?status=")
    assert {r["businessname"]: r["status"] for r in every} == {"Acme Shop": "APPROVED", "Bobs Cafe": "REQUESTED"}
    assert [r["decided_by"] for r in every if r["status"] == "APPROVED"] == ["cli"]
    assert 'href="/console/business-names.csv?status=APPROVED&amp;account_id="' in console.get(
        "/console/business-names?status=APPROVED").text


def test_the_audit_log_pages_through_every_event_newest_first(
    console: TestClient, ctx: Context, customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exports, "AUDIT_BATCH", 3)
    with ctx.db.write() as conn:
        for i in range(7):
            audit.record(conn, at=ctx.clock.now(), actor=CLI, action="outbox.purged", status="dead",
                         older_than_days=i, deleted=0)
    rows = table(console, "/console/audit.csv?action=outbox.purged")
    assert [r["details"] for r in rows][:2] == [
        '{"deleted": 0, "older_than_days": 6, "status": "dead"}',
        '{"deleted": 0, "older_than_days": 5, "status": "dead"}',
    ]
    assert len(rows) == 7 and len({r["id"] for r in rows}) == 7
    assert list(rows[0]) == exports.AUDIT_COLUMNS
    everything = table(console, "/console/audit.csv")
    assert [r["action"] for r in everything].count("account.created") == 1
    created = next(r for r in everything if r["action"] == "account.created")
    assert (created["account"], created["actor"]) == ("Acme", "cli")
    refused = console.get("/console/audit.csv?since=yesterday")
    assert refused.status_code == 400 and "From must be a date and time" in refused.text


def test_cells_that_start_like_formulas_are_made_text(console: TestClient, ctx: Context) -> None:
    names = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "Plain = fine"]
    made = [accounts.create_account(ctx, name, otp_required=False, actor=CLI) for name in names]
    custom_numbers.add(ctx, made[0], name=names[0], number=NUMBER, actor=CLI)
    rows = table(console, "/console/numbers.csv")
    assert rows[0]["name"] == "'" + names[0] and rows[0]["account"] == "'" + names[0]
    created = {r["account"] for r in table(console, "/console/audit.csv?action=account.created")}
    assert created == {"'" + n for n in names[:4]} | {"Plain = fine"}
    assert rows[0]["number"] == NUMBER[1:]


def test_no_code_key_or_secret_is_exported(
    console: TestClient, ctx: Context, customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(otp, "generate_code", lambda: CODE)
    custom_numbers.add(ctx, customer.account, name="Support", number=NUMBER, actor=CLI)  # an OTP is sent
    _record, key = accounts.create_key(ctx, customer.account.id, actor=CLI)
    secret = accounts.set_webhook_url(ctx, customer.account.id, "http://127.0.0.1:9/hook", actor=CLI).new_secret
    assert secret
    business_names.request(ctx, customer.account, businessname="Acme Shop", actor=CLI)
    texts = [console.get(url).content.decode("utf-8-sig") for url in (
        "/console/numbers.csv", "/console/business-names.csv?status=", "/console/audit.csv")]
    assert all(len(t.splitlines()) > 1 for t in texts)
    for text in texts:
        for forbidden in (CODE, key, customer.key, secret, secret.removeprefix("whsec_")):
            assert forbidden not in text


def test_downloads_need_a_session(ctx: Context) -> None:
    client = TestClient(create_app(ctx.settings, context=ctx, run_worker=False))
    for url in ("/console/numbers.csv", "/console/business-names.csv", "/console/audit.csv"):
        r = client.get(url, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, "/console/login")
