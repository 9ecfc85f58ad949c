"""The real ``senderid`` command in a subprocess, with an environment the test chooses.

``senderid(...)`` runs the console script installed in the test's virtualenv (the one a
user runs), in a directory the test gives (a temporary one, so nothing it leaves behind
goes unseen), with none of the developer's ``SENDERID_*`` variables and no ``.env`` of
theirs. ``started(...)`` starts ``senderid serve`` (or any long-running command) and waits
until ``/healthz`` answers; ``fresh_postgres()`` makes an empty PostgreSQL database (the
test is skipped without PostgreSQL, and fails under ``CI=true``). The process machinery is
:mod:`peers.processes`, which the benchmarks use too.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from peers import processes
from tests.support.env import IN_CI, POSTGRES_URL

SENDERID = Path(sys.executable).with_name("senderid")


def clean_env(**values: str) -> dict[str, str]:
    """The test process's environment without ``SENDERID_*``/``CELLCAST_*``, plus ``values``
    (the command reads ``./.env`` in its own directory, as a user's would)."""
    return processes.environment(values, clean=True)


def senderid(*args: str, cwd: Path, env: Mapping[str, str] | None = None,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``senderid ARGS`` to its end; stdout and stderr are captured as text."""
    return subprocess.run([str(SENDERID), *args], cwd=cwd, env=dict(env or clean_env()),
                          capture_output=True, text=True, timeout=timeout)


@contextmanager
def started(*args: str, port: int, cwd: Path, env: Mapping[str, str]) -> Iterator[subprocess.Popen[str]]:
    """``senderid ARGS`` running, answering ``/healthz`` on ``port``, until the block ends
    (then SIGTERM; its stdout and stderr are ``process.output`` afterwards)."""
    server = None
    try:
        with processes.serving("senderid", [str(SENDERID), *args], port=port, cwd=cwd, env=env,
                               capture=True, ready_timeout=30) as server:
            yield server.proc
    finally:
        if server is not None:
            server.proc.output = server.output


@contextmanager
def fresh_postgres(prefix: str = "senderid_fresh") -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database (named ``PREFIX_<random>``), dropped afterwards."""
    problem = processes.postgres_problem(POSTGRES_URL)
    if problem:  # pragma: no cover - depends on the machine
        if IN_CI:
            pytest.fail(problem + " (required under CI=true)")
        pytest.skip(problem)
    with processes.fresh_postgres(POSTGRES_URL, prefix) as url:
        yield url
