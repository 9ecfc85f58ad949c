"""What the commands promise at start, checked by running the real ``senderid``.

Each documented refusal (README, "Configuration") stops ``senderid serve`` with one line
on stderr that names the setting or the database, and a documented exit code: 2 for a
setting that cannot be used, 1 for a database that is not ready. A command on a missing
or unmigrated database says where it looked and to run ``senderid db upgrade``, and
leaves nothing behind. ``serve --demo`` starts, prints a key that works, and prints the
same account and key again on a second start.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from peers.processes import free_port
from tests.support.commands import SENDERID, clean_env, fresh_postgres, senderid, started
from tests.support.env import TEST_SECRET

pytestmark = pytest.mark.slow


def _one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    return lines[0]


# -- a missing or unmigrated database ---------------------------------------------------


@pytest.mark.parametrize("command", [
    ["key", "list", "0" * 24],
    ["account", "list"],
    ["outbox", "stats"],
    ["business", "list"],
    ["account", "create", "Acme"],
])
def test_a_command_on_a_missing_sqlite_database_says_to_upgrade_and_creates_nothing(
    tmp_path: Path, command: list[str]
) -> None:
    result = senderid(*command, cwd=tmp_path)
    assert result.returncode == 1
    line = _one_error_line(result)
    assert str(tmp_path / "senderid.db") in line and "run `senderid db upgrade`" in line
    assert list(tmp_path.iterdir()) == []  # no empty senderid.db, no senderid.db.secret


def test_an_unmigrated_sqlite_file_is_named_and_left_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    path = tmp_path / "data" / "senderid.db"
    path.write_bytes(b"")
    env = clean_env(SENDERID_DATABASE_URL=f"sqlite:///{path}")
    result = senderid("account", "list", cwd=tmp_path, env=env)
    assert result.returncode == 1
    line = _one_error_line(result)
    assert str(path) in line and "no senderid tables" in line and "senderid db upgrade" in line
    assert sorted(p.name for p in path.parent.iterdir()) == ["senderid.db"]
    assert path.read_bytes() == b""

    upgraded = senderid("db", "upgrade", cwd=tmp_path, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    listed = senderid("account", "list", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == "" and "no accounts" in listed.stderr


def test_an_unmigrated_postgresql_database_is_refused_by_serve_and_by_commands(tmp_path: Path) -> None:
    with fresh_postgres() as url:
        env = clean_env(SENDERID_DATABASE_URL=url, SENDERID_SECRET_KEY=TEST_SECRET)
        served = senderid("serve", "--port", str(free_port()), cwd=tmp_path, env=env)
        assert served.returncode == 1
        line = _one_error_line(served)
        assert url.split("@")[-1] in line and "has no senderid tables" in line
        assert "run `senderid db upgrade`" in line
        listed = senderid("account", "list", cwd=tmp_path, env=env)
        assert listed.returncode == 1 and _one_error_line(listed) == line
        assert senderid("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
        assert senderid("account", "list", cwd=tmp_path, env=env).returncode == 0
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [("outbox", "stats"), ("db", "upgrade")])
def test_an_unreachable_database_is_one_line(tmp_path: Path, command: tuple[str, ...]) -> None:
    url = f"postgresql://postgres:hunter2-password@127.0.0.1:{free_port()}/senderid"
    env = clean_env(SENDERID_DATABASE_URL=url, SENDERID_SECRET_KEY=TEST_SECRET)
    result = senderid(*command, cwd=tmp_path, env=env)
    assert result.returncode == 1
    line = _one_error_line(result)
    assert "cannot reach the database postgresql://postgres:***@127.0.0.1" in line
    assert "hunter2" not in result.stderr


# -- settings that stop the server ------------------------------------------------------

REFUSALS = {
    "placeholder secret": ({"SENDERID_SECRET_KEY": "changeme"}, "SENDERID_SECRET_KEY is a placeholder"),
    "short secret": ({"SENDERID_SECRET_KEY": "s" * 31}, "SENDERID_SECRET_KEY must be at least 32 characters"),
    "PostgreSQL without a secret": (
        {"SENDERID_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test"},
        "SENDERID_SECRET_KEY is required when the database is not a SQLite file",
    ),
    "a provider's missing setting": (
        {"SENDERID_SMS_PROVIDER": "twilio", "SENDERID_TWILIO_ACCOUNT_SID": "AC123"},
        "the twilio provider needs SENDERID_TWILIO_AUTH_TOKEN, SENDERID_TWILIO_FROM",
    ),
    "short admin token": ({"SENDERID_ADMIN_TOKEN": "t" * 31},
                          "SENDERID_ADMIN_TOKEN must be at least 32 characters"),
    "unknown provider": ({"SENDERID_SMS_PROVIDER": "carrier-pigeon"},
                         "SENDERID_SMS_PROVIDER: unknown provider 'carrier-pigeon'"),
    "an OTP template with an unknown field": (
        {"SENDERID_OTP_TEMPLATE": "Code {nope} is {code}"},
        "SENDERID_OTP_TEMPLATE: the template names {nope}; only {code}, {number} and {minutes} are filled in",
    ),
    "an OTP template without the code": ({"SENDERID_OTP_TEMPLATE": "Code is 123"},
                                         "SENDERID_OTP_TEMPLATE: the template must contain {code}"),
    "an OTP template with an unpaired brace": ({"SENDERID_OTP_TEMPLATE": "Code {code"},
                                               "SENDERID_OTP_TEMPLATE: the template is not a valid template"),
    "an OTP template with a field's attribute": ({"SENDERID_OTP_TEMPLATE": "Code {code.__class__}"},
                                                 "SENDERID_OTP_TEMPLATE: the template names {code.__class__}"),
    "an OTP template with a bad format": ({"SENDERID_OTP_TEMPLATE": "Code {code:d}"},
                                          "SENDERID_OTP_TEMPLATE: the template cannot be filled in"),
    "an unknown log level": ({"SENDERID_LOG_LEVEL": "LOUD"}, "SENDERID_LOG_LEVEL: 'LOUD' is not a log level"),
    "a database that is not supported": ({"SENDERID_DATABASE_URL": "mysql://root@127.0.0.1/senderid"},
                                         "SENDERID_DATABASE_URL: mysql:// is not supported"),
    "a database URL that is not one": ({"SENDERID_DATABASE_URL": "senderid.db"},
                                       "SENDERID_DATABASE_URL: is not a database URL"),
    "an unknown region": ({"SENDERID_ALLOWED_REGIONS": "AU,XX"},
                          "SENDERID_ALLOWED_REGIONS: 'XX' is not an ISO region"),
    "a provider URL that is not one": (
        {"SENDERID_SMS_PROVIDER": "cellcast", "SENDERID_CELLCAST_API_KEY": "k" * 20,
         "SENDERID_CELLCAST_BASE_URL": "api.cellcast.com"},
        "SENDERID_CELLCAST_BASE_URL: must be an http(s) URL",
    ),
    "a signing secret that is not one": (
        {"SENDERID_SMS_PROVIDER": "webhook", "SENDERID_WEBHOOK_PROVIDER_URL": "https://sms.example.com/send",
         "SENDERID_WEBHOOK_PROVIDER_SECRET": "whsec_not base64!"},
        "SENDERID_WEBHOOK_PROVIDER_SECRET: webhook secret must be 'whsec_' followed by base64",
    ),
    "a longest retry delay below the first": (
        {"SENDERID_DELIVERY_BACKOFF_SECONDS": "10", "SENDERID_DELIVERY_BACKOFF_MAX_SECONDS": "5"},
        "SENDERID_DELIVERY_BACKOFF_MAX_SECONDS must be at least SENDERID_DELIVERY_BACKOFF_SECONDS",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_serve_refuses_a_setting_that_cannot_be_used(tmp_path: Path, case: str) -> None:
    values, expected = REFUSALS[case]
    result = senderid("serve", "--port", str(free_port()), cwd=tmp_path, env=clean_env(**values))
    assert result.returncode == 2, result.stderr
    line = _one_error_line(result)
    assert expected in line
    for name, value in values.items():
        if "SECRET" in name or "TOKEN" in name:
            assert value not in line  # a secret, even a bad one, is never echoed
    assert list(tmp_path.iterdir()) == []  # refused before anything was created


# -- serve --demo -------------------------------------------------------------------------


def _demo_key(stdout: str) -> str:
    match = re.search(r"API key\s+(sid_\S+)", stdout)
    assert match, stdout
    return match.group(1)


def _admin_token(stdout: str) -> str:
    match = re.search(r"admin token\s+(\S+)", stdout)
    assert match, stdout
    return match.group(1)


def _run_printed(stdout: str, endpoint: str) -> dict:
    """Run the curl command ``serve --demo`` printed for ``endpoint``, as a user pastes it."""
    [line] = [line for line in stdout.splitlines() if line.strip().startswith("curl") and endpoint in line]
    result = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _printed_demo(process: subprocess.Popen[str]) -> str:
    """What ``serve --demo`` printed on stdout, up to its last command."""
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "verifyCustomNumber" in line:
            return "".join(lines)
    raise AssertionError("serve --demo printed no verify command:\n" + "".join(lines))


@pytest.mark.skipif(shutil.which("curl") is None, reason="the printed commands use curl")
def test_serve_demo_prints_commands_that_work_and_the_same_key_on_restart(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(SENDERID_LOG_LEVEL="WARNING")
    printed, numbers = [], []
    for _ in range(2):  # the printed commands work on the first start and on the next
        with started("serve", "--demo", "--port", str(port), port=port, cwd=tmp_path, env=env) as server:
            out = _printed_demo(server)
            assert _run_printed(out, "token/verify")["status"] is True
            added = _run_printed(out, "customNumber/add")
            assert added["message"] == "OTP sent to your number successfully", added
            # the console is on, at the address printed, with the token printed
            assert f"Console  http://127.0.0.1:{port}/console" in out
            token = _admin_token(out)
            accounts = httpx.get(f"http://127.0.0.1:{port}/admin/v1/accounts",
                                 headers={"Authorization": f"Bearer {token}"})
            assert accounts.status_code == 200 and "demo" in accounts.text, accounts.text
            assert httpx.get(f"http://127.0.0.1:{port}/console", follow_redirects=True).status_code == 200
        printed.append(out)
        numbers.append(re.search(r'"number": "(\+\d+)"', out).group(1))
    first, second = printed
    key = _demo_key(first)
    assert _demo_key(second) == key and f"export SENDERID_API_KEY={key}" in second
    token = _admin_token(first)
    assert _admin_token(second) == token  # derived from the secret: the same on every start
    assert "the same as before" in second and "the same as before" not in first
    account = re.search(r"account\s+(\w{24})", first).group(1)
    assert f"account  {account} (demo" in second
    assert numbers[0] != numbers[1]  # the first is pending now: a fresh one is printed


def test_serve_demo_keeps_the_operators_admin_token_and_never_prints_it(tmp_path: Path) -> None:
    port, token = free_port(), "operator-admin-token-" + "t" * 32
    env = clean_env(SENDERID_LOG_LEVEL="WARNING", SENDERID_ADMIN_TOKEN=token)
    with started("serve", "--demo", "--workers", "2", "--port", str(port), port=port, cwd=tmp_path,
                 env=env) as server:
        out = _printed_demo(server)
        for _ in range(4):  # fresh connections: both processes have the operator's token
            answer = httpx.get(f"http://127.0.0.1:{port}/admin/v1/accounts",
                               headers={"Authorization": f"Bearer {token}", "Connection": "close"})
            assert answer.status_code == 200, answer.text
    assert "sign in with SENDERID_ADMIN_TOKEN" in out and token not in out
    assert token not in server.output[1]


# -- the log format: text on a terminal, JSON otherwise ------------------------------------


def _first_log_line(tmp_path: Path, env: dict[str, str], *, terminal: bool) -> str:
    """The first line ``senderid serve`` writes on stderr, a terminal (a pty) or a pipe."""
    import os
    import pty
    import select

    master, slave = pty.openpty() if terminal else os.pipe()
    process = subprocess.Popen([str(SENDERID), "serve", "--port", str(free_port())], cwd=tmp_path, env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    text = b""
    try:
        deadline = time.monotonic() + 30
        while b"\n" not in text:
            assert time.monotonic() < deadline, f"no log line: {text!r}"
            if select.select([master], [], [], 0.5)[0]:
                text += os.read(master, 4096)
    finally:
        process.terminate()
        process.wait(timeout=20)
        os.close(master)
    return text.decode().splitlines()[0]


def test_logs_are_text_on_a_terminal_and_json_otherwise(tmp_path: Path) -> None:
    env = clean_env(SENDERID_LOG_LEVEL="INFO")
    on_terminal = _first_log_line(tmp_path, env, terminal=True)
    coloured = r"^\d{4}-\d\d-\d\dT[\d:.]+Z \x1b\[33mWARNING\x1b\[0m senderid.settings: SENDERID_SECRET_KEY is not set"
    assert re.match(coloured, on_terminal), on_terminal  # text, the level coloured
    assert json.loads(_first_log_line(tmp_path, env, terminal=False))["logger"] == "senderid.settings"
    chosen = clean_env(SENDERID_LOG_LEVEL="INFO", SENDERID_LOG_FORMAT="json")  # the setting wins
    assert json.loads(_first_log_line(tmp_path, chosen, terminal=True))["level"] == "warning"


# -- serve --workers N ----------------------------------------------------------------------


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_serve_workers_runs_n_processes_on_one_port_with_the_same_settings(
    tmp_path: Path, database: str
) -> None:
    port = free_port()
    values = {"SENDERID_LOG_FORMAT": "text", "SENDERID_LOG_LEVEL": "INFO", "SENDERID_OTP_TTL_SECONDS": "900"}
    with contextlib.ExitStack() as stack:
        if database == "postgresql":
            url = stack.enter_context(fresh_postgres())
            values.update(SENDERID_DATABASE_URL=url, SENDERID_SECRET_KEY=TEST_SECRET)
            assert senderid("db", "upgrade", cwd=tmp_path, env=clean_env(**values)).returncode == 0
        env = clean_env(**values)
        with started("serve", "--demo", "--workers", "2", "--port", str(port), port=port, cwd=tmp_path,
                     env=env) as server:
            printed = _printed_demo(server)
            key, token = _demo_key(printed), _admin_token(printed)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                for _ in range(6):  # every process has the development admin token
                    answer = client.get("/admin/v1/accounts", headers={
                        "Authorization": f"Bearer {token}", "Connection": "close"})
                    assert answer.status_code == 200, answer.text
                for i in range(20):  # fresh connections: the kernel spreads them over both
                    answer = client.post("/api/v1/customNumber/add", headers={
                        "Authorization": f"Bearer {key}", "Connection": "close"},
                        json={"name": f"n{i}", "number": f"+614915701{i:02d}"})
                    assert answer.status_code in (200, 400), answer.text  # 400: not a mobile
                pids = set()
                deadline = time.monotonic() + 10
                while len(pids) < 2 and time.monotonic() < deadline:
                    pids = _server_pids(server.pid)
                    time.sleep(0.1)
                assert len(pids) == 2
    _out, err = server.output
    started_lines = re.findall(r"Z INFO uvicorn.error: Started server process \[(\d+)\]", err)
    assert len(set(started_lines)) == 2, err  # both children log, in the text format of serve
    assert "{\"time\"" not in err


def _server_pids(parent: int) -> set[int]:
    """The child processes of ``parent`` that run the app (uvicorn's spawned workers)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            cmdline = (stat.parent / "cmdline").read_bytes()
            if b"multiprocessing" in cmdline and b"resource_tracker" not in cmdline:
                found.add(int(stat.parent.name))
    return found
