"""``senderid api ...`` (the CLI client) against a real senderid server on a loopback port
(uvicorn, the delivery worker running, SQLite and PostgreSQL): stdout, stderr, ``--json``
and the exit codes 0 (done), 1 (refused), 2 (usage) and 3 (no answer)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from senderid.cli.main import app
from senderid.clock import FrozenClock
from tests.support.env import Customer
from tests.support.live_server import closed_port, live_server, wait_for_code

__all__ = ["live_server"]  # the fixture, imported for pytest

NUMBER = "+61491570156"  # ACMA's range for fiction and examples
OTHER = "+61491570157"

Run = Callable[..., Result]


def _runner(monkeypatch: pytest.MonkeyPatch, **env: str) -> Run:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> Result:
        result = runner.invoke(app, ["api", *args])
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
        return result

    return run


@pytest.fixture
def run(live_server: str, customer: Customer, monkeypatch: pytest.MonkeyPatch) -> Run:
    """``run("numbers", "list", code=0)``: ``senderid api numbers list``, checking the exit code."""
    return _runner(monkeypatch, SENDERID_API_KEY=customer.key, SENDERID_BASE_URL=live_server)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> Run:
    """``senderid api`` with a key but no server (nothing listens on the port)."""
    return _runner(
        monkeypatch,
        SENDERID_API_KEY="sid_whatever",
        SENDERID_BASE_URL=f"http://127.0.0.1:{closed_port()}",
    )


def _json(result: Result) -> Any:
    return json.loads(result.stdout)


def _rows(result: Result) -> list[list[str]]:
    return [line.split() for line in result.stdout.splitlines()]


def test_token(run: Run, customer: Customer, live_server: str) -> None:
    result = run("token")
    assert result.stdout == f"Token verified successfully! ({live_server})\n"
    assert result.stderr == ""

    envelope = _json(run("--json", "token"))
    assert (envelope["status"], envelope["data"]) == (True, {"token": customer.key})
    assert _json(run("token", "--json")) == envelope  # --json on the command works too

    refused = run("--api-key", "sid_not_a_key", "token", code=1)
    assert refused.stdout == ""
    assert refused.stderr == "error: Token expired (HTTP 401)\n"
    refused_json = run("--api-key", "sid_not_a_key", "--json", "token", code=1)
    assert _json(refused_json) == {"code": 401, "message": "Token expired", "stack": "APIError: Token expired"}


def test_cellcast_api_key_is_the_fallback(
    live_server: str, customer: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _runner(monkeypatch, CELLCAST_API_KEY=customer.key, SENDERID_BASE_URL=live_server)
    assert run("token").stdout.startswith("Token verified successfully!")


def test_numbers_add_verify_list_get_resend_delete(
    run: Run, live_server: str, clock: FrozenClock
) -> None:
    added = run("numbers", "add", "Support line", "0491 570 156")
    assert added.stdout == "OTP sent to your number successfully\n"
    assert added.stderr == "then: senderid api numbers verify 'Support line' '0491 570 156' CODE\n"
    code = wait_for_code(live_server, NUMBER)

    wrong = run("numbers", "verify", "Support line", NUMBER, "000000" if code != "000000" else "1", code=1)
    assert wrong.stderr == "error: OTP verification failed (HTTP 400)\n"
    no_name = run("numbers", "verify", "", NUMBER, code, code=1)  # HTTP 200, status false
    assert no_name.stderr == "error: Name is Required (HTTP 200)\n"
    verified = run("numbers", "verify", "Support line", NUMBER, code)
    assert verified.stdout == "OTP Verified Successfully!\n"

    clock.advance(61)
    exists = run("numbers", "add", "Support line", NUMBER, code=1)  # HTTP 400, status true
    assert exists.stderr == "error: Number already exist in system (HTTP 400)\n"
    assert _json(run("--json", "numbers", "add", "Support line", NUMBER, code=1))["status"] is True
    invalid = run("numbers", "add", "Support line", "12", code=1)
    assert invalid.stderr == "error: Mobile number is not valid (HTTP 400)\n"

    run("numbers", "add", "Sales", OTHER)
    rows = _rows(run("numbers", "list"))
    assert rows[0] == ["ID", "NUMBER", "STATUS", "CREATED", "VERIFIED", "NAME"]
    assert [(r[1], r[2]) for r in rows[1:]] == [(OTHER, "pending"), (NUMBER, "active")]
    pending_id = rows[1][0]
    listing = run("numbers", "list", "--status", "PENDING", "--limit", "1")
    assert len(_rows(listing)) == 2 and listing.stderr == "1 of 1\n"
    first_page = run("numbers", "list", "--limit", "1")
    assert first_page.stderr == "1 of 2; the next page: --offset 1\n"
    page = _json(run("numbers", "list", "--json", "--offset", "1"))
    assert (page["data"]["total"], page["data"]["offset"]) == (2, 1)
    assert [i["number"] for i in page["data"]["items"]] == [NUMBER]

    got = _rows(run("numbers", "get", pending_id))
    assert got[1][:3] == [pending_id, OTHER, "pending"] and got[1][-1] == "Sales"

    limited = run("numbers", "resend", pending_id, code=1)  # within the cooldown
    assert limited.stderr.startswith("error: ") and "(HTTP 429; retry after " in limited.stderr
    clock.advance(61)
    resent = run("numbers", "resend", pending_id)
    assert resent.stdout.startswith(f"OTP sent to {OTHER}; it expires at ")
    wait_for_code(live_server, OTHER, count=2)

    deleted = run("numbers", "delete", pending_id)
    assert deleted.stdout == f"deleted {OTHER} ({pending_id})\n"
    assert _json(run("--json", "numbers", "get", pending_id))["data"]["status"] == "deleted"
    missing = run("numbers", "get", "0" * 24, code=1)
    assert missing.stderr.startswith("error: No custom number with id") and "(HTTP 404)" in missing.stderr


def test_business_add_list_get_withdraw(run: Run) -> None:
    added = run("business", "add", "Acme Co", "--contact", "0491 570 158")
    assert added.stdout.startswith("requested 'Acme Co' (") and added.stdout.endswith("): REQUESTED\n")
    name_id = added.stdout.split("(")[1].split(")")[0]

    rows = _rows(run("business", "list"))
    assert rows[0] == ["ID", "STATUS", "NAME", "CONTACT", "REQUESTED", "REASON"]
    assert rows[1][:5] == [name_id, "REQUESTED", "Acme", "Co", "+61491570158"]
    assert len(_rows(run("business", "list", "--status", "approved"))) == 1  # the header only
    listed = _json(run("--json", "business", "list", "--status", "requested"))
    assert [i["_id"] for i in listed["data"]["items"]] == [name_id]
    assert _rows(run("business", "get", name_id))[1][0] == name_id

    withdrawn = run("business", "withdraw", name_id)
    assert withdrawn.stdout == f"withdrew 'Acme Co' ({name_id}): WITHDRAWN\n"
    again = run("business", "withdraw", name_id, code=1)
    assert again.stderr.endswith("(HTTP 409)\n")
    refused = run("business", "add", "Unverified", code=1)
    assert refused.stderr.startswith("error: ") and "(HTTP 400)" in refused.stderr


def test_send(run: Run) -> None:
    sent = run("send", "Hello from the shared number", OTHER, "0491 570 158", "12")
    rows = _rows(sent)
    assert rows[0] == ["NUMBER", "MESSAGE_ID"]
    assert [r[0] for r in rows[1:]] == [OTHER, "0491"]  # "0491 570 158" as given
    assert all(len(r[-1]) == 24 for r in rows[1:])
    assert sent.stderr == "2 queued (GSM-7, 1 part(s) each); not valid, not sent: 12\n"

    envelope = _json(run("--json", "send", "Again", OTHER, "--sender", "#SharedNum#"))
    assert envelope["data"]["totalValidContact"] == 1

    refused = run("send", "Hi", OTHER, "--sender", "+61491570159", code=1)  # not ours
    assert refused.stdout == ""
    assert refused.stderr.startswith("error: ") and refused.stderr.endswith(" (HTTP 403)\n")


def test_send_with_the_gateway_fields_cancel_optouts_and_usage(run: Run, clock) -> None:
    sent = run("send", "Later", OTHER, "--delay", "60000", "--custom-string", "crm", "--reply-stop")
    [_, (number, message_id)] = _rows(sent)
    assert number == OTHER and len(message_id) == 24
    assert sent.stderr == "1 queued (GSM-7, 1 part(s) each), due 2026-01-01T00:01:00Z\n"
    assert run("cancel", message_id).stdout == f"cancelled {message_id}\n"
    assert run("cancel", message_id).stdout == f"cancelled {message_id}\n"
    assert run("cancel", "0" * 24, code=1).stderr.endswith("(HTTP 404)\n")

    assert run("optouts", "add", "0491 570 157").stdout == f"{OTHER} is on the opt-out list\n"
    listed = run("optouts", "list")
    assert _rows(listed) == [["NUMBER", "SOURCE", "SINCE"], [OTHER, "api", "2026-01-01T00:00:00Z"]]
    list_id = listed.stderr.split("list id ")[1].strip()
    skipped = run("send", "Sale", OTHER, "0491570158", "--optout-id", list_id, "--schedule-at", "2026-01-01 00:00:01")
    assert skipped.stderr == ("1 queued (GSM-7, 1 part(s) each), due 2026-01-01T00:00:01Z; "
                              f"opted out, not sent: {OTHER}\n")
    assert run("optouts", "remove", OTHER).stdout == f"{OTHER} is off the opt-out list\n"
    assert run("send", "x", OTHER, "--long-url", "nonsense", code=2).stderr.startswith("error: --long-url")
    no_links = run("send", "See gosite.au/goo", OTHER, "--long-url", "goo=example.com", code=1)  # no base set
    assert no_links.stderr.startswith("error: longUrl: short links are not enabled on this server")
    assert run("send", "x", OTHER, "--delay", "0", code=1).stderr.endswith("(HTTP 400)\n")

    clock.advance(seconds=2)
    deadline = time.monotonic() + 10
    while len(_rows(usage := run("usage"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _rows(usage) == [["CUSTOM_STRING", "PARTS", "CREDITS"], ["api", "1", "1"]]
    assert usage.stderr == "page 1 of 1\n"


def test_usage_errors_exit_2(offline: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    offline("numbers", "add", "Only a name", code=2)
    offline("numbers", "list", "--status", "nonsense", code=2)
    offline("numbers", "list", "--limit", "0", code=2)
    offline("send", "no contacts", code=2)
    offline("--base-url", "ftp://example.com", "token", code=2)
    monkeypatch.delenv("SENDERID_API_KEY")
    no_key = offline("token", code=2)
    assert "no API key" in no_key.stderr


def test_no_answer_exits_3(offline: Run) -> None:
    result = offline("token", code=3)
    assert result.stdout == ""
    assert result.stderr.startswith("error: no answer: Connection error: GET http://127.0.0.1:")
    assert "/api/v1/user/token/verify: " in result.stderr and result.stderr.count("\n") == 1


def test_the_cli_client_imports_nothing_of_the_server() -> None:
    """``senderid api`` works without a database or server settings: importing it
    loads the client, never the server's modules."""
    code = (
        "import sys, senderid.cli.api; "
        "server = ('sqlalchemy', 'fastapi', 'alembic', 'psycopg', 'pydantic_settings', "
        "'senderid.api', 'senderid.domain', 'senderid.store', 'senderid.runtime', 'senderid.settings'); "
        "print(sorted(m for m in sys.modules if m.startswith(server)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "[]\n"


@pytest.mark.unit
def test_the_cli_clients_status_choices_are_the_servers() -> None:
    """The client names the statuses again (it imports nothing of the server's): the same ones."""
    from senderid.cli import api
    from senderid.domain.types import BusinessNameStatus, CustomNumberStatus

    assert [s.value for s in api.NumberStatus] == [s.value for s in CustomNumberStatus]
    assert [s.value for s in api.NameStatus] == [s.value for s in BusinessNameStatus]


def test_message_and_messages_print_the_status_and_timeline(run: Run) -> None:
    sent = run("send", "Hello", OTHER, "--custom-string", "crm", "--delay", "60000")
    message_id = _rows(sent)[1][-1]
    shown = run("message", message_id).stdout.splitlines()
    assert shown[0].split()[:4] == ["ID", "TO", "SENDER", "STATUS"]
    assert shown[1].split()[:4] == [message_id, OTHER, "-", "scheduled"]
    assert shown[3].split() == ["AT", "STATUS", "DETAIL"] and shown[4].split()[2] == "queued"
    assert _json(run("--json", "message", message_id))["data"]["events"][0]["status"] == "queued"
    run("message", "0" * 24, code=1)

    listed = run("messages", "--custom-string", "crm", "--status", "scheduled")
    assert [r[0] for r in _rows(listed)[1:]] == [message_id]
    assert listed.stderr == "1 of 1\n"
    assert _rows(run("messages", "--to", "0491 570 157"))[1][0] == message_id
    assert _rows(run("messages", "--status", "delivered"))[1:] == []
    run("messages", "--status", "lost", code=1)
