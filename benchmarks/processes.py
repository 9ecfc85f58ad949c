"""The flow at one and at two server processes, against the framework and the peer.

    python -m benchmarks.processes [--database sqlite|postgresql|both] [--duration 5]
                                   [--runs 1] [--no-peer]

The load is the flow row's (``benchmarks/run.py``: ``flow.lua``, add then verify on OTP
accounts, 64 connections, one wrk thread each), on a database holding 1,000 stored numbers
(``benchmarks/load.py``) and the row's accounts; each server gets a warm-up, then the
measured run:

* ``senderid serve`` with one process, then ``serve --workers 2`` (each process its own
  pool, listener and delivery worker, as in production);
* the ceiling (``benchmarks/ceiling.py``) with one process, then two: what the framework
  alone gains from a second process on this machine, where wrk and the database share the
  cores;
* django-phone-verify under gunicorn with 1, then 2 sync workers (``--no-peer``: left out).

The row shows each rate, the gain of the second process (two ÷ one), senderid's gain as a
share of the ceiling's (``(g - 1) / (c - 1)``: the part of the framework's extra throughput
senderid turns into flows), and senderid ÷ the peer, one against one and two against two.
Targets: on PostgreSQL that share ≥ 85 %; on SQLite, where one writer holds the file at a
time, two processes never slower than one. Part of ``python -m benchmarks.run`` (row
``processes``).
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks import harness, load, peer_dpv
from peers.processes import Process

if TYPE_CHECKING:
    from benchmarks.run import Numbers, Options

PROCESS_COUNTS = (1, 2)
STORED = 1_000
SHARE_TARGET = 0.85  # PostgreSQL: senderid's gain ÷ the ceiling's gain


@dataclass
class Processes:
    database: str
    senderid: dict[int, list[float]] = field(default_factory=dict)  # processes -> flows/s per run
    ceiling: dict[int, list[float]] = field(default_factory=dict)
    peer: dict[int, list[float]] = field(default_factory=dict)
    cpu_ms: dict[int, list[float]] = field(default_factory=dict)  # senderid's server CPU per flow

    @staticmethod
    def median(values: dict[int, list[float]], n: int) -> float | None:
        return statistics.median(values[n]) if values.get(n) else None

    def gain(self, values: dict[int, list[float]]) -> float | None:
        one, two = self.median(values, 1), self.median(values, 2)
        return two / one if one and two else None

    @property
    def share(self) -> float | None:
        ours, framework = self.gain(self.senderid), self.gain(self.ceiling)
        return (ours - 1) / (framework - 1) if ours and framework and framework > 1 else None

    @property
    def ok(self) -> bool | None:
        if self.database == "sqlite":
            gain = self.gain(self.senderid)
            return None if gain is None else gain >= 1.0
        share = self.share
        return None if share is None else share >= SHARE_TARGET


def _one_server(wrk: str, server: Process, key: str, options: Options, numbers: Numbers,
                flow_keys: Sequence[str]) -> tuple[float, float | None]:
    from benchmarks import run

    row = next(r for r in run.ROWS if r.key == "flow")
    if options.warmup:
        run.run_wrk(wrk, server.base, row, key, options.warmup, options, numbers, flow_keys)
    measured = run.run_wrk(wrk, server.base, row, key, options.duration, options, numbers, flow_keys,
                           pid=server.pid)
    if server.proc.poll() is not None:
        raise RuntimeError(f"{server.name} died during the flow:\n{server.log_tail()}")
    if measured.errors:
        raise RuntimeError(f"{server.name}: {measured.errors} errors in the flow: {measured.statuses}")
    return measured.rate, measured.cpu_ms_per_op


def measure(wrk: str, kind: str, options: Options, logs: Path, peer: peer_dpv.Peer | None, runs: int,
            log: Callable[[str], None]) -> Processes:
    """One database: senderid, the ceiling and the peer at one and two processes, ``runs`` times."""
    from benchmarks import run

    result = Processes(kind)
    with harness.database(kind) as url:
        harness.prepare(url)
        load.load(url, STORED)
        fixture = run.set_up(url, options.flow_accounts)
        key, keys = fixture.otp_keys[0], fixture.otp_keys
        numbers = {"senderid": run.Numbers(), "ceiling": run.Numbers()}
        for i in range(runs):
            for n in PROCESS_COUNTS:
                name = f"{kind}-{n}p-{i}"
                with harness.senderid_server(url, log_path=logs / f"{name}-senderid.log", workers=n) as server:
                    rate, cpu = _one_server(wrk, server, key, options, numbers["senderid"], keys)
                result.senderid.setdefault(n, []).append(rate)
                result.cpu_ms.setdefault(n, []).append(cpu or 0.0)
                with harness.ceiling_server({"BENCH_CEILING_OTP_KEYS": ",".join(keys)},
                                            log_path=logs / f"{name}-ceiling.log", workers=n) as server:
                    ceiling, _cpu = _one_server(wrk, server, key, options, numbers["ceiling"], keys)
                result.ceiling.setdefault(n, []).append(ceiling)
                line = (f"[processes {kind}] {n} process{'es' if n > 1 else ''}: senderid {rate:,.0f} flows/s "
                        f"(CPU {cpu or 0:.2f} ms/flow), ceiling {ceiling:,.0f}")
                if peer is not None:
                    with peer.server(n, log_path=logs / f"{name}-peer.log") as server:
                        peer_dpv.preflight(server, f"{run.PREFIX_PREFLIGHT}0000000")
                        peer_rate, _cpu = _peer_flow(wrk, server, options)
                    result.peer.setdefault(n, []).append(peer_rate)
                    line += f", {peer_dpv.NAME} {peer_rate:,.0f}"
                log(line)
    return result


def _peer_flow(wrk: str, server: Process, options: Options) -> tuple[float, float | None]:
    from benchmarks import run

    numbers = run.Numbers()
    if options.warmup:
        run.run_wrk(wrk, server.base, run.PEER_ROW, "", options.warmup, options, numbers)
    measured = run.run_wrk(wrk, server.base, run.PEER_ROW, "", options.duration, options, numbers, pid=server.pid)
    return measured.rate, measured.cpu_ms_per_op


def _cell(values: dict[int, list[float]], n: int) -> str:
    runs = values.get(n) or []
    if not runs:
        return "—"
    text = f"{statistics.median(runs):,.0f}"
    return text + (f" ({min(runs):,.0f}–{max(runs):,.0f})" if len(runs) > 1 else "")


def _times(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def table(results: Sequence[Processes]) -> str:
    lines = [
        "| database | senderid, 1 process | senderid, 2 | gain | ceiling, 1 | ceiling, 2 | ceiling's gain | "
        "share of the ceiling's gain | target | django-phone-verify, 1 worker | 2 workers | senderid ÷ peer, "
        "1 / 2 | senderid CPU ms/flow, 1 / 2 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        share = "—" if r.share is None else f"{r.share:.0%}"
        target = "2 ≥ 1" if r.database == "sqlite" else f"share ≥ {SHARE_TARGET:.0%}"
        mark = "" if r.ok is None else (" ✓" if r.ok else " ✗")
        ratios = " / ".join(
            "—" if not (ours := r.median(r.senderid, n)) or not (theirs := r.median(r.peer, n))
            else f"{ours / theirs:.1f}×" for n in PROCESS_COUNTS)
        cpu = " / ".join(f"{r.median(r.cpu_ms, n) or 0:.2f}" for n in PROCESS_COUNTS)
        lines.append(
            f"| {r.database} | {_cell(r.senderid, 1)} | {_cell(r.senderid, 2)} | {_times(r.gain(r.senderid))} | "
            f"{_cell(r.ceiling, 1)} | {_cell(r.ceiling, 2)} | {_times(r.gain(r.ceiling))} | {share} | "
            f"{target}{mark} | {_cell(r.peer, 1)} | {_cell(r.peer, 2)} | {ratios} | {cpu} |")
    return "\n".join(lines)


def markdown(results: Sequence[Processes]) -> str:
    if not results:
        return ""
    return f"""
## The flow at one and two processes

{table(results)}

Flows/s of the add → verify flow (the flow row's load: 64 connections, one wrk thread each, on a database
of {STORED:,} stored numbers): `senderid serve` then `serve --workers 2`, the ceiling with one then two
uvicorn processes, django-phone-verify with 1 then 2 gunicorn sync workers. The gain is two processes ÷
one; the share is senderid's extra throughput from the second process as a part of the framework's,
(g − 1) / (c − 1). With several runs, the median shows and the spread follows it.
"""


def main(argv: Sequence[str] | None = None) -> None:
    import tempfile

    from benchmarks import run

    parser = argparse.ArgumentParser(prog="python -m benchmarks.processes", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--duration", type=int, default=5, help="measured seconds per server (default 5)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--runs", type=int, default=1, help="rounds of every server; the median shows")
    parser.add_argument("--no-peer", action="store_true", help="leave out django-phone-verify")
    args = parser.parse_args(argv)
    options = run.Options(databases=[], scales=[], duration=args.duration, warmup=args.warmup)
    wrk = run.ensure_wrk()
    log = options.log
    with tempfile.TemporaryDirectory(prefix="senderid-bench-logs-") as tmp:
        peer = None if args.no_peer else peer_dpv.Peer(Path(tmp))
        databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
        results = [measure(wrk, kind, options, Path(tmp), peer, max(1, args.runs), log) for kind in databases]
    print(markdown(results))


if __name__ == "__main__":
    main()
