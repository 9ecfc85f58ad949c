"""Load benchmarks of senderid against the framework's ceiling (``make bench``).

    python -m benchmarks.run [--quick] [--database sqlite|postgresql|both]
                             [--scale 1k,1m] [--duration 5] [--warmup 1]
                             [--rows token,check,add,flow] [--no-peer]

For each database and each scale (custom numbers already stored, written by
``benchmarks/load.py``), starts ``senderid serve`` and ``benchmarks/ceiling.py``
(the same server stack answering the same JSON without a database) on loopback
ports, and drives each with wrk from a separate process (Lua scripts in
``benchmarks/lua/``):

* ``GET /api/v1/user/token/verify`` (authentication only);
* ``GET /api/v1/senderId/check?sender=...`` for an active number of the account, which
  holds 1, then 1,000, then 100,000 active numbers (topped up between the rows);
* ``POST /api/v1/customNumber/add`` on an account without OTPs, a new number each time;
* ``GET /api/v1/gateway/messages`` of an account that holds as many gateway messages
  as the scale (``benchmarks/messages.py``), rotating over the newest page, the next one,
  and the list by ``to`` and by ``customString``; no ceiling (the framework alone has no
  messages to list), its check is the scale one;
* the add -> verify flow on OTP accounts (test numbers: fixed code, no SMS; limits
  raised), counted in flows (one add plus one verify) per second; then the same flow
  on django-phone-verify 3.3, the peer (``benchmarks/peer_dpv``: register -> verify on
  DRF and gunicorn, SQLite WAL, in its own virtualenv), with gunicorn's recommended
  worker count and with one worker (``--no-peer`` leaves it out); and the database's own
  ceiling for the flow (``benchmarks/db_ceiling.py``: the flow's statements on the raw
  driver, no HTTP, no framework), so the flow shows as a share of both ceilings and of
  their combination;
* ``gateway``: ``POST /api/v1/gateway`` acceptance per database, 1,000 contacts per call
  (``benchmarks/gateway.py``), PostgreSQL as a share of SQLite;
* ``processes``: the flow at one and two server processes (``serve --workers 2``), the
  ceiling at one and two, django-phone-verify at 1 and 2 gunicorn workers
  (``benchmarks/processes.py``).

Each row runs senderid then the ceiling back to back (a warm-up, then the
measured run), so the ratio compares the two under the same conditions. The
table goes to stdout and to ``benchmarks/out/results.md`` (raw numbers in
``results.json``). Needs wrk (installed with apt when missing and run as root)
and, for the PostgreSQL half, a server at ``SENDERID_BENCH_POSTGRES_URL``
(default ``postgresql://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from benchmarks import db_ceiling, delivery, gateway, harness, load, messages, peer_dpv, processes
from peers.processes import Process

HERE = Path(__file__).resolve().parent
LUA = HERE / "lua"
DEFAULT_OUT = HERE / "out" / "results.md"

CHECK_NUMBER = "0491570156"  # ACMA's range for fiction; active for the plain account
PREFIX_ADD, PREFIX_FLOW, PREFIX_PREFLIGHT = "+6141", "+6142", "+6143"  # load.py uses +6140
PREFIX_SENDERS = "+6146"  # the checked account's other numbers (db_ceiling.py uses +6145)
NUMBER_SPACE = 10_000_000  # 7 digits after a prefix
MAX_RATE = 50_000  # requests/s no run reaches: sizes each thread's slice of numbers

P99_TARGET_MS = 50.0
RSS_TARGET_MIB = 150.0
SCALE_P50_FACTOR = 1.3


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    script: str
    path: str
    account: str  # "plain" (no OTP), "otp"
    method: str = "GET"
    prefix: str | None = None  # numbers for writes
    one_connection_per_thread: bool = False
    targets: dict[str, float] = field(default_factory=dict)  # database -> minimal ratio to the ceiling
    unit: str = "req/s"
    senders: int = 0  # the account's active numbers while the row runs (0: whatever it has)
    paths: tuple[str, ...] = ()  # GETs the script rotates over (paths.lua)
    ceiling: bool = True  # measured against benchmarks/ceiling.py too


ROWS: tuple[Row, ...] = (
    Row("token", "GET user/token/verify", "static.lua", "/api/v1/user/token/verify", "plain",
        targets={"sqlite": 0.8, "postgresql": 0.8}),
    Row("check", "GET senderId/check, 1 sender", "static.lua", f"/api/v1/senderId/check?sender={CHECK_NUMBER}",
        "plain", targets={"sqlite": 0.8, "postgresql": 0.8}, senders=1),
    Row("check-1k", "GET senderId/check, 1k senders", "static.lua",
        f"/api/v1/senderId/check?sender={CHECK_NUMBER}", "plain", targets={"sqlite": 0.8, "postgresql": 0.8},
        senders=1_000),
    Row("check-100k", "GET senderId/check, 100k senders", "static.lua",
        f"/api/v1/senderId/check?sender={CHECK_NUMBER}", "plain", targets={"sqlite": 0.8, "postgresql": 0.8},
        senders=100_000),
    Row("messages", "GET gateway/messages (newest, to, customString)", "paths.lua", "/api/v1/gateway/messages",
        "plain", paths=messages.PATHS, ceiling=False),
    Row("add", "POST customNumber/add (no OTP)", "add.lua", "/api/v1/customNumber/add", "plain",
        method="POST", prefix=PREFIX_ADD),
    Row("flow", "add → verify flow (OTP)", "flow.lua", "/", "otp", method="POST", prefix=PREFIX_FLOW,
        one_connection_per_thread=True, targets={"sqlite": 0.5, "postgresql": 0.4}, unit="flows/s"),
)

# The flow row's peer: django-phone-verify's register -> verify (no key: its endpoints are public).
PEER_ROW = Row("flow", "django-phone-verify register → verify", "dpv_flow.lua", "/", "none", method="POST",
               prefix=PREFIX_FLOW, one_connection_per_thread=True, unit="flows/s")
PEER_TARGET = 10.0  # senderid ÷ peer on the flow row that flow ≥ 50 % of the ceiling amounts to
EXTRA_ROWS = ("gateway", "processes")  # rows of their own modules, run once per database


# -- options ---------------------------------------------------------------------------


@dataclass
class Options:
    databases: list[str]
    scales: list[int]
    duration: int
    warmup: int
    connections: int = 64
    threads: int = 2
    flow_accounts: int = 64
    out: Path = DEFAULT_OUT
    rows: tuple[str, ...] = tuple(row.key for row in ROWS)
    delivery: delivery.Options = field(default_factory=delivery.Options)
    peer: bool = True
    gateway_messages: int = gateway.MESSAGES
    log: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr, flush=True))


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true",
                        help="1 s per row, 1k stored numbers, SQLite only (each can still be overridden)")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default=None)
    parser.add_argument("--scale", default=None, help="stored custom numbers per run, e.g. 1k,1m (default 1k,1m)")
    parser.add_argument("--duration", type=int, default=None, help="measured seconds per row and server (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up seconds before each measured run (0: none)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (the flow row uses one per connection)")
    parser.add_argument("--flow-accounts", type=int, default=64,
                        help="OTP accounts the flow row spreads over (one per wrk thread by default)")
    every = [*(row.key for row in ROWS), *EXTRA_ROWS, *delivery.ROW_KEYS]
    parser.add_argument("--rows", default=",".join(every), help=f"which rows, from {','.join(every)}")
    parser.add_argument("--no-peer", action="store_true",
                        help="leave out django-phone-verify, the flow row's peer (installed on first use)")
    parser.add_argument("--gateway-messages", type=int, default=None,
                        help=f"SMS the gateway row queues per database (default {gateway.MESSAGES:,}; --quick 2,000)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"markdown table (default {DEFAULT_OUT})")
    delivery.add_arguments(parser)
    args = parser.parse_args(argv)

    database = args.database or ("sqlite" if args.quick else "both")
    scale = args.scale or ("1k" if args.quick else "1k,1m")
    duration = args.duration if args.duration is not None else (1 if args.quick else 5)
    rows = tuple(r.strip() for r in args.rows.split(",") if r.strip())
    if args.delivery_only:
        rows = delivery.ROW_KEYS
    unknown = set(rows) - {row.key for row in ROWS} - set(EXTRA_ROWS) - set(delivery.ROW_KEYS)
    if unknown:
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")
    if duration < 1 or args.warmup < 0:
        parser.error("--duration is at least 1 second (wrk counts whole seconds), --warmup at least 0")
    if args.connections < args.threads or args.connections < 1:
        parser.error("--connections must be at least --threads")
    try:
        scales = [load.parse_count(s) for s in scale.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--scale: not a list of counts: {scale!r}")
    return Options(
        databases=["sqlite", "postgresql"] if database == "both" else [database],
        scales=scales,
        duration=duration,
        warmup=args.warmup,
        connections=args.connections,
        threads=args.threads,
        flow_accounts=max(1, args.flow_accounts),
        out=args.out,
        rows=rows,
        delivery=delivery.options_from(args, rows, args.warmup),
        peer=not args.no_peer,
        gateway_messages=args.gateway_messages or (2_000 if args.quick else gateway.MESSAGES),
    )


# -- wrk -------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """The path of wrk, installing Debian's package when missing and running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is not installed: installing it with apt-get", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(["apt-get", "install", "-y", "wrk"], env=env).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env)
            subprocess.run(["apt-get", "install", "-y", "wrk"], env=env)
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit("benchmarks need wrk (https://github.com/wg/wrk), the HTTP load generator:\n"
             "  Debian/Ubuntu: sudo apt-get install -y wrk\n"
             "  macOS:         brew install wrk\n"
             "then run `make bench` again")


def wrk_version(wrk: str) -> str:
    result = subprocess.run([wrk, "--version"], capture_output=True, text=True)
    match = re.search(r"wrk\s+(\S+)", result.stdout + result.stderr)
    return match.group(1) if match else "unknown"


@dataclass
class Measurement:
    rate: float  # per second: requests, or flows for the flow row
    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    statuses: dict[str, int]
    counters: dict[str, int]
    cpu_s: float | None = None  # CPU time the server used during the run (user + system)

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors

    @property
    def cpu_ms_per_op(self) -> float | None:
        """Server CPU per request (per flow for the flow row): steadier than rates on a busy machine."""
        done = self.rate * self.duration_s
        return None if self.cpu_s is None or not done else 1000 * self.cpu_s / done


class Numbers:
    """Hands each wrk run against one server its own slice of numbers per prefix."""

    def __init__(self) -> None:
        self.next: dict[str, int] = {}

    def slice(self, prefix: str, threads: int, seconds: int) -> tuple[int, int]:
        span = max(1000, MAX_RATE * (seconds + 2) // threads)
        base = self.next.get(prefix, 0)
        if base + threads * span > NUMBER_SPACE:
            raise RuntimeError(f"the numbers under {prefix} are used up: use a shorter --duration")
        self.next[prefix] = base + threads * span
        return base, span


def run_wrk(wrk: str, base_url: str, row: Row, key: str, seconds: int, options: Options, numbers: Numbers,
            flow_keys: Sequence[str] = (), pid: int | None = None) -> Measurement:
    """One wrk run; with ``pid``, also the CPU time that server process used meanwhile."""
    threads = options.connections if row.one_connection_per_thread else options.threads
    argv = [wrk, "-t", str(threads), "-c", str(options.connections), "-d", f"{seconds}s", "--timeout", "5s",
            "-H", f"Authorization: Bearer {key}", "-s", str(LUA / row.script)]
    if row.method == "POST":
        argv += ["-H", "Content-Type: application/json"]
    argv.append(base_url + row.path)
    script_args = []
    if row.prefix:
        base, span = numbers.slice(row.prefix, threads, seconds)
        script_args += [f"prefix={row.prefix}", f"base={base}", f"span={span}"]
    if row.paths:
        script_args.append("paths=" + ",".join(row.paths))
    if row.key == "flow":
        script_args += [f"otp={harness.TEST_CODE}"]
        if flow_keys:
            script_args.append("keys=" + ",".join(flow_keys))
    if script_args:
        argv += ["--", *script_args]
    cpu_before = harness.cpu_seconds(pid) if pid else None
    result = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    cpu_s = harness.cpu_seconds(pid) - cpu_before if pid and cpu_before is not None else None
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}): {' '.join(argv[:8])} ...\n"
                           f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    statuses = {str(k): int(v) for k, v in data["status"].items()}
    counters = {str(k): int(v) for k, v in (data.get("counters") or {}).items()}
    duration = float(data["duration_s"]) or float(seconds)
    requests = int(data["requests"])
    done = counters.get("flows", 0) if row.key == "flow" else requests
    pct = data["latency_ms"]["p"]
    return Measurement(
        rate=done / duration,
        requests=requests,
        duration_s=duration,
        p50_ms=float(pct["50"]),
        p90_ms=float(pct["90"]),
        p99_ms=float(pct["99"]),
        max_ms=float(data["latency_ms"]["max"]),
        non_2xx=sum(n for code, n in statuses.items() if not code.startswith("2")),
        socket_errors=sum(int(v) for v in data["socket_errors"].values()),
        statuses=statuses,
        counters=counters,
        cpu_s=cpu_s,
    )


# -- one database, one scale ---------------------------------------------------------------


@dataclass
class Fixture:
    plain_key: str
    otp_keys: list[str]
    plain_id: str = ""
    plain_senders: int = 1  # active numbers of the plain account (CHECK_NUMBER)


def set_up(database_url: str, flow_accounts: int) -> Fixture:
    """The benchmark's own accounts, on top of the loaded data."""
    from senderid.domain import custom_numbers
    from senderid.domain.accounts import get_account
    from senderid.domain.types import CLI

    with harness.domain_context(database_url) as ctx:
        plain_id, plain_key = harness.create_account(ctx, "bench-plain", otp_required=False)
        custom_numbers.add(ctx, get_account(ctx, plain_id), name="Support line", number=CHECK_NUMBER, actor=CLI)
        otp_keys = [harness.create_account(ctx, f"bench-otp-{i:02d}")[1] for i in range(flow_accounts)]
    return Fixture(plain_key=plain_key, otp_keys=otp_keys, plain_id=plain_id)


def top_up_senders(database_url: str, fixture: Fixture, total: int) -> None:
    """Give the plain account ``total`` active numbers (one INSERT ... SELECT of the missing
    ones); the change signal empties the servers' memory of its answers, as any change would."""
    import sqlalchemy as sa

    from senderid.store.coltypes import UTCDateTime
    from senderid.store.db import Database
    from senderid.store.tables import custom_numbers

    if total <= fixture.plain_senders:
        return
    db = Database(database_url)
    try:
        seq = sa.select(sa.literal(fixture.plain_senders).label("i")).cte("seq", recursive=True)
        seq = seq.union_all(sa.select(seq.c.i + 1).where(seq.c.i < total - 1))
        i = sa.cast(seq.c.i, sa.String)
        now = sa.literal(datetime.now(UTC), UTCDateTime)
        with db.write() as conn:
            conn.execute(custom_numbers.insert().from_select(
                ["id", "account_id", "number", "name", "status", "created_at", "updated_at", "verified_at"],
                sa.select(sa.literal("benchsender") + i, sa.literal(fixture.plain_id),
                          sa.literal(PREFIX_SENDERS) + sa.func.substr(sa.cast(10_000_000 + seq.c.i, sa.String), 2, 7),
                          sa.literal("bench"), sa.literal("active"), now, now, now)))
    finally:
        db.dispose()
    fixture.plain_senders = total


def preflight(senderid: Process, ceiling: Process, fixture: Fixture, rows: Sequence[Row]) -> None:
    """Each benchmarked request answers 200, and the ceiling answers exactly what senderid does."""
    counter = iter(range(NUMBER_SPACE))

    def number() -> str:
        return f"{PREFIX_PREFLIGHT}{next(counter):07d}"

    def exchange(client: httpx.Client, base: str, row: Row) -> list[tuple[int, bytes]]:
        key = fixture.otp_keys[0] if row.account == "otp" else fixture.plain_key
        headers = {"Authorization": f"Bearer {key}"}
        if row.key == "flow":
            n = number()
            add = client.post(f"{base}/api/v1/customNumber/add", headers=headers,
                              json={"name": "bench", "number": n})
            verify = client.post(f"{base}/api/v1/customNumber/verifyCustomNumber", headers=headers,
                                 json={"name": "bench", "number": n, "otp": harness.TEST_CODE})
            return [(add.status_code, add.content), (verify.status_code, verify.content)]
        if row.paths:
            return [(r.status_code, r.content) for r in (client.get(f"{base}{path}", headers=headers)
                                                          for path in row.paths)]
        if row.method == "POST":
            r = client.post(f"{base}{row.path}", headers=headers, json={"name": "bench", "number": number()})
        else:
            r = client.get(f"{base}{row.path}", headers=headers)
        return [(r.status_code, r.content)]

    with httpx.Client(timeout=10) as client:
        for row in rows:
            ours = exchange(client, senderid.base, row)
            if not row.ceiling:
                for status, body in ours:
                    if status != 200 or not json.loads(body)["data"]["items"]:
                        raise RuntimeError(f"{row.label}: senderid answered {status}, no page: {body[:300]!r}")
                continue
            theirs = exchange(client, ceiling.base, row)
            for (status, body), (c_status, c_body) in zip(ours, theirs, strict=False):
                if status != 200:
                    raise RuntimeError(f"{row.label}: senderid answered {status}: {body[:300]!r}")
                if (status, json.loads(body)) != (c_status, json.loads(c_body)):
                    raise RuntimeError(f"{row.label}: the ceiling does not answer what senderid does:\n"
                                       f"  senderid {status} {body[:300]!r}\n  ceiling  {c_status} {c_body[:300]!r}")


@dataclass
class Result:
    database: str
    scale: int
    row: str
    senderid: Measurement
    ceiling: Measurement | None  # None: a row without one
    rss_mib: float
    processes: int
    checks: dict[str, bool | None] = field(default_factory=dict)
    peer: dict[str, Measurement] = field(default_factory=dict)  # gunicorn workers -> the peer's flow
    peer_workers: int = 0  # the recommended count, which senderid ÷ peer uses
    database_ceiling: float | None = None  # the flow row: flows/s of its statements on the raw driver
    database_connections: int = 0

    @property
    def combined_ceiling(self) -> float | None:
        """Both ceilings in series: each flow pays the framework's time and the database's."""
        a, b = self.ceiling.rate if self.ceiling else None, self.database_ceiling
        return None if not a or not b else 1 / (1 / a + 1 / b)

    @property
    def ratio(self) -> float:
        return self.senderid.rate / self.ceiling.rate if self.ceiling and self.ceiling.rate else 0.0

    @property
    def peer_ratio(self) -> float | None:
        peer = self.peer.get(str(self.peer_workers))
        return self.senderid.rate / peer.rate if peer is not None and peer.rate else None


@contextmanager
def servers(database_url: str, fixture: Fixture, logs: Path, name: str) -> Iterator[tuple[Process, Process]]:
    with ExitStack() as stack:
        senderid = stack.enter_context(harness.senderid_server(database_url, log_path=logs / f"{name}-senderid.log"))
        ceiling = stack.enter_context(harness.ceiling_server(
            {"BENCH_CEILING_OTP_KEYS": ",".join(fixture.otp_keys)}, log_path=logs / f"{name}-ceiling.log"))
        yield senderid, ceiling


def measure_peer(wrk: str, peer: peer_dpv.Peer, options: Options, logs: Path, name: str) -> dict[str, Measurement]:
    """The peer's flow with gunicorn's recommended worker count, then with one worker; each on a fresh database."""
    measured: dict[str, Measurement] = {}
    for workers in dict.fromkeys((peer_dpv.WORKERS, 1)):
        numbers = Numbers()
        with peer.server(workers, log_path=logs / f"{name}-peer-{workers}.log") as server:
            peer_dpv.preflight(server, f"{PREFIX_PREFLIGHT}0000000")  # a fresh database for each server
            if options.warmup:
                run_wrk(wrk, server.base, PEER_ROW, "", options.warmup, options, numbers)
            measured[str(workers)] = run_wrk(wrk, server.base, PEER_ROW, "", options.duration, options, numbers,
                                             pid=server.pid)
            if server.proc.poll() is not None:
                raise RuntimeError(f"{server.name} died during its flow:\n{server.log_tail()}")
    return measured


def bench_one(wrk: str, kind: str, scale: int, options: Options, logs: Path,
              peer: peer_dpv.Peer | None = None) -> list[Result]:
    log = options.log
    rows = [row for row in ROWS if row.key in options.rows]
    results: list[Result] = []
    with harness.database(kind) as url:
        started = time.perf_counter()
        harness.prepare(url)
        loaded = load.load(url, scale)
        fixture = set_up(url, options.flow_accounts)
        if any(row.key == "messages" for row in rows):
            seconds = messages.store(url, fixture.plain_id, scale)
            log(f"[{kind} {load.count_label(scale)}] {load.count_label(scale)} gateway messages of the listed "
                f"account stored in {seconds:.1f} s")
        log(f"[{kind} {load.count_label(scale)}] schema, {load.count_label(scale)} stored numbers "
            f"(loaded in {loaded.seconds:.1f} s) and accounts in {time.perf_counter() - started:.1f} s")
        name = f"{kind}-{load.count_label(scale)}"
        with servers(url, fixture, logs, name) as (senderid, ceiling):
            preflight(senderid, ceiling, fixture, rows)
            numbers = {"senderid": Numbers(), "ceiling": Numbers()}
            for row in rows:
                key = fixture.otp_keys[0] if row.account == "otp" else fixture.plain_key
                flow_keys = fixture.otp_keys if row.key == "flow" else ()
                if row.senders:
                    top_up_senders(url, fixture, row.senders)
                measured: dict[str, Measurement] = {}
                rss = harness.RssSampler(senderid.pid)
                for server in (senderid, ceiling) if row.ceiling else (senderid,):
                    if options.warmup:
                        run_wrk(wrk, server.base, row, key, options.warmup, options, numbers[server.name], flow_keys)
                    with rss if server is senderid else nullcontext():
                        measured[server.name] = run_wrk(wrk, server.base, row, key, options.duration, options,
                                                        numbers[server.name], flow_keys, pid=server.pid)
                    if server.proc.poll() is not None:
                        raise RuntimeError(f"{server.name} died during {row.label}:\n{server.log_tail()}")
                result = Result(kind, scale, row.key, measured["senderid"], measured.get("ceiling"),
                                rss.max_mib, rss.processes)
                results.append(result)
                exhausted = result.senderid.counters.get("exhausted", 0)
                if exhausted:
                    log(f"  warning: {row.label}: numbers repeated ({exhausted} times); raise MAX_RATE")
                ceiling_rate = f"{result.ceiling.rate:8.0f}  {result.ratio:6.1%}" if result.ceiling else "       —"
                log(f"  {row.label:<32} {result.senderid.rate:8.0f} {row.unit:<7} ceiling "
                    f"{ceiling_rate}  p50 {result.senderid.p50_ms:6.1f} ms  "
                    f"p99 {result.senderid.p99_ms:6.1f} ms  errors {result.senderid.errors}  "
                    f"CPU {_ms(result.senderid.cpu_ms_per_op)} "
                    f"({_ms(result.ceiling.cpu_ms_per_op if result.ceiling else None)}) ms/op  "
                    f"RSS {result.rss_mib:.0f} MiB")
                if row.key == "flow" and peer is not None:
                    result.peer, result.peer_workers = measure_peer(wrk, peer, options, logs, name), peer_dpv.WORKERS
                    for workers, m in result.peer.items():
                        label = f"{peer_dpv.NAME}, {workers} worker{'s' if workers != '1' else ''}"
                        log(f"  {label:<32} {m.rate:8.0f} "
                            f"flows/s  p50 {m.p50_ms:6.1f} ms  p99 {m.p99_ms:6.1f} ms  errors {m.errors}  "
                            f"CPU {_ms(m.cpu_ms_per_op)} ms/flow")
                    log(f"  senderid ÷ {peer_dpv.NAME} ({result.peer_workers} workers): {_times(result.peer_ratio)}")
                if row.key == "flow":
                    floor = db_ceiling.measure(url, options.duration, options.warmup)
                    result.database_ceiling, result.database_connections = floor.rate, floor.connections
                    log(f"  {'database ceiling (raw driver)':<32} {floor.rate:8.0f} flows/s  "
                        f"({floor.statements_per_flow} statements a flow, {floor.connections} connection(s)); "
                        f"the flow is {_share(result.senderid.rate, result.database_ceiling)} of it, "
                        f"{_share(result.senderid.rate, result.combined_ceiling)} of both ceilings combined")
    return results


# -- checks and the table ----------------------------------------------------------------


def evaluate(results: list[Result]) -> None:
    rows = {row.key: row for row in ROWS}
    by_key = {(r.database, r.scale, r.row): r for r in results}
    smallest = {db: min(r.scale for r in results if r.database == db) for db in {r.database for r in results}}
    for r in results:
        target = rows[r.row].targets.get(r.database)
        r.checks["ratio"] = None if target is None else r.ratio >= target
        r.checks["p99"] = r.senderid.p99_ms < P99_TARGET_MS
        r.checks["errors"] = r.senderid.errors == 0 and r.senderid.requests > 0  # none answered: not a pass
        r.checks["rss"] = r.rss_mib < RSS_TARGET_MIB
        base = by_key.get((r.database, smallest[r.database], r.row))
        if r.scale >= 1_000_000 and base is not None and base is not r:
            r.checks["scale"] = (r.senderid.requests > 0
                                 and r.senderid.p50_ms <= SCALE_P50_FACTOR * base.senderid.p50_ms)
        else:
            r.checks["scale"] = None


def _mark(ok: bool | None) -> str:
    return "" if ok is None else ("✓" if ok else "✗")


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def _times(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f}×"


def _share(value: float, of: float | None) -> str:
    return "?" if not of else f"{value / of:.0%}"


def ceilings_table(results: list[Result]) -> str:
    """The flow rows against the framework's ceiling, the database's and their combination."""
    flows = [r for r in results if r.database_ceiling is not None and r.ceiling is not None]
    if not flows:
        return ""
    lines = [
        "| database | stored | senderid flows/s | framework ceiling | database ceiling | combined "
        "1 / (1/a + 1/b) | % of framework | % of database | % of combined |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in flows:
        assert r.ceiling is not None and r.database_ceiling is not None
        lines.append(
            f"| {r.database} | {load.count_label(r.scale)} | {r.senderid.rate:,.0f} | {r.ceiling.rate:,.0f} | "
            f"{r.database_ceiling:,.0f} ({r.database_connections} conn.) | {r.combined_ceiling or 0:,.0f} | "
            f"{_share(r.senderid.rate, r.ceiling.rate)} | {_share(r.senderid.rate, r.database_ceiling)} | "
            f"{_share(r.senderid.rate, r.combined_ceiling)} |")
    return "\n".join(lines)


def table(results: list[Result]) -> str:
    rows = {row.key: row for row in ROWS}
    by_key = {(r.database, r.scale, r.row): r for r in results}
    smallest = {db: min(r.scale for r in results if r.database == db) for db in {r.database for r in results}}
    lines = [
        "| database | stored | request | senderid | ceiling | % of ceiling | p50 ms | p99 ms | "
        "ceiling p50 / p99 ms | errors | server CPU ms/op (ceiling) | RSS MiB | checks |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        row = rows[r.row]
        target = row.targets.get(r.database)
        ratio = f"{r.ratio:.0%}" + (f" (≥ {target:.0%}) {_mark(r.checks['ratio'])}" if target is not None else "")
        ceiling_rate, ceiling_ms, ceiling_cpu = "—", "—", "—"
        if r.ceiling is None:
            ratio = "—"
        else:
            ceiling_rate = f"{r.ceiling.rate:,.0f}"
            ceiling_ms = f"{r.ceiling.p50_ms:.1f} / {r.ceiling.p99_ms:.1f}"
            ceiling_cpu = _ms(r.ceiling.cpu_ms_per_op)
        p50 = f"{r.senderid.p50_ms:.1f}"
        base = by_key.get((r.database, smallest[r.database], r.row))
        if r.checks.get("scale") is not None and base is not None:
            p50 += f" ({r.senderid.p50_ms / base.senderid.p50_ms:.2f}× {load.count_label(base.scale)}) " \
                   f"{_mark(r.checks['scale'])}"
        errors = str(r.senderid.errors)
        if r.senderid.errors:
            detail = ", ".join(f"{code}: {n}" for code, n in sorted(r.senderid.statuses.items())
                               if not code.startswith("2"))
            if r.senderid.socket_errors:
                detail = ", ".join(filter(None, [detail, f"socket: {r.senderid.socket_errors}"]))
            errors += f" ({detail})"
        failed = [name for name, ok in r.checks.items() if ok is False]
        checks = "✓" if not failed else "✗ " + ", ".join(failed)
        lines.append(
            f"| {r.database} | {load.count_label(r.scale)} | {row.label} | "
            f"{r.senderid.rate:,.0f} {row.unit} | {ceiling_rate} | {ratio} | {p50} | "
            f"{r.senderid.p99_ms:.1f} {_mark(r.checks['p99'])} | "
            f"{ceiling_ms} | {errors} | "
            f"{_ms(r.senderid.cpu_ms_per_op)} ({ceiling_cpu}) | "
            f"{r.rss_mib:.0f} {_mark(r.checks['rss'])} | {checks} |"
        )
    return "\n".join(lines)


def peer_table(results: list[Result]) -> str:
    """The flow rows next to their peer, django-phone-verify; empty when the peer was not measured."""
    flows = [r for r in results if r.peer]
    if not flows:
        return ""
    counts = list(flows[0].peer)
    recommended = str(flows[0].peer_workers)
    columns = [f"{peer_dpv.NAME} flows/s ({n} worker{'s' if n != '1' else ''})" for n in counts]
    lines = [
        "| database | stored | senderid flows/s | ceiling flows/s | " + " | ".join(columns) +
        f" | senderid ÷ peer ({recommended} workers) | peer p50 / p99 ms | peer errors | peer CPU ms/flow |",
        "|---|---|---:|---:|" + "---:|" * len(columns) + "---:|---:|---:|---:|",
    ]
    for r in flows:
        main = r.peer[recommended]
        ratio = r.peer_ratio
        mark = _mark(None if ratio is None else ratio >= PEER_TARGET)
        cells = " | ".join(f"{r.peer[n].rate:,.0f}" if n in r.peer else "" for n in counts)
        errors = sum(m.errors for m in r.peer.values())
        lines.append(
            f"| {r.database} | {load.count_label(r.scale)} | {r.senderid.rate:,.0f} | "
            f"{r.ceiling.rate if r.ceiling else 0:,.0f} | {cells} | {_times(ratio)} (≈ {PEER_TARGET:.0f}×) {mark} | "
            f"{main.p50_ms:.1f} / {main.p99_ms:.1f} | "
            f"{errors} | " + " / ".join(_ms(r.peer[n].cpu_ms_per_op) for n in counts) + " |"
        )
    return "\n".join(lines)


def machine(databases: Sequence[str], wrk: str) -> dict[str, str]:
    info: dict[str, str] = {}
    info["date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    info["nproc"] = str(os.cpu_count())
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
        info["cpu"] = model.group(1).strip() if model else platform.processor() or "unknown"
        meminfo = Path("/proc/meminfo").read_text()
        total = re.search(r"^MemTotal:\s*(\d+)", meminfo, re.MULTILINE)
        info["memory"] = f"{int(total.group(1)) / 1024 / 1024:.1f} GiB" if total else "unknown"
    except OSError:
        info["cpu"] = platform.processor() or "unknown"
    info["os"] = platform.platform()
    info["python"] = platform.python_version()
    info["sqlite"] = sqlite3.sqlite_version
    if "postgresql" in databases:
        info["postgresql"] = _postgres_version()
    info["wrk"] = wrk_version(wrk)
    from importlib.metadata import PackageNotFoundError, version

    packages = []
    for name in ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "SQLAlchemy", "psycopg", "orjson"):
        try:
            packages.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            packages.append(f"{name} (not installed)")
    info["packages"] = ", ".join(packages)
    return info


def _postgres_version() -> str:
    import sqlalchemy as sa

    from senderid.store.db import normalise_url

    engine = sa.create_engine(normalise_url(harness.POSTGRES_ADMIN))
    try:
        with engine.connect() as conn:
            return str(conn.execute(sa.text("SHOW server_version")).scalar())
    finally:
        engine.dispose()


def _load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def report(results: list[Result], options: Options, info: dict[str, str], elapsed_s: float,
           load_before: str, load_after: str, argv: Sequence[str]) -> str:
    machine_lines = "\n".join(f"- {key}: {value}" for key, value in info.items())
    peer = peer_table(results)
    ceilings = ceilings_table(results)
    if ceilings:
        ceilings = f"""
## The flow against both ceilings

{ceilings}

The framework's ceiling (a) is `benchmarks/ceiling.py`; the database's (b) is `benchmarks/db_ceiling.py`:
the statements of one add and one verify, recorded from a real add and verify, replayed in the same two
transactions on the raw driver (sqlite3 / psycopg) by one process, no HTTP and no framework, a fresh number
and fresh ids each flow (one connection on SQLite, whose writes take turns; threads with a connection each on
PostgreSQL, which overlaps commits). A flow spends its time in both, so together they bound it at about
1 / (1/a + 1/b) on one machine.
"""
    if peer:
        peer = f"""
## The flow row and its peer

{peer}

The peer is django-phone-verify (`benchmarks/peer_dpv`): its `POST /api/phone/register` for a fresh number,
then `POST /api/phone/verify` with the `session_token` of that answer and the code, on Django REST framework
under gunicorn (sync workers; {peer_dpv.WORKERS} is gunicorn's recommended `(2 × cores) + 1`, 1 is the like
of senderid's single process), SQLite in WAL mode, a no-op SMS backend whose code is fixed and checked for
real. Measured with the same wrk settings right after senderid and the ceiling, each worker count on a fresh
database. senderid ÷ peer uses the recommended worker count; the ≈ {PEER_TARGET:.0f}× is what flow ≥ 50 % of the
ceiling amounts to. Peer CPU is gunicorn's master and workers together, per flow.
"""
    return f"""# senderid benchmarks

`{" ".join(["python -m benchmarks.run", *argv])}`: {elapsed_s / 60:.1f} minutes; \
{options.duration} s measured per row and server after a {options.warmup} s warm-up; \
{options.connections} connections; wrk with {options.threads} threads
(the flow row: one thread per connection, so each response is matched to its request). Load average
before / after: {load_before} / {load_after}.

{machine_lines}

{table(results)}
{peer}{ceilings}
Rates are per second over the measured run: requests, or for the flow row complete flows (one add and
one verify, each a request). p50/p99 are per request, measured by wrk; errors are non-2xx responses plus
socket errors and timeouts (5 s). The ceiling is `benchmarks/ceiling.py`: the same server stack (uvicorn,
same options) parsing the same request and answering the same JSON, without a database. RSS is the
largest VmRSS of the senderid server process during the measured run. Server CPU is the user + system
time of the server process per request (per flow) during the measured run, which a busy machine
disturbs less than rates (on PostgreSQL it leaves out the database's own processes). Writes add rows as they run: the
later rows of a block see a few thousand more registrations than the stored count.

Targets: flow ≥ 50 % of the ceiling on SQLite and ≥ 40 % on PostgreSQL; token/verify and senderId/check
≥ 80 %; p99 < {P99_TARGET_MS:.0f} ms; no errors; RSS < {RSS_TARGET_MIB:.0f} MiB; with 1M stored numbers,
p50 ≤ {SCALE_P50_FACTOR} × the figure with the smallest stored count.
"""


def run(options: Options, argv: Sequence[str] = ()) -> tuple[list[Result], str]:
    started = time.perf_counter()
    wrk = ensure_wrk()
    if "postgresql" in options.databases:
        problem = harness.postgres_problem()
        if problem:
            sys.exit(f"{problem}\nStart PostgreSQL, point SENDERID_BENCH_POSTGRES_URL at an admin URL, "
                     "or run with --database sqlite")
    info = machine(options.databases, wrk)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="senderid-bench-logs-") as tmp:
        peer = None
        if options.peer and ("flow" in options.rows or "processes" in options.rows):
            peer = peer_dpv.Peer(Path(tmp))
            info["peer"] = peer.versions
        load_before = _load_average()
        if any(row.key in options.rows for row in ROWS):
            for kind in options.databases:
                for scale in options.scales:
                    results += bench_one(wrk, kind, scale, options, Path(tmp), peer)
        accepted = (gateway.measure(options.databases, options.gateway_messages, 1, Path(tmp), options.log)
                    if "gateway" in options.rows else [])
        scaled = ([processes.measure(wrk, kind, options, Path(tmp), peer if options.peer else None, 1, options.log)
                   for kind in options.databases] if "processes" in options.rows else [])
        delivered = delivery.run_rows(options.delivery, wrk, Path(tmp), options.log)
    evaluate(results)
    elapsed = time.perf_counter() - started
    text = (report(results, options, info, elapsed, load_before, _load_average(), argv) if results
            else delivery.header(argv, elapsed, info, load_before, _load_average()))
    text += gateway.markdown(accepted, options.gateway_messages) + processes.markdown(scaled)
    text += delivery.markdown(delivered)
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(text)
    options.out.with_suffix(".json").write_text(json.dumps(
        {"machine": info, "results": [asdict(r) | {"ratio": r.ratio} for r in results],
         "gateway": [asdict(a) for a in accepted], "processes": [asdict(p) for p in scaled],
         "delivery": delivery.as_json(delivered)}, indent=2))
    return results, text


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    options = parse_args(argv)
    _results, text = run(options, argv)
    print(text)
    print(f"written to {options.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
