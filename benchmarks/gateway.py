"""Gateway acceptance per database: how many SMS ``POST /api/v1/gateway`` queues a second.

    python -m benchmarks.gateway [--database sqlite|postgresql|both] [--messages 20000] [--runs 1]

The load is the delivery rows' (:func:`benchmarks.delivery.queue_bulk`): a bulk account
(no OTP) with an API key queues messages through :class:`senderid.client.Client`, 1,000
fresh numbers per call (the API's maximum), an ``Idempotency-Key`` per call, from
:data:`benchmarks.delivery.QUEUE_CLIENTS` client threads, to one ``senderid serve`` with
``SENDERID_WORKER_IN_PROCESS=false`` (acceptance alone: nothing is delivered meanwhile).
Each database gets a fresh database and server; a warm-up of 2,000 messages, then the
measured ``--messages``. The row shows SMS/s and the server's CPU per 1,000 SMS, and
PostgreSQL as a share of SQLite (target ≥ 70 %). Part of ``python -m benchmarks.run``
(row ``gateway``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import delivery, harness

WARMUP = 2_000
MESSAGES = 20_000
PREFIX = "+6148"  # run.py and load.py use +6140..+6147, delivery.py +6144/+6145
TARGET = 0.7  # PostgreSQL ÷ SQLite


@dataclass
class Acceptance:
    database: str
    rates: list[float] = field(default_factory=list)  # SMS/s, one per run
    cpu_ms_per_1k: list[float] = field(default_factory=list)  # server CPU per 1,000 SMS

    @property
    def rate(self) -> float:
        return statistics.median(self.rates) if self.rates else 0.0

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpu_ms_per_1k) if self.cpu_ms_per_1k else 0.0

    @property
    def spread(self) -> str:
        if len(self.rates) < 2:
            return ""
        return f"{min(self.rates):,.0f}–{max(self.rates):,.0f}"


def accept_once(kind: str, messages: int, logs: Path, name: str) -> tuple[float, float]:
    """(SMS/s, server CPU ms per 1,000 SMS) of one fresh database and server."""
    env = {**delivery.DELIVERY_ENV, "SENDERID_WORKER_IN_PROCESS": "false"}
    with harness.database(kind) as url:
        harness.prepare(url)
        with harness.domain_context(url) as ctx:
            _bulk, key = harness.create_account(ctx, "bench-gateway", otp_required=False)
        numbers = delivery.Numbers(PREFIX)
        with harness.senderid_server(url, env, log_path=logs / f"{name}-gateway.log") as server:
            delivery.queue_bulk(server.base, key, WARMUP, numbers)
            cpu_before = harness.cpu_seconds(server.pid)
            seconds = delivery.queue_bulk(server.base, key, messages, numbers)
            cpu_s = harness.cpu_seconds(server.pid) - cpu_before
    return messages / seconds, 1_000_000 * cpu_s / messages


def measure(databases: Sequence[str], messages: int, runs: int, logs: Path,
            log: Callable[[str], None]) -> list[Acceptance]:
    results = [Acceptance(kind) for kind in databases]
    for i in range(runs):
        for result in results:
            rate, cpu = accept_once(result.database, messages, logs, f"{result.database}-{i}")
            result.rates.append(rate)
            result.cpu_ms_per_1k.append(cpu)
            log(f"[gateway {result.database}] {messages:,} SMS in calls of {delivery.MAX_CONTACTS:,}: "
                f"{rate:,.0f} SMS/s, server CPU {cpu:.0f} ms per 1,000 SMS")
    return results


def table(results: Sequence[Acceptance]) -> str:
    sqlite = next((r for r in results if r.database == "sqlite"), None)
    lines = [
        "| database | contacts per request | SMS/s (median) | spread | server CPU ms per 1,000 SMS | ÷ SQLite |",
        "|---|---:|---:|---|---:|---|",
    ]
    for r in results:
        share = ""
        if sqlite is not None and r is not sqlite and sqlite.rate:
            ratio = r.rate / sqlite.rate
            share = f"{ratio:.0%} (≥ {TARGET:.0%}) {'✓' if ratio >= TARGET else '✗'}"
        lines.append(f"| {r.database} | {delivery.MAX_CONTACTS:,} | {r.rate:,.0f} | {r.spread} | {r.cpu:.0f} "
                     f"| {share} |")
    return "\n".join(lines)


def markdown(results: Sequence[Acceptance], messages: int) -> str:
    if not results:
        return ""
    return f"""
## Gateway acceptance

{table(results)}

`POST /api/v1/gateway` with 1,000 fresh contacts per call from {delivery.QUEUE_CLIENTS} client threads
(`senderid.client`, an Idempotency-Key per call) to one `senderid serve` without its delivery worker;
{messages:,} SMS measured after {WARMUP:,} of warm-up, a fresh database per run. CPU is the server
process's, per 1,000 SMS accepted (the database server's own is not in it).
"""


def main(argv: Sequence[str] | None = None) -> None:
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m benchmarks.gateway", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--messages", type=int, default=MESSAGES, help=f"measured SMS per run (default {MESSAGES})")
    parser.add_argument("--runs", type=int, default=1, help="fresh database and server per run; the median shows")
    args = parser.parse_args(argv)
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    with tempfile.TemporaryDirectory(prefix="senderid-bench-logs-") as tmp:
        results = measure(databases, args.messages, max(1, args.runs), Path(tmp),
                          lambda line: print(line, file=sys.stderr, flush=True))
    print(markdown(results, args.messages))


if __name__ == "__main__":
    main()
