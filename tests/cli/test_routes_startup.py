"""``SENDERID_ROUTES_FILE`` at start, through the real ``senderid``: a file that cannot be
used stops ``serve`` and ``worker`` with one line on stderr and exit 2, before anything is
created; a good one serves. (Every refusal of the file, in-process, is in
tests/cli/test_routes_check.py; the file's rules in tests/domain/test_routes_file.py.)
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from peers.processes import free_port
from tests.cli.test_startup import _one_error_line
from tests.domain.test_routes_file import GOOD, REFUSALS, SECRETS
from tests.support.commands import clean_env, senderid, started

pytestmark = pytest.mark.slow

CASES = ["an unknown key in a route", "a route naming an unknown provider", "no route for every number",
         "a provider without its required settings"]


@pytest.mark.parametrize("case", CASES)
def test_serve_refuses_a_routes_file_that_cannot_be_used(tmp_path: Path, case: str) -> None:
    text, expected = REFUSALS[case]
    files, workdir = tmp_path / "etc", tmp_path / "run"
    files.mkdir()
    workdir.mkdir()
    (files / "routes.toml").write_text(text)
    env = clean_env(SENDERID_ROUTES_FILE=str(files / "routes.toml"))
    result = senderid("serve", "--port", str(free_port()), cwd=workdir, env=env)
    assert result.returncode == 2, result.stderr
    line = _one_error_line(result)
    assert line.startswith(f"error: SENDERID_ROUTES_FILE: {files / 'routes.toml'}: ")
    assert expected.removeprefix("routes.toml: ") in line
    assert not any(secret in result.stderr for secret in SECRETS)
    assert list(workdir.iterdir()) == []  # refused before the database or its secret was made


def test_worker_refuses_a_missing_routes_file(tmp_path: Path) -> None:
    env = clean_env(SENDERID_ROUTES_FILE=str(tmp_path / "routes.toml"))
    result = senderid("worker", cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stderr
    assert _one_error_line(result) == (f"error: SENDERID_ROUTES_FILE: routes file {tmp_path / 'routes.toml'}: "
                                       "No such file or directory")


def test_serve_starts_with_a_good_routes_file(tmp_path: Path) -> None:
    (tmp_path / "routes.toml").write_text(GOOD)
    port = free_port()
    env = clean_env(SENDERID_ROUTES_FILE=str(tmp_path / "routes.toml"), SENDERID_WORKER_IN_PROCESS="false")
    assert senderid("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    with started("serve", "--port", str(port), port=port, cwd=tmp_path, env=env):
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
