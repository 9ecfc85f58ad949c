"""The CLI forms other tools script against, run in-process against a real database."""

from __future__ import annotations

import pytest

from senderid.cli import common
from senderid.domain import accounts


def test_account_and_key_lifecycle(run) -> None:  # type: ignore[no-untyped-def]
    created = run("account", "create", "Acme Pty Ltd", "--no-otp")
    assert created.exit_code == 0, created.output
    account_id = created.stdout.strip()
    assert len(account_id) == 24 and created.stdout == account_id + "\n"

    key_result = run("key", "create", account_id, "--expires-in-days", "30")
    assert key_result.exit_code == 0
    key = key_result.stdout.strip()
    assert key.startswith("sid_") and key_result.stdout == key + "\n"

    ctx = common.context()
    caller = accounts.authenticate(ctx, key)
    assert caller is not None and caller.account.id == account_id
    assert caller.account.otp_required is False

    assert run("account", "set", account_id, "--otp-required").exit_code == 0
    assert accounts.get_account(common.context(), account_id).otp_required is True

    listing = run("key", "list", account_id)
    assert listing.exit_code == 0 and key[:12] in listing.stdout and key not in listing.stdout
    assert "active" in listing.stdout

    assert run("key", "revoke", key).exit_code == 0
    assert accounts.authenticate(common.context(), key) is None
    assert "revoked" in run("key", "list", account_id).stdout

    second = run("key", "create", account_id).stdout.strip()
    key_id = accounts.list_keys(common.context(), account_id)[-1].id
    assert run("key", "revoke", key_id).exit_code == 0
    assert accounts.authenticate(common.context(), second) is None


def test_refusals_exit_1_and_usage_exits_2(run) -> None:  # type: ignore[no-untyped-def]
    missing = run("key", "create", "0" * 24)
    assert missing.exit_code == 1 and "No account" in missing.output
    assert run("key", "revoke", "sid_nope").exit_code == 1
    assert run("account", "set", "0" * 24).exit_code == 2
    assert run("account", "create").exit_code == 2


def test_db_upgrade_is_idempotent(run) -> None:  # type: ignore[no-untyped-def]
    assert run("db", "upgrade").exit_code == 0
    assert run("db", "upgrade").exit_code == 0


def test_account_credits(run) -> None:  # type: ignore[no-untyped-def]
    from senderid.domain import credits

    account_id = run("account", "create", "Prepaid").stdout.strip()
    done = run("account", "set", account_id, "--credits", "250.5")
    assert (done.exit_code, done.stderr) == (0, f"account {account_id}: credits=250.5\n")
    assert credits.balance(common.context(), account_id) == 250.5
    assert accounts.get_account(common.context(), account_id).prepaid is True
    done = run("account", "set", account_id, "--credits", "unlimited")
    assert (done.exit_code, done.stderr) == (0, f"account {account_id}: credits=unlimited\n")
    assert credits.balance(common.context(), account_id) is None
    bad = run("account", "set", account_id, "--credits", "lots")
    assert bad.exit_code == 2 and "--credits must be a number of credits or 'unlimited'" in bad.stderr
    refused = run("account", "set", account_id, "--credits", "-5")
    assert refused.exit_code == 1 and "credits must be a number from 0" in refused.output
    assert run("account", "set", "0" * 24, "--credits", "5").exit_code == 1
