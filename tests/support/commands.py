"""The real ``senderid`` command in a subprocess, with an environment the test chooses.

``senderid(...)`` runs the console script installed in the test's virtualenv (the one a
user runs), in a directory the test gives (a temporary one, so nothing it leaves behind
goes unseen), with none of the developer's ``SENDERID_*`` variables and no ``.env`` of
theirs. ``started(...)`` starts ``senderid serve`` (or any long-running command) and waits
until ``/healthz`` answers; ``fresh_postgres()`` makes an empty PostgreSQL database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from senderid.store.db import normalise_url
from tests.support.env import IN_CI, POSTGRES_URL

SENDERID = Path(sys.executable).with_name("senderid")


def clean_env(**values: str) -> dict[str, str]:
    """The test process's environment without ``SENDERID_*``/``CELLCAST_*``, plus ``values``
    (the command reads ``./.env`` in its own directory, as a user's would)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENDERID_", "CELLCAST_"))}
    env.update(values)
    return env


def senderid(*args: str, cwd: Path, env: Mapping[str, str] | None = None,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``senderid ARGS`` to its end; stdout and stderr are captured as text."""
    return subprocess.run([str(SENDERID), *args], cwd=cwd, env=dict(env or clean_env()),
                          capture_output=True, text=True, timeout=timeout)


def wait_healthy(base_url: str, process: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the server exited with {process.returncode}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no answer from {base_url}/healthz within {timeout} s")
        time.sleep(0.05)


@contextmanager
def started(*args: str, port: int, cwd: Path, env: Mapping[str, str]) -> Iterator[subprocess.Popen[str]]:
    """``senderid ARGS`` running, answering ``/healthz`` on ``port``, until the block ends
    (then SIGTERM; its stdout and stderr are ``process.output`` afterwards)."""
    process = subprocess.Popen([str(SENDERID), *args], cwd=cwd, env=dict(env), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            out, err = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung server
            process.kill()
            out, err = process.communicate()
        process.output = (out, err)  # type: ignore[attr-defined]


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards."""
    admin_url = normalise_url(POSTGRES_URL)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # pragma: no cover - depends on the machine
        admin.dispose()
        message = f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc.__class__.__name__}"
        if IN_CI:
            pytest.fail(message + " (required under CI=true)")
        pytest.skip(message)
    name = f"senderid_fresh_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
