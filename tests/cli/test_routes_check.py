"""``senderid routes check [FILE]``, and a routes file that cannot be used stopping every
command with one line and exit 2 (``SENDERID_ROUTES_FILE``).

In-process through typer's runner (no database is needed by ``routes check``; a bad file is
refused before the database is looked at). The same refusals stopping the real
``senderid serve`` are in tests/cli/test_routes_startup.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from senderid.cli import common
from senderid.cli.main import app
from tests.domain.test_routes_file import (
    ACCOUNT_1,
    ALPHA_ROUTE,
    BACKUP,
    CATCH_ALL,
    GOOD,
    PRIMARY,
    REFUSALS,
    RELAY,
    SECRETS,
)
from tests.support.env import TEST_SECRET

pytestmark = pytest.mark.unit

Invoke = Callable[..., Result]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Invoke]:
    """The CLI in-process, on a SQLite path in ``tmp_path`` that nothing creates."""
    monkeypatch.setenv("SENDERID_DATABASE_URL", f"sqlite:///{tmp_path / 'senderid.db'}")
    monkeypatch.setenv("SENDERID_SECRET_KEY", TEST_SECRET)
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        common.reset_context()
        return runner.invoke(app, list(args))

    yield invoke
    common.reset_context()


def write(tmp_path: Path, text: str, name: str = "routes.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def no_secrets(result: Result) -> None:
    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr


def test_check_prints_the_providers_the_routes_and_where_samples_go(cli: Invoke, tmp_path: Path) -> None:
    path = write(tmp_path, PRIMARY + BACKUP + RELAY + ALPHA_ROUTE + CATCH_ALL)
    done = cli("routes", "check", path)
    assert done.exit_code == 0, done.stderr
    assert done.stderr == f"{path}: 3 provider(s), 2 route(s)\nnote: provider relay is in no route\n"
    assert done.stdout == (
        "PROVIDER  KIND      RATE CAP  CALLBACKS\n"
        "primary   smpp      50/s      -\n"
        "backup    twilio    no cap    /providers/backup/status, /providers/backup/inbound\n"
        "relay     cellcast  no cap    /providers/relay/status, /providers/relay/inbound\n"
        "\n"
        "ROUTE  SENDER  TO     ACCOUNTS  PROVIDERS        MODE\n"
        "1      alpha   +614*  any       primary, backup  failover\n"
        "2      any     any    any       backup, primary  round_robin\n"
        "\n"
        "SAMPLE  TO            ACCOUNT  ROUTE  TAKEN BY\n"
        "alpha   +614123***78  -        1      primary (while its breaker is open: backup)\n"
        "number  +614123***78  -        2      backup, primary in turn (round robin among the healthy)\n"
        "shared  +614123***78  -        2      backup, primary in turn (round robin among the healthy)\n"
    )
    no_secrets(done)


def test_a_sample_of_the_callers_choosing(cli: Invoke, tmp_path: Path) -> None:
    theirs_only = f'[[routes]]\naccounts = ["{ACCOUNT_1}"]\nproviders = ["backup"]\n'
    text = PRIMARY + BACKUP + theirs_only + ALPHA_ROUTE + CATCH_ALL
    path = write(tmp_path, text)
    abroad = cli("routes", "check", path, "--sender", "alpha", "--to", "02 9374 4000", "--json")
    assert abroad.exit_code == 0, abroad.stderr
    assert json.loads(abroad.stdout)["samples"] == [{
        "sender": "alpha", "to": "+612937***00", "account": None, "route": 3,
        "providers": ["backup", "primary"], "mode": "round_robin"}]
    local = json.loads(cli("routes", "check", path, "--sender", "alpha", "--to", "0412 345 678", "--json").stdout)
    assert [(s["route"], s["providers"]) for s in local["samples"]] == [(2, ["primary", "backup"])]
    theirs = json.loads(cli("routes", "check", path, "--account", ACCOUNT_1, "--json").stdout)
    assert [(s["sender"], s["route"]) for s in theirs["samples"]] == [("alpha", 1), ("number", 1), ("shared", 1)]


def test_check_as_json_names_no_secret(cli: Invoke, tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + RELAY)
    done = cli("routes", "check", path, "--json")
    assert done.exit_code == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["file"] == path
    assert shown["providers"][1] == {"name": "backup", "kind": "twilio", "max_per_second": 0.0,
                                     "callbacks": ["/providers/backup/status", "/providers/backup/inbound"]}
    assert shown["routes"][0] == {"sender": "alpha", "to": "+614*", "accounts": None,
                                  "providers": ["primary", "backup"], "mode": "failover"}
    assert shown["notes"] == ["provider relay is in no route"]
    no_secrets(done)


def test_check_reads_the_setting_when_no_file_is_given(cli: Invoke, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDERID_ROUTES_FILE", write(tmp_path, GOOD))
    done = cli("routes", "check", "--json")
    assert done.exit_code == 0, done.stderr
    assert [p["name"] for p in json.loads(done.stdout)["providers"]] == ["primary", "backup"]


def test_without_a_file_check_shows_the_single_provider(cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDERID_SMS_PROVIDER", "cellcast")
    monkeypatch.setenv("SENDERID_CELLCAST_API_KEY", "cellcast-api-key-5521")
    monkeypatch.setenv("SENDERID_PROVIDER_MAX_PER_SECOND", "30")
    done = cli("routes", "check")
    assert done.exit_code == 0, done.stderr
    assert done.stderr.startswith("no routes file (SENDERID_ROUTES_FILE is unset): every SMS goes through "
                                  "the single provider, SENDERID_SMS_PROVIDER=cellcast\n")
    assert done.stdout.splitlines()[:2] == [
        "PROVIDER  KIND      RATE CAP  CALLBACKS",
        "cellcast  cellcast  30/s      /providers/cellcast/status, /providers/cellcast/inbound"]
    no_secrets(done)


def test_a_route_no_message_reaches_is_noted(cli: Invoke, tmp_path: Path) -> None:
    path = write(tmp_path, PRIMARY + CATCH_ALL.replace('"backup", ', "") + ALPHA_ROUTE.replace(', "backup"', ""))
    done = cli("routes", "check", path)
    assert done.exit_code == 0, done.stderr
    assert "note: route 2 is never used: route 1 takes every message it matches" in done.stderr


@pytest.mark.parametrize(("args", "expected"), [
    (("--sender", "robot"), "error: --sender 'robot' is not one of alpha, number, shared\n"),
    (("--to", "12"), "error: --to: "),
])
def test_a_sample_that_is_not_one_is_refused(cli: Invoke, tmp_path: Path, args: tuple[str, ...],
                                             expected: str) -> None:
    done = cli("routes", "check", write(tmp_path, GOOD), *args)
    assert done.exit_code == 2 and done.stderr.startswith(expected) and done.stdout == ""


@pytest.mark.parametrize("case", list(REFUSALS))
def test_check_refuses_a_bad_file_in_one_line(cli: Invoke, tmp_path: Path, case: str) -> None:
    text, expected = REFUSALS[case]
    path = write(tmp_path, text)
    done = cli("routes", "check", path)
    assert done.exit_code == 2 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(f"error: {path}: ") and expected.removeprefix("routes.toml: ") in line, line
    no_secrets(done)


def test_check_of_a_missing_file_is_one_line(cli: Invoke, tmp_path: Path) -> None:
    done = cli("routes", "check", str(tmp_path / "nope.toml"))
    assert (done.exit_code, done.stderr) == (2, f"error: routes file {tmp_path / 'nope.toml'}: "
                                                "No such file or directory\n")


@pytest.mark.parametrize("case", list(REFUSALS))
def test_any_command_refuses_a_bad_routes_file_before_the_database(
    cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    text, expected = REFUSALS[case]
    path = write(tmp_path, text)
    monkeypatch.setenv("SENDERID_ROUTES_FILE", path)
    done = cli("account", "list")  # a missing database would be exit 1: the file is refused first
    assert done.exit_code == 2 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(f"error: SENDERID_ROUTES_FILE: {path}: ") and expected.removeprefix("routes.toml: ") in line
    no_secrets(done)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["routes.toml"]  # no database was made
