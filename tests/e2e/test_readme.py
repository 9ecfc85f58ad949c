"""The README's quick start runs as written, in order, on a fresh copy of the project.

The copy holds the project's files (``git ls-files``: what a clone has, plus files not yet
committed) in a temporary directory, with this test run's virtualenv linked in as its
``.venv`` (so ``make run`` finds it installed and does not reinstall; the test refuses to
go on if ``make`` would: :func:`fresh_copy`). ``make run PORT=...`` is started as the first block says; then
every ``sh`` block of the "Quick start" section runs in one bash session, as a user
pastes them into a second terminal, and every ``python`` block is saved under the name
its first line gives (``# demo.py``). Two things are filled in, as a user would: the
port (a free loopback one instead of 8080) and the key ``make run`` printed instead of
``sid_...``. The virtualenv is not on ``PATH``: the README's ``.venv/bin/`` forms must work.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from peers.processes import free_port, wait_healthy
from tests.support.commands import clean_env
from tests.support.env import IN_CI

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("curl") is None or shutil.which("make") is None,
                                 reason="the quick start uses make and curl")]


def blocks(section: str) -> list[tuple[str, str]]:
    """The fenced blocks (language, text) of a ``## section`` of the README, in order."""
    body = README.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [(m.group(1), m.group(2)) for m in re.finditer(r"```(\w+)\n(.*?)```", body, re.DOTALL)]


def installed() -> bool:
    """Whether this test run's virtualenv has the project installed since pyproject.toml
    last changed (by any of the Makefile's install steps, now or before they were split)."""
    changed = (ROOT / "pyproject.toml").stat().st_mtime
    stamps = [Path(sys.prefix) / name for name in (".run-stamp", ".test-stamp", ".installed-stamp")]
    return any(stamp.exists() and stamp.stat().st_mtime >= changed for stamp in stamps)


def fresh_copy(target: Path) -> Path:
    """The project's files in ``target``, with a ``.venv`` that is this test run's virtualenv
    (its folders linked) and that ``make run`` finds installed (its stamp made, only when
    :func:`installed`)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.splitlines()
    for name in files:
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)  # mtimes kept: make compares them
    venv = target / ".venv"
    venv.mkdir()
    for entry in Path(sys.prefix).iterdir():
        if not entry.name.startswith("."):
            (venv / entry.name).symlink_to(entry)
    if installed():
        (venv / ".run-stamp").touch()
    return target


def test_the_quick_start_runs_as_written(tmp_path: Path) -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: no list of the project's files")
    clone = fresh_copy(tmp_path / "senderid")
    if subprocess.run(["make", "-q", ".venv/.run-stamp"], cwd=clone).returncode != 0:
        message = "the virtualenv is older than pyproject.toml: run `make .venv/.test-stamp` first"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    venv_bin = str(Path(sys.prefix) / "bin")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env = clean_env(PATH=path, SENDERID_LOG_LEVEL="WARNING")
    env.pop("VIRTUAL_ENV", None)

    quick = blocks("Quick start")
    assert quick[0] == ("sh", quick[0][1]) and quick[0][1].split("#")[0].strip() == "make run"
    port = free_port()

    def as_typed(text: str, key: str) -> str:
        return text.replace("127.0.0.1:8080", f"127.0.0.1:{port}").replace("sid_...", key)

    server = subprocess.Popen(["make", "run", f"PORT={port}"], cwd=clone, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", server)
        printed = ""
        for line in server.stdout:
            printed += line
            if "verifyCustomNumber" in line:
                break
        match = re.search(r"export SENDERID_API_KEY=(sid_\S+)", printed)
        assert match, printed
        key = match.group(1)

        script = ["set -eu"]
        for language, text in quick[1:]:
            if language == "python":
                name = text.splitlines()[0].removeprefix("#").strip()
                assert name.endswith(".py"), f"a python block names its file on its first line: {text}"
                (clone / name).write_text(as_typed(text, key))
            else:
                assert language == "sh", language
                script.append(as_typed(text, key))
        result = subprocess.run(["bash", "-c", "\n".join(script)], cwd=clone, env=env,
                                capture_output=True, text=True, timeout=120)
    finally:
        server.terminate()
        server.communicate(timeout=20)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "command not found" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert '"token":"' + key in out.replace(" ", "")  # the key is accepted
    assert '"status":true,"message":"OTP sent to your number successfully"' in out  # curl
    assert out.count("OTP Verified Successfully!") == 2  # curl, then Python
    assert "AddResult(otp_sent=True" in out and "VerifyResult(" in out and "CustomNumber(" in out
    assert re.search(r"^\w{24}\s+demo\s+required\s+active\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$", out, re.MULTILINE)
    assert "+614915***56" in out and "+61491570156" not in out.split("ID  ")[-1]  # the outbox, masked


def test_make_run_installs_only_what_serving_needs(tmp_path: Path) -> None:
    """``make run`` on a fresh clone installs the project without its test extras; ``make
    test`` (and lint, bench, screenshots) add them. Read from make's own plan (``make -n``)."""
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(ROOT / name, tmp_path / name)

    def plan(target: str) -> list[str]:
        result = subprocess.run(["make", "-n", target], cwd=tmp_path, capture_output=True, text=True,
                                env=clean_env(), timeout=30)
        assert result.returncode == 0, result.stderr
        return [line for line in result.stdout.splitlines() if "pip install" in line]

    assert plan("run") == [".venv/bin/python -m pip install --quiet -e ."]
    assert plan("test") == [".venv/bin/python -m pip install --quiet -e .",
                            ".venv/bin/python -m pip install --quiet -e '.[test]'"]
    for target in ("lint", "bench", "screenshots"):
        assert any("[test]" in line for line in plan(target)), target
