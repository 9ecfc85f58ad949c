"""What every benchmark needs: a throwaway database, servers, their memory (the process
machinery itself, ports and environments are :mod:`peers.processes`, shared with the tests).

* :func:`database` makes a fresh SQLite file or a fresh PostgreSQL database (created
  through the admin URL ``SENDERID_BENCH_POSTGRES_URL``, default
  ``postgresql://postgres@127.0.0.1:5432/test``, and dropped afterwards);
* :func:`prepare` migrates it; :func:`create_account` makes an account and a key in
  process, through the domain (no CLI start-up per call);
* :func:`senderid_server` runs ``senderid serve`` as a subprocess on a free loopback
  port and waits until ``/healthz`` answers; :func:`ceiling_server` does the same for
  ``benchmarks/ceiling.py``;
* :class:`RssSampler` records the largest resident set of a server process (and of its
  children, if it has any) while load runs.

Servers get :data:`BENCH_ENV`: test numbers (``+614*`` -> fixed code ``111111``, no SMS)
and every OTP limit raised, so that only the request path is measured.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from peers import processes
from peers.processes import Process

if TYPE_CHECKING:
    from senderid.domain.context import Context

POSTGRES_ADMIN = os.environ.get("SENDERID_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SECRET = "bench-secret-" + "b" * 40
TEST_CODE = "111111"
HIGH_LIMIT = "10000000"

# Every server the benchmarks start gets these (a caller's extra_env wins).
BENCH_ENV: dict[str, str] = {
    "SENDERID_SECRET_KEY": SECRET,
    "SENDERID_TEST_OTPS": f"+614*:{TEST_CODE}",
    "SENDERID_OTP_MAX_PER_ACCOUNT_PER_HOUR": HIGH_LIMIT,
    "SENDERID_OTP_MAX_PER_NUMBER_PER_HOUR": HIGH_LIMIT,
    "SENDERID_OTP_MAX_PER_ACCOUNT_NUMBER_PER_HOUR": HIGH_LIMIT,
}

READY_TIMEOUT_S = 60.0

# -- databases -----------------------------------------------------------------------


def postgres_problem(admin_url: str = POSTGRES_ADMIN) -> str | None:
    """None when PostgreSQL answers at ``admin_url``, else why not (one line)."""
    return processes.postgres_problem(admin_url)


@contextmanager
def database(kind: str) -> Iterator[str]:
    """A fresh, empty database of ``kind`` (``sqlite`` or ``postgresql``); its URL."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="senderid-bench-") as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    if kind != "postgresql":
        raise ValueError(f"unknown database kind {kind!r}")
    with processes.fresh_postgres(POSTGRES_ADMIN, prefix="senderid_bench") as url:
        yield url


def prepare(database_url: str) -> None:
    """Bring the schema up to date (what ``senderid db upgrade`` does)."""
    from senderid.store import migrate
    from senderid.store.db import Database

    db = Database(database_url)
    try:
        migrate.upgrade(db)
    finally:
        db.dispose()


@contextmanager
def domain_context(database_url: str) -> Iterator[Context]:
    """A senderid Context on ``database_url``, for setting up accounts and numbers in process."""
    from senderid.runtime import build_context
    from senderid.settings import Settings

    ctx = build_context(Settings(database_url=database_url, secret_key=SECRET))
    try:
        yield ctx
    finally:
        ctx.db.dispose()


def create_account(ctx: Context, name: str, *, otp_required: bool = True) -> tuple[str, str]:
    """A new account and an API key for it: ``(account_id, key)``."""
    from senderid.domain import accounts
    from senderid.domain.types import CLI

    account = accounts.create_account(ctx, name, otp_required=otp_required, actor=CLI)
    _record, key = accounts.create_key(ctx, account.id, actor=CLI)
    return account.id, key


# -- servers -------------------------------------------------------------------------


def server_env(database_url: str | None = None, extra_env: Mapping[str, str] | None = None) -> dict[str, str]:
    values = dict(BENCH_ENV)
    if database_url is not None:
        values["SENDERID_DATABASE_URL"] = database_url
    return processes.environment({**values, **(extra_env or {})})


def run_server(name: str, argv: list[str], env: Mapping[str, str], port: int,
               log_path: Path | None) -> AbstractContextManager[Process]:
    """``argv`` answering ``/healthz`` on ``port`` until the block ends (its output to ``log_path``)."""
    return processes.serving(name, argv, port=port, env=env, log_path=log_path, ready_timeout=READY_TIMEOUT_S,
                             stop_timeout=15)


@contextmanager
def senderid_server(database_url: str, extra_env: Mapping[str, str] | None = None,
                    log_path: Path | None = None, workers: int = 1) -> Iterator[Process]:
    """``senderid serve`` on a free loopback port, against an already migrated database
    (``workers`` > 1: ``--workers N``)."""
    port = processes.free_port()
    argv = processes.senderid_command("serve", "--host", "127.0.0.1", "--port", str(port),
                                      *(("--workers", str(workers)) if workers > 1 else ()))
    with run_server("senderid", argv, server_env(database_url, extra_env), port, log_path) as server:
        yield server


@contextmanager
def ceiling_server(extra_env: Mapping[str, str] | None = None, log_path: Path | None = None,
                   workers: int = 1) -> Iterator[Process]:
    """``benchmarks/ceiling.py``: the same server stack answering the same JSON, no database
    (``workers`` processes)."""
    port = processes.free_port()
    argv = [sys.executable, "-m", "benchmarks.ceiling", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers)]
    env = processes.environment({**BENCH_ENV, **(extra_env or {})}, pythonpath=[processes.REPO])
    with run_server("ceiling", argv, env, port, log_path) as server:
        yield server


@contextmanager
def server(database_url: str, extra_env: Mapping[str, str] | None = None) -> Iterator[tuple[str, dict[str, str]]]:
    """A migrated database, an OTP account with a key, and ``senderid serve`` on it.

    Yields ``(base_url, headers)`` where the headers carry the key.
    """
    prepare(database_url)
    with domain_context(database_url) as ctx:
        _account, key = create_account(ctx, "bench")
    with senderid_server(database_url, extra_env) as running:
        yield running.base, {"Authorization": f"Bearer {key}"}


# -- memory --------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found.extend(int(p) for p in f.read().split())
    except OSError:
        pass
    return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (uvicorn worker processes, if any)."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(_children(current))
    return tree


def rss_kib(pid: int) -> int | None:
    """VmRSS of one process in KiB (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of ``pid`` and its descendants so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    user = system = 0
    for member in process_tree(pid):
        try:
            with open(f"/proc/{member}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user += int(fields[11])  # utime and stime: fields 14 and 15 of /proc/<pid>/stat
        system += int(fields[12])
    return user / ticks, system / ticks


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its descendants so far."""
    return sum(cpu_times(pid))


@dataclass
class RssSampler:
    """Samples VmRSS of a process tree in a thread; ``max_mib`` is the largest single process."""

    pid: int
    interval_s: float = 0.2
    per_process_kib: dict[int, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        for pid in process_tree(self.pid):
            value = rss_kib(pid)
            if value is not None and value > self.per_process_kib.get(pid, 0):
                self.per_process_kib[pid] = value

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()

    @property
    def max_mib(self) -> float:
        return max(self.per_process_kib.values(), default=0) / 1024

    @property
    def processes(self) -> int:
        return len(self.per_process_kib)
