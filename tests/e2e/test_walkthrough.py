"""The documented walk-through runs as written (examples/walkthrough.sh, docs/walkthrough.md),
beside ``make run``: the script on ports of its own, the page against ``make run``'s server
after the README's quick start has registered its numbers there."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from peers.processes import free_port, wait_healthy
from tests.e2e.test_readme import fresh_copy, installed
from tests.support.commands import clean_env

ROOT = Path(__file__).parents[2]
WALKTHROUGH = (ROOT / "docs" / "walkthrough.md").read_text()
QUICK_START_NUMBERS = ("+61491570156", "+61491570157")  # the README's

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("curl") is None, reason="the walk-through uses curl")]


def _script_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENDERID_", "PORT", "HOOK_PORT"))}
    env.update(PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}", **values)
    return env


def _listening(port: int) -> socket.socket | None:
    """A socket listening on ``port`` of 127.0.0.1 (as ``make run PORT=...`` would), or None
    when something else holds the port already."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        return None
    sock.listen()
    return sock


def test_walkthrough_script_runs_beside_make_run() -> None:
    with ExitStack() as stack:
        # The README's `make run PORT=8090` and anything on the script's old default ports
        for port in (8080, 8090, 9090):
            if (sock := _listening(port)) is not None:
                stack.callback(sock.close)
        result = subprocess.run(["bash", str(ROOT / "examples" / "walkthrough.sh")], env=_script_env(),
                                cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "OTP Verified Successfully!" in out
    assert "You may not send as 'AcmeShop'" in out
    assert out.count('"Request is being processed"') == 2
    assert "signed custom_number.verified" in out
    assert "signed business_name.approved" in out
    assert out.count("signed message.sent") == 2
    assert "BAD SIGNATURE" not in out
    port = int(re.search(r"== The server, on http://127\.0\.0\.1:(\d+)", out).group(1))
    assert port not in (8080, 8090, 9090)
    assert not any(number in out for number in QUICK_START_NUMBERS)  # numbers of its own


@pytest.mark.parametrize("variable", ["PORT", "HOOK_PORT"])
def test_walkthrough_script_refuses_a_port_in_use(variable: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(["bash", str(ROOT / "examples" / "walkthrough.sh")],
                                env=_script_env(**{variable: str(port)}), cwd=ROOT, capture_output=True,
                                text=True, timeout=60)
    assert result.returncode == 1
    assert f"{variable}={port}: that port is in use" in result.stderr
    assert "==" not in result.stdout  # refused before any step ran


def _blocks() -> list[tuple[str, str]]:
    """The page's fenced blocks (language, text), their list-item indentation removed."""
    return [(m.group(1), textwrap.dedent(m.group(2)).rstrip(" "))
            for m in re.finditer(r"```(\w+)\n(.*?)```", WALKTHROUGH, re.DOTALL)]


def test_walkthrough_page_runs_as_written_beside_make_run(tmp_path: Path) -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: no list of the project's files")
    if not installed():
        pytest.skip("the virtualenv is older than pyproject.toml: run `make .venv/.run-stamp` first")
    clone = fresh_copy(tmp_path / "senderid")
    blocks = _blocks()
    assert blocks[0] == ("sh", "SENDERID_WEBHOOK_ALLOW_PRIVATE=true make run\n")  # the first terminal
    assert all(language in ("sh", "text") for language, _text in blocks)
    venv_bin = str(Path(sys.prefix) / "bin")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env = clean_env(PATH=path, SENDERID_LOG_LEVEL="WARNING")
    env.pop("VIRTUAL_ENV", None)
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    server = subprocess.Popen(["make", "run", f"PORT={port}"], cwd=clone, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env={**env, "SENDERID_WEBHOOK_ALLOW_PRIVATE": "true"})
    session = None
    try:
        wait_healthy(base, server)
        printed = ""
        for line in server.stdout:
            printed += line
            if "verifyCustomNumber" in line:
                break
        key = re.search(r"export SENDERID_API_KEY=(sid_\S+)", printed).group(1)
        for name, number in zip(("Support line", "Sales line"), QUICK_START_NUMBERS, strict=True):
            added = httpx.post(f"{base}/api/v1/customNumber/add", headers={"Authorization": f"Bearer {key}"},
                               json={"name": name, "number": number}, timeout=10)
            assert added.json()["message"] == "OTP sent to your number successfully", added.text

        script = ["set -eu"] + [text.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
                                for language, text in blocks[1:] if language == "sh"]
        out_file = tmp_path / "out.txt"
        with out_file.open("w") as out:
            session = subprocess.Popen(["bash", "-c", "\n".join(script)], cwd=clone, env=env, stdout=out,
                                       stderr=subprocess.STDOUT, text=True, start_new_session=True)
            session.wait(timeout=180)
        output = out_file.read_text()
    finally:
        if session is not None and session.poll() is None:
            os.killpg(session.pid, signal.SIGTERM)
        server.terminate()
        server.communicate(timeout=20)
    assert session.returncode == 0, output
    assert "command not found" not in output and "Traceback" not in output, output
    assert "OTP Verified Successfully!" in output
    assert "You may not send as 'AcmeShop'" in output
    assert output.count('"Request is being processed"') == 2
    assert "signed custom_number.verified" in output and "signed business_name.approved" in output
    assert output.count("signed message.sent") == 2 and "BAD SIGNATURE" not in output
    assert "already exist" not in output
