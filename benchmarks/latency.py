"""Sequential request latency of add and verify on one server (p50/p90/p99, ms).

    python -m benchmarks.latency [--database sqlite|postgresql] [-n 300]

Starts `senderid serve` on a free loopback port against a fresh database, with
test numbers (`+6140*` -> fixed code, no SMS) and limits raised so that only
the request path is measured, then times one client doing add -> verify for
``n`` different numbers, one request at a time.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from collections.abc import Iterator

import httpx

POSTGRES_ADMIN = os.environ.get("SENDERID_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SECRET = "bench-secret-" + "b" * 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    import sqlalchemy as sa

    from senderid.store.db import normalise_url

    name = f"senderid_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(normalise_url(POSTGRES_ADMIN), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(POSTGRES_ADMIN).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def server(database_url: str, extra_env: dict[str, str] | None = None) -> Iterator[tuple[str, dict[str, str]]]:
    env = {
        **os.environ,
        "SENDERID_DATABASE_URL": database_url,
        "SENDERID_SECRET_KEY": SECRET,
        "SENDERID_TEST_OTPS": "+6140*:111111",
        "SENDERID_OTP_MAX_PER_ACCOUNT_PER_HOUR": "1000000",
        "SENDERID_OTP_MAX_PER_NUMBER_PER_HOUR": "1000000",
        "SENDERID_OTP_MAX_PER_ACCOUNT_NUMBER_PER_HOUR": "1000000",
        "SENDERID_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    cli = [sys.executable, "-m", "senderid.cli.main"]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    account = subprocess.run([*cli, "account", "create", "bench"], env=env, check=True,
                             capture_output=True, text=True).stdout.strip()
    key = subprocess.run([*cli, "key", "create", account], env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    port = free_port()
    proc = subprocess.Popen([*cli, "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base, {"Authorization": f"Bearer {key}"}
    finally:
        proc.terminate()
        proc.wait(10)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def run(kind: str, n: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"add": [], "verify": []}
    with database(kind) as url, server(url) as (base, headers), httpx.Client(base_url=base, headers=headers) as client:
        for i in range(n):
            number = f"+614000{i:05d}"
            started = time.perf_counter()
            r = client.post("/api/v1/customNumber/add", json={"name": "bench", "number": number})
            timings["add"].append((time.perf_counter() - started) * 1000)
            assert r.status_code == 200, r.text
            started = time.perf_counter()
            r = client.post("/api/v1/customNumber/verifyCustomNumber",
                            json={"name": "bench", "number": number, "otp": "111111"})
            timings["verify"].append((time.perf_counter() - started) * 1000)
            assert r.status_code == 200, r.text
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("-n", type=int, default=300)
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    print(f"{'database':<11} {'request':<7} {'n':>5} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7}")
    for kind in kinds:
        for name, values in run(kind, args.n).items():
            print(f"{kind:<11} {name:<7} {len(values):>5} {statistics.median(values):>7.2f} "
                  f"{percentile(values, 90):>7.2f} {percentile(values, 99):>7.2f}")


if __name__ == "__main__":
    main()
