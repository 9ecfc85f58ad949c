"""Processes for the tests and the benchmarks: servers, workers and peers in subprocesses,
the environment they get, free ports and throwaway PostgreSQL databases.

* :func:`free_port`: a loopback port nothing listens on (bound, then released);
* :func:`environment`: this process's environment plus the given values, optionally without
  the developer's ``SENDERID_*``/``CELLCAST_*`` variables, with directories put first on
  ``PYTHONPATH`` (:data:`REPO` makes ``peers`` and ``benchmarks`` importable anywhere);
* :func:`running`: a long-running command (``senderid worker``, ...) until the block ends,
  then SIGTERM (SIGKILL if it does not stop); its output goes to a log file, is captured
  (``capture=True``: ``process.output`` afterwards, ``process.proc.stdout`` meanwhile) or
  is dropped; :func:`serving` also waits until it answers ``GET /healthz``
  (:func:`wait_healthy`), saying why not with the end of its output;
* :func:`senderid_command`: ``senderid ARGS`` as ``python -m senderid.cli.main``, the
  running interpreter's (so ``PYTHONPATH=src`` picks the code);
* :func:`postgres_problem`, :func:`fresh_postgres`: whether PostgreSQL answers, and a new
  empty database on it, dropped afterwards.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

REPO = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"
DEVELOPER_PREFIXES = ("SENDERID_", "CELLCAST_")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def environment(values: Mapping[str, str] | None = None, *, clean: bool = False,
                pythonpath: Sequence[Path | str] = ()) -> dict[str, str]:
    """This process's environment (with ``clean``: less ``SENDERID_*``/``CELLCAST_*``), plus
    ``values``, with ``pythonpath`` before what ``PYTHONPATH`` held."""
    env = {k: v for k, v in os.environ.items() if not (clean and k.startswith(DEVELOPER_PREFIXES))}
    env.update(values or {})
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([*map(str, pythonpath), *filter(None, [env.get("PYTHONPATH")])])
    return env


def senderid_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "senderid.cli.main", *args]


# -- processes -------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    proc: subprocess.Popen[str]
    log_path: Path | None = None
    base: str = ""  # http://127.0.0.1:PORT once it serves HTTP
    output: tuple[str, str] | None = None  # stdout and stderr, once a captured process stopped

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 30) -> str:
        """The end of what it wrote (of a captured process: all of it, once it has stopped)."""
        if self.log_path is not None:
            if not self.log_path.exists():
                return "(no log written)"
            with self.log_path.open("rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 64 * 1024))
                text = f.read().decode(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        if self.proc.stdout is None and self.proc.stderr is None:
            return "(no output kept)"
        if self.proc.poll() is None:
            return "(its output is read once it stops)"
        if self.output is None:
            out, err = self.proc.communicate()
            self.output = (out or "", err or "")
        return "\n".join(self.output)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; a captured output is kept."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        if self.output is None and (out is not None or err is not None):
            self.output = (out or "", err or "")


@contextmanager
def running(name: str, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path | None = None,
            log_path: Path | None = None, capture: bool = False, stop_timeout: float = 20) -> Iterator[Process]:
    """``argv`` running until the block ends (see the module's doc for its output)."""
    log: IO[bytes] | None = log_path.open("ab") if log_path is not None else None
    out: Any = log if log is not None else (subprocess.PIPE if capture else subprocess.DEVNULL)
    try:
        proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), text=True, stdout=out, stderr=out,
                                stdin=subprocess.DEVNULL)
    finally:
        if log is not None:
            log.close()  # the child has its own copy
    process = Process(name=name, proc=proc, log_path=log_path)
    try:
        yield process
    finally:
        process.stop(stop_timeout)


@contextmanager
def serving(name: str, argv: Sequence[str], *, port: int, env: Mapping[str, str], cwd: Path | None = None,
            log_path: Path | None = None, capture: bool = False, ready_timeout: float = 60,
            stop_timeout: float = 20) -> Iterator[Process]:
    """:func:`running`, once it answers ``GET /healthz`` on ``port``."""
    with running(name, argv, env=env, cwd=cwd, log_path=log_path, capture=capture,
                 stop_timeout=stop_timeout) as process:
        process.base = f"http://{LOOPBACK}:{port}"
        wait_healthy(process.base, process.proc, ready_timeout, name=name, tail=process.log_tail)
        yield process


def wait_healthy(base_url: str, process: subprocess.Popen[str], timeout: float = 30, *, name: str = "the server",
                 tail: Callable[[], str] | None = None) -> None:
    """Until ``base_url/healthz`` answers 200; RuntimeError when ``process`` exits first or
    ``timeout`` seconds pass (with ``tail()``, or its captured output, to say why)."""

    def why() -> str:
        if tail is not None:
            return tail()
        if process.poll() is not None and (process.stdout is not None or process.stderr is not None):
            return "\n".join(part or "" for part in process.communicate())
        return ""

    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while True:
            try:
                if client.get(f"{base_url}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode} before it answered "
                                   f"{base_url}/healthz:\n{why()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no answer from {name} at {base_url}/healthz within {timeout:.0f} s:\n{why()}")
            time.sleep(0.05)


# -- PostgreSQL ------------------------------------------------------------------------


def postgres_problem(admin_url: str) -> str | None:
    """None when PostgreSQL answers at ``admin_url``, else why not (one line)."""
    import sqlalchemy as sa

    from senderid.store.db import normalise_url

    try:
        engine = sa.create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        finally:
            engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable"
        return f"PostgreSQL is not reachable at {admin_url}: {exc.__class__.__name__}: {str(exc).splitlines()[0]}"
    return None


@contextmanager
def fresh_postgres(admin_url: str, prefix: str = "senderid_fresh") -> Iterator[str]:
    """The URL of a new, empty database made through ``admin_url``, dropped (even in use) afterwards."""
    import sqlalchemy as sa

    from senderid.store.db import normalise_url

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
