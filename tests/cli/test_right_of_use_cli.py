"""``senderid protect`` (add, list, remove, import, --end-holders) and ``account set``'s
--no-otp (which needs --reason) and --reverify-after-days."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from senderid.cli import common
from senderid.domain import accounts
from senderid.domain import custom_numbers as cn
from senderid.domain.types import CLI
from senderid.store.tables import audit_events


def _account(run, name: str = "Acme", *flags: str) -> str:
    created = run("account", "create", name, *flags)
    assert created.exit_code == 0, created.output
    return created.stdout.strip()


def test_protect_add_list_remove_import(run, tmp_path: Path) -> None:
    agency = _account(run, "Agency")
    done = run("protect", "add", "0491 570 159", "--account", agency, "--note", "Do Not Originate")
    assert done.exit_code == 0, done.output
    assert run("protect", "add", "+6149157*").exit_code == 0
    listed = json.loads(run("protect", "list", "--json").stdout)
    assert [(e["kind"], e["value"], e["accounts"], e["note"]) for e in listed] == [
        ("number", "+61491570159", [agency], "Do Not Originate"), ("prefix", "+6149157*", [], None)]
    assert "+6149157*" in run("protect", "list").stdout

    bad = run("protect", "add", "0491 570")
    assert bad.exit_code == 1 and "not a valid mobile number" in bad.output
    assert run("protect", "remove", "+6149157*").exit_code == 0
    assert run("protect", "remove", "+6149157*").exit_code == 1

    file = tmp_path / "protected.csv"
    file.write_text(f"value,accounts,note\nANZ,{agency} ,a bank\nWestpac,,\n", encoding="utf-8")
    imported = run("protect", "import", str(file))
    assert imported.exit_code == 0, imported.output
    names = {e["value"]: e["accounts"] for e in json.loads(run("protect", "list", "--json").stdout)}
    assert names == {"+61491570159": [agency], "ANZ": [agency], "Westpac": []}
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("value,accounts,note\nCommBank,,\nNAB," + "0" * 24 + ",\n", encoding="utf-8")
    assert run("protect", "import", str(wrong)).exit_code == 1
    assert "CommBank" not in run("protect", "list").stdout  # a row refused: nothing of the file is kept


def test_protect_lists_and_ends_the_holders(run) -> None:
    holder = _account(run, "Holder", "--no-otp")
    ctx = common.context()
    registration = cn.add(ctx, accounts.get_account(ctx, holder), name="x", number="+61491570156", actor=CLI)
    listed = run("protect", "add", "+61491570156")
    assert listed.exit_code == 0 and f"held by: account {holder}" in listed.output
    assert cn.get_registration(common.context(), holder, registration.id).status == "active"
    ended = run("protect", "add", "+61491570156", "--end-holders")
    assert ended.exit_code == 0 and f"ended: account {holder}" in ended.output
    assert cn.get_registration(common.context(), holder, registration.id).status == "deleted"


def test_no_otp_needs_a_reason(run) -> None:
    account_id = _account(run)
    refused = run("account", "set", account_id, "--no-otp")
    assert refused.exit_code == 2 and "--reason" in refused.output
    assert accounts.get_account(common.context(), account_id).otp_required is True
    done = run("account", "set", account_id, "--no-otp", "--reason", "numbers checked with the carrier")
    assert done.exit_code == 0, done.output
    assert accounts.get_account(common.context(), account_id).otp_required is False
    with common.context().db.read() as conn:
        details = conn.execute(sa.select(audit_events.c.details).where(
            audit_events.c.action == "account.updated")).scalars().all()
    assert {"otp_required": False, "reason": "numbers checked with the carrier"} in details

    assert run("account", "set", account_id, "--reverify-after-days", "90").exit_code == 0
    assert accounts.get_account(common.context(), account_id).reverify_after_days == 90
    assert run("account", "set", account_id, "--reverify-after-days", "default").exit_code == 0
    assert accounts.get_account(common.context(), account_id).reverify_after_days is None
    assert run("account", "set", account_id, "--reverify-after-days", "-1").exit_code == 2
