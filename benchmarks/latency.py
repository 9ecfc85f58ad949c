"""Sequential request latency of add, verify, token/verify and senderId/check on one server
(p50/p90/p99, ms).

    python -m benchmarks.latency [--database sqlite|postgresql] [-n 300]

Starts `senderid serve` on a free loopback port against a fresh database (both
from benchmarks/harness.py), with test numbers (`+614*` -> fixed code, no SMS)
and limits raised so that only the request path is measured, then times one
client doing add -> verify for ``n`` different numbers, one request at a time.
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx

from benchmarks.harness import database, server

# The sequential latency script logs only warnings (the load benchmark keeps the default).
QUIET = {"SENDERID_LOG_LEVEL": "WARNING"}


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def run(kind: str, n: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"add": [], "verify": [], "token": [], "check": []}
    with (
        database(kind) as url,
        server(url, QUIET) as (base, headers),
        httpx.Client(base_url=base, headers=headers) as client,
    ):
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
        # The read paths, on the same server in the same run: a sender check for a number
        # that is now active, next to authentication alone.
        for i in range(n):
            for name, path in (("token", "/api/v1/user/token/verify"),
                               ("check", f"/api/v1/senderId/check?sender=%2B614000{i:05d}")):
                started = time.perf_counter()
                r = client.get(path)
                timings[name].append((time.perf_counter() - started) * 1000)
                assert r.status_code == 200 and r.json()["status"] is True, r.text
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
