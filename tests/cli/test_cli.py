"""The CLI forms other tools script against, run in-process against a real database."""

from __future__ import annotations

import json
import re

from senderid.cli import common
from senderid.domain import accounts


def test_account_and_key_lifecycle(run) -> None:
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


def test_refusals_exit_1_and_usage_exits_2(run) -> None:
    missing = run("key", "create", "0" * 24)
    assert missing.exit_code == 1 and "No account" in missing.output
    assert run("key", "revoke", "sid_nope").exit_code == 1
    assert run("account", "set", "0" * 24).exit_code == 2
    assert run("account", "create").exit_code == 2


def test_db_upgrade_is_idempotent(run) -> None:
    assert run("db", "upgrade").exit_code == 0
    assert run("db", "upgrade").exit_code == 0


def test_account_credits(run) -> None:
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


def test_account_set_with_a_refused_balance_changes_nothing(run) -> None:
    account_id = run("account", "create", "Prepaid").stdout.strip()
    refused = run("account", "set", account_id, "--no-otp-required", "--reason", "vouched for", "--credits", "-5")
    assert refused.exit_code == 1 and "credits must be a number from 0" in refused.output
    assert "otp_required=false" not in refused.output
    assert accounts.get_account(common.context(), account_id).otp_required is True


def test_account_list_shows_names_and_times_with_their_zone(run) -> None:
    empty = run("account", "list")
    assert empty.exit_code == 0 and empty.stdout == "" and "no accounts yet" in empty.stderr
    assert run("account", "list", "--json").stdout == "[]\n"

    first = run("account", "create", "Acme Pty Ltd").stdout.strip()
    second = json.loads(run("account", "create", "Bravo", "--no-otp", "--json").stdout)
    listing = run("account", "list")
    assert listing.exit_code == 0, listing.output
    header, *rows = listing.stdout.splitlines()
    assert header.split() == ["ID", "NAME", "OTP", "STATUS", "CREATED"]
    assert [row.split()[0] for row in rows] == [first, second["id"]]
    assert "Acme Pty Ltd" in rows[0] and "required" in rows[0] and "off" in rows[1] and "active" in rows[0]
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$", rows[0])
    as_json = json.loads(run("account", "list", "--json").stdout)
    assert [(a["id"], a["name"], a["otp_required"]) for a in as_json] == [
        (first, "Acme Pty Ltd", True), (second["id"], "Bravo", False)]
    assert as_json[0]["created_at"].endswith("Z")


def test_key_list_and_create_as_json(run) -> None:
    account_id = run("account", "create", "Acme").stdout.strip()
    none_yet = run("key", "list", account_id)
    assert none_yet.exit_code == 0 and none_yet.stdout == "" and "no keys" in none_yet.stderr
    created = json.loads(run("key", "create", account_id, "--expires-in-days", "3", "--json").stdout)
    assert created["key"].startswith("sid_") and created["expires_at"].endswith("Z")
    listing = run("key", "list", account_id)
    assert "Acme" in listing.stderr and created["id"] in listing.stdout and " UTC" in listing.stdout
    [key] = json.loads(run("key", "list", account_id, "--json").stdout)
    assert (key["id"], key["status"], key["account"]) == (created["id"], "active", "Acme")
    assert created["key"] not in json.dumps(key)


def test_version() -> None:
    from click.testing import CliRunner

    from senderid import __version__
    from senderid.cli.main import command

    result = CliRunner().invoke(command(), ["--version"])
    assert result.exit_code == 0 and result.output == f"senderid {__version__}\n"


def _all_commands(group, path=()):
    yield list(path)
    for name, sub in getattr(group, "commands", {}).items():
        yield from _all_commands(sub, (*path, name))


def test_help_is_plain_words_wrapped_whole() -> None:
    """No typer type labels (``<bool>``, ``<str>``, ``{account_id}``); click wraps at spaces."""
    from click.testing import CliRunner

    from senderid.cli.main import command

    cli = command()
    words = set()
    for path in _all_commands(cli):
        for width in (60, 100):
            result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=width)
            assert result.exit_code == 0, (path, result.output)
            text = result.output.replace("<=", "")
            assert "<" not in text and "{" not in text and "╭" not in text, (path, result.output)
            assert all(len(line) <= width for line in result.output.splitlines()), (path, width)
            if width == 100:
                words |= {word.removesuffix("...") for word in result.output.split()}
    # a word broken at the wrap would leave a fragment that appears nowhere unbroken (a
    # command's summary cut short ends at a whole word, then "...")
    for path in _all_commands(cli):
        narrow = CliRunner().invoke(cli, [*path, "--help"], terminal_width=60).output
        assert {word.removesuffix("...") for word in narrow.split()} <= words, path
