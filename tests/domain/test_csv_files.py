"""Every CSV the project writes, through one writer (senderid.csvfile), with one rule: no cell
is a formula to a spreadsheet, a phone number is its E.164 digits without the ``+``.

The outputs: ACMA's register export from the CLI, the admin API and the console, and the
console's custom numbers, business names and audit downloads. Each gets the same hostile
values: a business name ``-A1``, a customer contact (``+61...`` in storage), and register
fields and an account name that start like formulas (the entity name and the reference as
rows written before their input rules refused such values: the writer does not lean on them).
"""

from __future__ import annotations

import ast
import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from senderid import csvfile
from senderid.api.app import create_app
from senderid.domain import accounts, acma, business_names, custom_numbers
from senderid.domain.context import Context
from senderid.domain.types import CLI
from senderid.store.tables import business_names as business_table
from tests.support.console_support import ADMIN_TOKEN, csrf_of

CONTACT = "+61491570156"
CONTACT_CELL = "61491570156"
HOSTILE_NAME = "-A1"
HOSTILE_ENTITY = "=HYPERLINK(\"http://evil.example\",\"Acme\")"
HOSTILE_REFERENCE = "@SUM(1+1)*cmd|' /C calc'!A0"
HOSTILE_ACCOUNT = "+Acme"
SRC = Path(__file__).parents[2] / "src" / "senderid"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"admin_token": ADMIN_TOKEN}


@pytest.fixture
def client(ctx: Context) -> TestClient:
    """The app, signed in to the console (the admin API takes the same token as a header)."""
    client = TestClient(create_app(ctx.settings, context=ctx, run_worker=False), raise_server_exceptions=False)
    form = client.get("/console/login")
    r = client.post("/console/login", data={"csrf": csrf_of(form.text), "token": ADMIN_TOKEN},
                    follow_redirects=False)
    assert r.status_code == 303
    return client


@pytest.fixture
def hostile(ctx: Context) -> str:
    """A hostile business name of a hostile account, approved; returns its id."""
    account = accounts.create_account(ctx, HOSTILE_ACCOUNT, otp_required=False, actor=CLI)
    name = business_names.request(ctx, account, businessname=HOSTILE_NAME, customer_contact="0491 570 156",
                                  use_case="trademark", use_case_reference="TM 1", actor=CLI)
    business_names.approve(ctx, name.id, actor=CLI)
    with ctx.db.write() as conn:
        conn.execute(sa.update(business_table).where(business_table.c.id == name.id).values(
            entity_name=HOSTILE_ENTITY, use_case_reference=HOSTILE_REFERENCE))
    return name.id


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.removeprefix(csvfile.BOM))))


def _cli(run: Callable[..., object]) -> str:
    done = run("business", "export", "--acma")
    assert done.exit_code == 0, done.output
    return done.stdout


def _get(client: TestClient, url: str, headers: dict[str, str] | None = None) -> str:
    r = client.get(url, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    return r.text


ACMA_OUTPUTS: dict[str, Callable[[TestClient, Callable[..., object]], str]] = {
    "cli": lambda client, run: _cli(run),
    "admin": lambda client, run: _get(client, "/admin/v1/business-names/export.csv",
                                      {"Authorization": f"Bearer {ADMIN_TOKEN}"}),
    "console": lambda client, run: _get(client, "/console/business-names/export.csv"),
}


@pytest.mark.parametrize("output", sorted(ACMA_OUTPUTS))
def test_the_register_export_has_no_formula_cells(client: TestClient, run, hostile: str, output: str) -> None:
    text = ACMA_OUTPUTS[output](client, run)
    rows = _rows(text)
    assert rows[0] == list(acma.HEADER)
    [row] = rows[1:]
    assert row[:6] == ["'" + HOSTILE_NAME, "'" + HOSTILE_ENTITY, "", "trademark", "'" + HOSTILE_REFERENCE,
                       CONTACT_CELL]
    assert not text.startswith(csvfile.BOM) and text.endswith("\n") and "\r" not in text  # the format as it was
    assert CONTACT not in text


CONSOLE_OUTPUTS = {
    "numbers": "/console/numbers.csv",
    "business-names": "/console/business-names.csv?status=",
    "audit": "/console/audit.csv",
}


@pytest.mark.parametrize("output", sorted(CONSOLE_OUTPUTS))
def test_the_console_downloads_have_no_formula_cells(client: TestClient, ctx: Context, hostile: str,
                                                     output: str) -> None:
    account = accounts.create_account(ctx, "Direct", otp_required=False, actor=CLI)
    custom_numbers.add(ctx, account, name="=1+2", number=CONTACT, actor=CLI)
    text = _get(client, CONSOLE_OUTPUTS[output])
    assert text.startswith(csvfile.BOM) and text.endswith("\r\n")
    cells = [c for row in _rows(text) for c in row]
    assert len(cells) > 10
    assert [c for c in cells if c.startswith(csvfile.FORMULA_STARTS)] == []
    if output != "audit":  # (the audit's details are one JSON cell, which starts with "{")
        assert CONTACT not in text
    expected = {
        "numbers": {CONTACT_CELL, "'=1+2", "Direct"},
        "business-names": {"'" + HOSTILE_NAME, CONTACT_CELL, "'" + HOSTILE_ENTITY, "'" + HOSTILE_ACCOUNT},
        "audit": {"'" + HOSTILE_ACCOUNT, "Direct"},
    }[output]
    assert expected <= set(cells)


@pytest.mark.unit
@pytest.mark.parametrize("value,written", [
    ("-A1", "'-A1"), ("+1+1", "'+1+1"), ("=SUM(A1)", "'=SUM(A1)"), ("@x", "'@x"), ("\tTab", "'\tTab"),
    ("\rx", "'\rx"), ("-", "'-"), ("Plain = fine", "Plain = fine"), ("", ""), (None, ""), (42, "42"),
    (-1, "'-1"), (True, "true"), ({"b": "+1", "a": 1}, '{"a": 1, "b": "+1"}'),
    (csvfile.Phone(CONTACT), CONTACT_CELL), (csvfile.Phone("+1-2"), "'+1-2"), (csvfile.Phone("-1"), "'-1"),
])
def test_a_cell(value: object, written: str) -> None:
    assert csvfile.cell(value) == written


@pytest.mark.unit
def test_one_module_writes_csv() -> None:
    """Only senderid.csvfile imports the csv module: every CSV goes through its rule."""
    importers = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) else [])
            if "csv" in names:
                importers.add(path.relative_to(SRC).as_posix())
    assert importers == {"csvfile.py"}
