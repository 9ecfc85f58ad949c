"""Delivery benchmarks: how fast queued SMS reach the provider, against the provider's own limit.

Part of ``python -m benchmarks.run`` (``make bench``); ``--delivery-only`` runs these rows
alone, ``--rows delivery-twilio,otp-behind-bulk`` picks some. Every row counts hand-offs
**at the provider peer** (its arrival time of each request, keyed by destination number or,
for ``webhook``, by the ``webhook-id`` = senderid's message id) and takes the rate over the
steady part: the middle 80 % of the hand-offs it saw. A throughput run ends when the backlog
is delivered or ``--delivery-deadline`` seconds (10) after the first hand-off.

The load is what a client sends: a bulk account with an API key queues the backlog through
``POST /api/v1/gateway`` with :class:`senderid.client.Client` (up to 1,000 fresh numbers per
call, an ``Idempotency-Key`` per call), through a ``senderid serve`` with
``SENDERID_WORKER_IN_PROCESS=false``; then the measured process starts on that database and
delivers it. ``SENDERID_SEND_MAX_PER_ACCOUNT_PER_MINUTE`` is raised so one account may queue it
all; test numbers are limited to ``+6140*`` (the load's), so every benchmark number gets a real
SMS. The peers (``peers/``, the ones the tests use) answer each SMS after a fixed latency:

* ``delivery-cellcast``, ``delivery-twilio``, ``delivery-webhook``: the peer of that HTTP
  provider, 50 ms. Its limit is measured first with wrk (``lua/peer.lua``, 64 connections,
  the same request every time); then one ``senderid serve`` (in-process worker, product
  defaults) delivers the backlog. Target: ≥ 50 % of the peer's limit.
* ``smpp``: the node SMSC (``peers/node_smsc/smsc.js``, npm ``smpp``, installed into
  ``peers/node_smsc/node_modules`` when missing), 20 ms per ``submit_sm``, with
  ``SENDERID_SMPP_WINDOW=10`` and ``SENDERID_SMPP_BINDS=1``: limit = window / latency = 500/s
  (a plain windowed node client is measured too, for reference). Target: ≥ 250 msg/s.
* ``otp-behind-bulk``: 5,000 gateway messages queued (twilio peer, 50 ms), then one
  ``POST /api/v1/customNumber/add`` by an OTP account for a fresh number, sent as soon as the
  delivering ``senderid serve`` answers: seconds from that request until the peer has the
  OTP SMS. Target: < 2 s.
* ``scale-out``: PostgreSQL; a ``senderid serve`` with ``SENDERID_WORKER_IN_PROCESS=false``
  for the API, and 1 then 2 ``senderid worker`` processes (``SENDERID_DELIVERY_CONCURRENCY=8``
  each) against a twilio peer answering after 200 ms: a window of 8 × 200 ms per worker
  (40 SMS/s) is far below what the CPU and the peer allow on 2 vCPUs, so the window, not the
  machine, is the limit, and a second worker should double it. The workers are started and
  left to settle (their CPU time stops growing) before the backlog is queued through the API,
  so every worker shares it from the start. Target: 2 workers ≥ 1.6 × one, and no
  destination handed over twice (each message has its own fresh number).
* ``failover`` (:mod:`benchmarks.failover`): two cellcast peers (50 ms) as the providers
  ``first`` and ``second`` of one failover route (``SENDERID_ROUTES_FILE``); ``first`` is
  killed once it has half of the backlog. The rate at ``second`` after the failover against
  one healthy provider's row delivered in the same run. Target: ≥ 80 %, none lost, and no
  more handed over twice than were in flight at the failure.

Settings unknown to a senderid version (``SENDERID_SMPP_WINDOW`` …) are ignored by it, so
the rows run against any version.
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks import harness
from peers import node_smsc, processes, serve, twilio
from peers.cellcast import API_KEY as CELLCAST_KEY
from peers.node_smsc import NodeSmsc
from peers.processes import Process

HERE = Path(__file__).resolve().parent
LUA = HERE / "lua"

HTTP_PROVIDERS = ("cellcast", "twilio", "webhook")
ROW_KEYS = tuple(f"delivery-{p}" for p in HTTP_PROVIDERS) + ("smpp", "otp-behind-bulk", "scale-out", "failover")

HTTP_LATENCY_S = 0.05
SMPP_LATENCY_MS = 20
SMPP_WINDOW = 10
SCALE_LATENCY_S = 0.2
SCALE_CONCURRENCY = 8
PLAIN_CONNECTIONS = 64
STEADY = 0.8  # the middle 80 % of hand-offs
MAX_CONTACTS = 1000  # per gateway call, the API's maximum
QUEUE_CLIENTS = 2  # client threads queueing the backlog

RATIO_TARGET = 0.5
OTP_TARGET_S = 2.0
SCALE_TARGET = 1.6

BULK_PREFIX, OTP_PREFIX = "+6144", "+6145"  # run.py and load.py use +6140..+6143
TEST_OTPS = "+6140*:111111"  # only load.py's numbers are test numbers here
TWILIO_FROM = "+61491570156"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"senderid-bench-webhook-secret!!!").decode()
SMPP_SYSTEM_ID, SMPP_PASSWORD = "bench", "bench"
TEXT = "senderid benchmark: your parcel is on its way"  # one GSM-7 part

DELIVERY_ENV = {
    "SENDERID_TEST_OTPS": TEST_OTPS,
    "SENDERID_SEND_MAX_PER_ACCOUNT_PER_MINUTE": harness.HIGH_LIMIT,
    "SENDERID_WEBHOOK_ALLOW_PRIVATE": "true",
}


# -- options -----------------------------------------------------------------------------


@dataclass
class Options:
    rows: tuple[str, ...] = ROW_KEYS
    database: str = "sqlite"  # of the one-process rows; scale-out is always PostgreSQL
    backlog: int = 6000  # messages queued per throughput row
    otp_bulk: int = 5000  # messages queued ahead of the OTP
    scale_backlog: int = 1200  # per scale-out run
    deadline_s: float = 10.0  # longest delivery phase of a throughput row (after the first hand-off)
    otp_timeout_s: float = 30.0
    peer_seconds: int = 3  # wrk against a peer (after a 1 s warm-up unless warmup is 0)
    warmup: int = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("delivery rows (" + ", ".join(ROW_KEYS) + ")")
    group.add_argument("--delivery-only", action="store_true", help="run the delivery rows and nothing else")
    group.add_argument("--delivery-database", choices=["sqlite", "postgresql"], default="sqlite",
                       help="database of the one-process delivery rows (scale-out always uses PostgreSQL)")
    group.add_argument("--backlog", type=int, default=None,
                       help="messages queued per throughput row (default 6000; --quick 300)")
    group.add_argument("--otp-bulk", type=int, default=None,
                       help="gateway messages queued ahead of the OTP (default 5000; --quick 300)")
    group.add_argument("--delivery-deadline", type=float, default=None,
                       help="longest delivery phase per throughput run after the first hand-off, seconds "
                            "(default 10; --quick 4)")
    group.add_argument("--otp-timeout", type=float, default=None,
                       help="how long to wait for the OTP at the peer, seconds (default 30; --quick 10)")


def options_from(args: argparse.Namespace, rows: Sequence[str], warmup: int) -> Options:
    quick = bool(getattr(args, "quick", False))
    pick = lambda value, full, short: value if value is not None else (short if quick else full)  # noqa: E731
    return Options(
        rows=tuple(r for r in ROW_KEYS if r in rows),
        database=args.delivery_database,
        backlog=max(50, pick(args.backlog, 6000, 300)),
        otp_bulk=max(0, pick(args.otp_bulk, 5000, 300)),
        scale_backlog=pick(None, 1200, 120),
        deadline_s=pick(args.delivery_deadline, 10.0, 4.0),
        otp_timeout_s=pick(args.otp_timeout, 30.0, 10.0),
        peer_seconds=1 if quick else 3,
        warmup=0 if quick else min(warmup, 1),
    )


# -- results -------------------------------------------------------------------------------


@dataclass
class Result:
    row: str
    label: str  # what was measured, with its setting
    database: str
    value: float | None  # SMS/s (throughput rows) or seconds (otp-behind-bulk)
    unit: str
    baseline: float | None  # the limit it is compared with
    baseline_label: str
    ratio: float | None
    target: str
    ok: bool | None
    queued: int = 0
    handoffs: int = 0
    twice: int = 0
    refused: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    note: str = ""


def steady_rate(times: Sequence[float], fraction: float = STEADY) -> float | None:
    """Hand-offs per second over the middle ``fraction`` of them (None with fewer than 5)."""
    ordered = sorted(times)
    n = len(ordered)
    if n < 5:
        return None
    cut = round(n * (1 - fraction) / 2)
    first, last = cut, n - 1 - cut
    span = ordered[last] - ordered[first]
    return (last - first) / span if span > 0 else None


# -- peers ---------------------------------------------------------------------------------


class PeerControl:
    """The control side of a peer (``/_peer/...``), the same for the HTTP peers and the SMSC."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.Client(base_url=base, timeout=10)

    def stats(self) -> dict[str, Any]:
        return dict(self.http.get("/_peer/stats").json())

    def handoffs(self) -> int:
        return int(self.stats()["handoffs"])

    def first(self, key: str) -> tuple[float | None, int | None]:
        data = self.http.get("/_peer/first", params={"key": key}).json()
        return data["time"], data["index"]

    def reset(self) -> None:
        self.http.post("/_peer/reset").raise_for_status()

    def close(self) -> None:
        self.http.close()


@contextmanager
def http_peer(protocol: str, latency: float, logs: Path) -> Iterator[tuple[Process, PeerControl]]:
    with serve.started(protocol, latency, logs / f"peer-{protocol}.log") as server:
        control = PeerControl(server.base)
        try:
            yield server, control
        finally:
            control.close()


def ensure_node_smpp() -> None:
    """node, with the ``smpp`` package installed beside the node SMSC (``peers/node_smsc``)."""
    problem = node_smsc.unavailable()
    if problem:
        raise RuntimeError(f"the smpp row needs node (https://nodejs.org) and npm: {problem}")
    if not node_smsc.installed():
        print("installing the npm `smpp` package into peers/node_smsc/node_modules", file=sys.stderr)
        node_smsc.ensure_installed()


@contextmanager
def smsc_peer(latency_ms: int, logs: Path) -> Iterator[tuple[NodeSmsc, PeerControl]]:
    ensure_node_smpp()
    with NodeSmsc(delay_ms=latency_ms, system_id=SMPP_SYSTEM_ID, password=SMPP_PASSWORD, control=True,
                  log_path=logs / "peer-smsc.log") as smsc:
        control = PeerControl(smsc.control_url)
        try:
            yield smsc, control
        finally:
            control.close()


def provider_env(protocol: str, peer_base: str) -> dict[str, str]:
    if protocol == "twilio":
        return {"SENDERID_SMS_PROVIDER": "twilio", "SENDERID_TWILIO_BASE_URL": peer_base,
                "SENDERID_TWILIO_ACCOUNT_SID": twilio.ACCOUNT_SID, "SENDERID_TWILIO_AUTH_TOKEN": twilio.AUTH_TOKEN,
                "SENDERID_TWILIO_FROM": TWILIO_FROM}
    if protocol == "cellcast":
        return {"SENDERID_SMS_PROVIDER": "cellcast", "SENDERID_CELLCAST_BASE_URL": peer_base,
                "SENDERID_CELLCAST_API_KEY": CELLCAST_KEY}
    if protocol == "webhook":
        return {"SENDERID_SMS_PROVIDER": "webhook",
                "SENDERID_WEBHOOK_PROVIDER_URL": peer_base + serve.send_path("webhook"),
                "SENDERID_WEBHOOK_PROVIDER_SECRET": WEBHOOK_SECRET}
    raise ValueError(protocol)


def smpp_env(port: int) -> dict[str, str]:
    return {"SENDERID_SMS_PROVIDER": "smpp", "SENDERID_SMPP_HOST": "127.0.0.1", "SENDERID_SMPP_PORT": str(port),
            "SENDERID_SMPP_SYSTEM_ID": SMPP_SYSTEM_ID, "SENDERID_SMPP_PASSWORD": SMPP_PASSWORD,
            "SENDERID_SMPP_WINDOW": str(SMPP_WINDOW), "SENDERID_SMPP_BINDS": "1"}


# -- the plain client ----------------------------------------------------------------------


def plain_request(protocol: str) -> tuple[bytes, list[str]]:
    """The body and headers of one typical SMS request to the peer, as its provider sends it."""
    if protocol == "twilio":
        body = httpx.QueryParams({"To": "+61440000001", "Body": TEXT, "From": TWILIO_FROM})
        return str(body).encode(), ["Content-Type: application/x-www-form-urlencoded",
                                    f"Authorization: {serve.authorization('twilio')}"]
    if protocol == "cellcast":
        body = json.dumps({"message": TEXT, "contacts": ["+61440000001"]}).encode()
        return body, ["Content-Type: application/json", f"Authorization: {serve.authorization('cellcast')}"]
    event = {"type": "sms.send", "timestamp": "2026-01-01T00:00:00Z",
             "data": {"id": "0" * 24, "to": "+61440000001", "sender": "", "body": TEXT}}
    return json.dumps(event, separators=(",", ":")).encode(), [
        "Content-Type: application/json", "webhook-id: " + "0" * 24, "webhook-timestamp: 1767225600",
        "webhook-signature: v1," + base64.b64encode(b"x" * 32).decode()]


def peer_limit(wrk: str, protocol: str, server: Process, control: PeerControl, options: Options,
               logs: Path) -> tuple[float, float]:
    """(rate at the peer over the steady part, wrk's own rate) with 64 requests in flight."""
    body, headers = plain_request(protocol)
    body_file = logs / f"plain-{protocol}.body"
    body_file.write_bytes(body)
    argv = [wrk, "-t", "2", "-c", str(PLAIN_CONNECTIONS), "--timeout", "5s", "-s", str(LUA / "peer.lua")]
    for header in headers:
        argv += ["-H", header]
    url = server.base + serve.send_path(protocol)

    def once(seconds: int) -> dict[str, Any]:
        result = subprocess.run([*argv, "-d", f"{seconds}s", url, "--", f"body={body_file}"],
                                capture_output=True, text=True, timeout=seconds + 60)
        line = next((ln for ln in result.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
        if result.returncode != 0 or line is None:
            raise RuntimeError(
                f"wrk against the {protocol} peer failed:\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}"
            )
        return dict(json.loads(line.removeprefix("BENCH_JSON ")))

    if options.warmup:
        once(options.warmup)
    control.reset()
    data = once(options.peer_seconds)
    stats = control.stats()
    control.reset()
    bad = {code: n for code, n in data["status"].items() if not str(code).startswith("2")}
    if bad or stats["refused"]:
        raise RuntimeError(f"the {protocol} peer refused the plain client's requests: {bad or stats['refused']}")
    wrk_rate = data["requests"] / (data["duration_s"] or options.peer_seconds)
    return steady_rate(stats["times"]) or wrk_rate, wrk_rate


def smsc_limit(smsc: NodeSmsc, control: PeerControl, options: Options) -> float | None:
    """What a plain node client with the same window gets from the SMSC (for reference)."""
    control.reset()
    result = smsc.plain_client(SMPP_WINDOW, options.peer_seconds)
    stats = control.stats()
    control.reset()
    if result is None:
        return None
    return steady_rate(stats["times"])


# -- queueing through the API ----------------------------------------------------------------


class Numbers:
    """Fresh mobile numbers, never the same twice in one run."""

    def __init__(self, prefix: str) -> None:
        self.prefix, self.next, self.lock = prefix, 0, threading.Lock()

    def take(self, count: int) -> list[str]:
        with self.lock:
            first, self.next = self.next, self.next + count
        if self.next > 10_000_000:
            raise RuntimeError(f"the numbers under {self.prefix} are used up")
        return [f"{self.prefix}{n:07d}" for n in range(first, first + count)]


def queue_bulk(base: str, key: str, count: int, numbers: Numbers, clients: int = QUEUE_CLIENTS) -> float:
    """Queue ``count`` SMS through ``POST /api/v1/gateway`` as a client does; the seconds it took."""
    from senderid.client import Client

    calls = [min(MAX_CONTACTS, count - start) for start in range(0, count, MAX_CONTACTS)]
    local = threading.local()
    made: list[Client] = []

    def client() -> Client:
        if not hasattr(local, "client"):
            local.client = Client(api_key=key, base_url=base, timeout=120)
            made.append(local.client)
        return local.client

    def one(size: int) -> int:
        result = client().send_sms(message=TEXT, contacts=numbers.take(size))  # a fresh Idempotency-Key
        if len(result.queued) != size:
            raise RuntimeError(f"the gateway queued {len(result.queued)} of {size} contacts")
        return size

    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=clients) as pool:
            done = sum(pool.map(one, calls))
    finally:
        for c in made:
            c.close()
    if done != count:
        raise RuntimeError(f"queued {done} of {count}")
    return time.perf_counter() - started


def new_database(kind: str, stack: ExitStack) -> str:
    url = stack.enter_context(harness.database(kind))
    harness.prepare(url)
    return url


def accounts(url: str) -> tuple[str, str]:
    """Keys of a bulk account (no OTP) and an OTP account."""
    with harness.domain_context(url) as ctx:
        _bulk, bulk_key = harness.create_account(ctx, "bench-bulk", otp_required=False)
        _otp, otp_key = harness.create_account(ctx, "bench-otp", otp_required=True)
    return bulk_key, otp_key


def queue_backlog(url: str, env: Mapping[str, str], count: int, numbers: Numbers, logs: Path,
                  name: str) -> float:
    """The backlog, queued through an API-only ``senderid serve`` that is stopped afterwards."""
    bulk_key, _otp = accounts(url)
    api_env = {**env, "SENDERID_WORKER_IN_PROCESS": "false"}
    with harness.senderid_server(url, api_env, log_path=logs / f"{name}-api.log") as api:
        return queue_bulk(api.base, bulk_key, count, numbers)


FIRST_TIMEOUT_S = 60.0


def wait_for(control: PeerControl, count: int, deadline_s: float, alive: Callable[[], None]) -> float:
    """Until the peer has ``count`` hand-offs, or ``deadline_s`` after the first one (so a slow
    start-up does not eat the measured time); the seconds from the first hand-off."""
    started = time.monotonic()
    while control.handoffs() == 0:
        alive()
        if time.monotonic() - started > FIRST_TIMEOUT_S:
            raise RuntimeError(f"nothing reached the peer within {FIRST_TIMEOUT_S:.0f} s")
        time.sleep(0.05)
    first = time.monotonic()
    while time.monotonic() - first < deadline_s:
        if control.handoffs() >= count:
            break
        alive()
        time.sleep(0.2)
    return time.monotonic() - first


def wait_idle(pids: Sequence[int], timeout_s: float = 30.0) -> None:
    """Until each process has finished starting: its CPU time stops growing (it waits for work)."""
    deadline = time.monotonic() + timeout_s
    last = {pid: harness.cpu_seconds(pid) for pid in pids}
    quiet = dict.fromkeys(pids, 0)
    while time.monotonic() < deadline and min(quiet.values()) < 3:
        time.sleep(0.2)
        for pid in pids:
            now = harness.cpu_seconds(pid)
            quiet[pid] = quiet[pid] + 1 if now - last[pid] < 0.02 else 0
            last[pid] = now


def _alive(server: Process) -> Callable[[], None]:
    def check() -> None:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} died while delivering:\n{server.log_tail()}")
    return check


def _counted(result: Result, stats: Mapping[str, Any]) -> None:
    result.handoffs, result.twice, result.refused = int(stats["handoffs"]), int(stats["twice"]), int(stats["refused"])


# -- the rows --------------------------------------------------------------------------------


def deliver(kind: str, env: Mapping[str, str], control: PeerControl, options: Options, logs: Path,
            name: str, numbers: Numbers) -> dict[str, Any]:
    """Queue the backlog, then one ``senderid serve`` delivers it: what the peer saw."""
    with ExitStack() as stack:
        url = new_database(kind, stack)
        queued_s = queue_backlog(url, env, options.backlog, numbers, logs, name)
        control.reset()
        with harness.senderid_server(url, env, log_path=logs / f"{name}-senderid.log") as server:
            cpu_before = harness.cpu_seconds(server.pid)
            waited = wait_for(control, options.backlog, options.deadline_s, _alive(server))
            cpu_s = harness.cpu_seconds(server.pid) - cpu_before
            stats = control.stats()
        return {"stats": stats, "queued_s": queued_s, "waited_s": waited, "cpu_s": cpu_s}


def _throughput(row: str, label: str, kind: str, delivered: dict[str, Any], limit: float | None,
                limit_label: str, target: float | None, options: Options, note: str = "") -> Result:
    stats = delivered["stats"]
    rate = steady_rate(stats["times"])
    ratio = rate / limit if rate is not None and limit else None
    handoffs = int(stats["handoffs"])
    result = Result(row=row, label=label, database=kind, value=rate, unit="SMS/s", baseline=limit,
                    baseline_label=limit_label, ratio=ratio,
                    target=f"≥ {target:.0%} of the limit" if target is not None else "",
                    ok=None if ratio is None or target is None else ratio >= target, queued=options.backlog)
    _counted(result, stats)
    drained = handoffs >= options.backlog
    result.details = {
        "queued_in_s": round(delivered["queued_s"], 2),
        "gateway_sms_per_s": round(options.backlog / delivered["queued_s"], 1) if delivered["queued_s"] else None,
        "delivery_s": round(delivered["waited_s"], 2),
        "drained": drained,
        "server_cpu_ms_per_sms": round(1000 * delivered["cpu_s"] / handoffs, 2) if handoffs else None,
    }
    if not drained:
        result.note = (f"{handoffs} of {options.backlog} handed over within the {options.deadline_s:.0f} s "
                       "deadline")
    if note:
        result.note = "; ".join(filter(None, [result.note, note]))
    if result.twice or result.refused:
        result.ok = False
    return result


def row_http(wrk: str, protocol: str, options: Options, logs: Path, log: Callable[[str], None]) -> Result:
    numbers = Numbers(BULK_PREFIX)
    with http_peer(protocol, HTTP_LATENCY_S, logs) as (server, control):
        limit, wrk_rate = peer_limit(wrk, protocol, server, control, options, logs)
        log(f"  {protocol} peer: {limit:.0f} SMS/s with {PLAIN_CONNECTIONS} in flight (wrk counts {wrk_rate:.0f}/s)")
        delivered = deliver(options.database, provider_env(protocol, server.base) | DELIVERY_ENV, control,
                            options, logs, f"delivery-{protocol}", numbers)
    return _throughput(f"delivery-{protocol}", f"{protocol}, peer answers after {HTTP_LATENCY_S * 1000:.0f} ms",
                       options.database, delivered, limit,
                       f"peer, wrk {PLAIN_CONNECTIONS} in flight", RATIO_TARGET, options)


def row_smpp(options: Options, logs: Path, log: Callable[[str], None]) -> Result:
    numbers = Numbers(BULK_PREFIX)
    limit = SMPP_WINDOW / (SMPP_LATENCY_MS / 1000)
    with smsc_peer(SMPP_LATENCY_MS, logs) as (smsc, control):
        plain = smsc_limit(smsc, control, options)
        log(f"  SMSC: limit {limit:.0f} msg/s (window {SMPP_WINDOW} / {SMPP_LATENCY_MS} ms); a plain node client "
            f"with that window gets {plain or 0:.0f}/s")
        delivered = deliver(options.database, smpp_env(smsc.port) | DELIVERY_ENV, control, options, logs,
                            "smpp", numbers)
    result = _throughput("smpp", f"smpp, SMSC answers after {SMPP_LATENCY_MS} ms, window {SMPP_WINDOW}, 1 bind",
                         options.database, delivered, limit, "window / latency", RATIO_TARGET, options)
    result.details["plain_client_msg_per_s"] = round(plain, 1) if plain else None
    result.details["max_outstanding"] = delivered["stats"].get("max_outstanding")
    result.details["binds"] = delivered["stats"].get("bound")  # the delivering server's, while it ran
    result.unit = "msg/s"
    return result


def row_otp(options: Options, logs: Path, log: Callable[[str], None]) -> Result:
    numbers, otp_numbers = Numbers(BULK_PREFIX), Numbers(OTP_PREFIX)
    label = f"OTP behind {options.otp_bulk:,} gateway SMS (twilio peer, {HTTP_LATENCY_S * 1000:.0f} ms)"
    with ExitStack() as stack:
        _server, control = stack.enter_context(http_peer("twilio", HTTP_LATENCY_S, logs))
        url = new_database(options.database, stack)
        env = provider_env("twilio", _server.base) | DELIVERY_ENV
        bulk_key, otp_key = accounts(url)
        api_env = {**env, "SENDERID_WORKER_IN_PROCESS": "false"}
        with harness.senderid_server(url, api_env, log_path=logs / "otp-api.log") as api:
            queued_s = queue_bulk(api.base, bulk_key, options.otp_bulk, numbers) if options.otp_bulk else 0.0
        control.reset()
        from senderid.client import Client

        number = otp_numbers.take(1)[0]
        with harness.senderid_server(url, env, log_path=logs / "otp-senderid.log") as server, \
                Client(api_key=otp_key, base_url=server.base, timeout=30) as client:
            before = control.handoffs()
            sent_at = time.time()
            added = client.add_custom_number(name="OTP behind bulk", number=number)
            answered_s = time.time() - sent_at
            if not added.otp_sent:
                raise RuntimeError(f"the add did not send an OTP: {added.message}")
            seen_at, index = None, None
            alive = _alive(server)
            while time.time() - sent_at < options.otp_timeout_s:
                seen_at, index = control.first(number)
                if seen_at is not None:
                    break
                alive()
                time.sleep(0.01)
            stats = control.stats()
    waited = None if seen_at is None else seen_at - sent_at
    result = Result(row="otp-behind-bulk", label=label, database=options.database, value=waited, unit="s",
                    baseline=float(options.otp_bulk), baseline_label="gateway SMS queued ahead", ratio=None,
                    target=f"< {OTP_TARGET_S:.0f} s", ok=waited is not None and waited < OTP_TARGET_S,
                    queued=options.otp_bulk + 1)
    _counted(result, stats)
    result.details = {"queued_in_s": round(queued_s, 2), "add_answered_in_s": round(answered_s, 3),
                      "bulk_handed_before_add": before,
                      "bulk_handed_before_otp": index if index is not None else stats["handoffs"]}
    if waited is None:
        result.note = (f"not at the peer within {options.otp_timeout_s:.0f} s ({stats['handoffs']} bulk SMS "
                       "handed over by then)")
    else:
        result.note = f"{index} bulk SMS handed over before it"
    if result.twice:
        result.ok = False
    return result


@contextmanager
def _workers(count: int, url: str, env: Mapping[str, str], logs: Path, name: str) -> Iterator[list[Process]]:
    with ExitStack() as stack:
        workers = [stack.enter_context(processes.running(
            f"senderid worker {i}", processes.senderid_command("worker"), env=harness.server_env(url, env),
            log_path=logs / f"{name}-worker{i}.log")) for i in range(count)]
        # Left last, so run first: every worker is told to stop before any is waited for.
        stack.callback(lambda: [worker.proc.terminate() for worker in workers])
        yield workers


def row_scale(options: Options, logs: Path, log: Callable[[str], None]) -> Result:
    label = (f"2 workers vs 1, PostgreSQL, SENDERID_DELIVERY_CONCURRENCY={SCALE_CONCURRENCY} each, twilio peer "
             f"{SCALE_LATENCY_S * 1000:.0f} ms")
    problem = harness.postgres_problem()
    if problem:
        return Result(row="scale-out", label=label, database="postgresql", value=None, unit="SMS/s", baseline=None,
                      baseline_label="1 worker", ratio=None, target=f"≥ {SCALE_TARGET}× one worker, none twice",
                      ok=None, note=f"skipped: {problem}")
    rates: dict[int, float | None] = {}
    twice = handoffs = refused = 0
    details: dict[str, Any] = {}
    with http_peer("twilio", SCALE_LATENCY_S, logs) as (server, control):
        env = provider_env("twilio", server.base) | DELIVERY_ENV | {
            "SENDERID_DELIVERY_CONCURRENCY": str(SCALE_CONCURRENCY), "SENDERID_WORKER_IN_PROCESS": "false"}
        for count in (1, 2):
            numbers = Numbers(BULK_PREFIX)
            with ExitStack() as stack:
                url = new_database("postgresql", stack)
                bulk_key, _ = accounts(url)
                api = stack.enter_context(harness.senderid_server(url, env, log_path=logs / f"scale{count}-api.log"))
                control.reset()
                with _workers(count, url, env, logs, f"scale{count}") as workers:
                    def alive(workers: list[Any] = workers, count: int = count) -> None:
                        for worker in workers:
                            if worker.proc.poll() is not None:
                                raise RuntimeError(f"a senderid worker exited with {worker.proc.returncode}; "
                                                   f"see {logs}/scale{count}-worker*.log")
                    # every worker up and waiting before the backlog arrives, so all of them share it
                    wait_idle([worker.pid for worker in workers])
                    alive()
                    queued_s = queue_bulk(api.base, bulk_key, options.scale_backlog, numbers)
                    waited = wait_for(control, options.scale_backlog, options.deadline_s, alive)
                stats = control.stats()  # after the workers stopped: a hand-off at shutdown counts too
            rates[count] = steady_rate(stats["times"])
            twice += int(stats["twice"])
            refused += int(stats["refused"])
            handoffs += int(stats["handoffs"])
            details[f"workers_{count}"] = {"sms_per_s": round(rates[count] or 0, 1), "handoffs": stats["handoffs"],
                                           "twice": stats["twice"], "queued_in_s": round(queued_s, 2),
                                           "delivery_s": round(waited, 2)}
            log(f"  {count} worker(s): {rates[count] or 0:.1f} SMS/s, {stats['handoffs']} hand-offs, "
                f"{stats['twice']} twice")
    one, two = rates.get(1), rates.get(2)
    ratio = two / one if one and two else None
    result = Result(row="scale-out", label=label, database="postgresql", value=two, unit="SMS/s", baseline=one,
                    baseline_label="1 worker", ratio=ratio, target=f"≥ {SCALE_TARGET}× one worker, none twice",
                    ok=ratio is not None and ratio >= SCALE_TARGET and twice == 0 and refused == 0,
                    queued=2 * options.scale_backlog, handoffs=handoffs, twice=twice, refused=refused,
                    details=details)
    result.details["window_limit_per_worker"] = SCALE_CONCURRENCY / SCALE_LATENCY_S
    return result


def run_rows(options: Options, wrk: str, logs: Path, log: Callable[[str], None]) -> list[Result]:
    results: list[Result] = []
    for row in options.rows:
        started = time.perf_counter()
        log(f"[delivery {row}]")
        if row.startswith("delivery-"):
            result = row_http(wrk, row.removeprefix("delivery-"), options, logs, log)
        elif row == "smpp":
            result = row_smpp(options, logs, log)
        elif row == "otp-behind-bulk":
            result = row_otp(options, logs, log)
        elif row == "scale-out":
            result = row_scale(options, logs, log)
        elif row == "failover":
            from benchmarks.failover import row_failover

            result = row_failover(options, logs, log)
        else:
            raise ValueError(f"unknown delivery row {row!r}")
        result.details["row_s"] = round(time.perf_counter() - started, 1)
        log(f"  {line(result)}")
        results.append(result)
    return results


# -- output ----------------------------------------------------------------------------------


def _mark(ok: bool | None) -> str:
    return "" if ok is None else ("✓" if ok else "✗")


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return f"{value:.2f} {unit}" if unit == "s" else f"{value:,.0f} {unit}"


def line(r: Result) -> str:
    ratio = f"{r.ratio:.0%}" if r.ratio is not None and r.row != "scale-out" else (
        f"{r.ratio:.2f}×" if r.ratio is not None else "")
    baseline = "" if r.baseline is None else f" vs {r.baseline:,.0f} ({r.baseline_label})"
    return (f"{r.row}: {_value(r.value, r.unit)}{baseline} {ratio} {_mark(r.ok)}; "
            f"{r.handoffs} hand-offs, {r.twice} twice" + (f"; {r.note}" if r.note else ""))


def header(argv: Sequence[str], elapsed_s: float, info: Mapping[str, str], load_before: str,
           load_after: str) -> str:
    """The top of the report when only delivery rows ran."""
    machine = "\n".join(f"- {key}: {value}" for key, value in info.items())
    return (f"# senderid benchmarks\n\n`{' '.join(['python -m benchmarks.run', *argv])}`: "
            f"{elapsed_s / 60:.1f} minutes. Load average before / after: {load_before} / {load_after}.\n\n"
            f"{machine}\n\n")


def markdown(results: Sequence[Result]) -> str:
    if not results:
        return ""
    lines = [
        "## Delivery",
        "",
        "| row | setting | database | senderid | limit | ratio | target | hand-offs (twice) "
        "| server CPU ms/SMS | notes |",
        "|---|---|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for r in results:
        if r.row == "scale-out":
            ratio = "" if r.ratio is None else f"{r.ratio:.2f}×"
            limit = "—" if r.baseline is None else f"{r.baseline:,.1f} SMS/s (1 worker)"
            value = "—" if r.value is None else f"{r.value:,.1f} SMS/s (2 workers)"
        elif r.row == "otp-behind-bulk":
            ratio, limit, value = "", f"{r.baseline:,.0f} queued ahead", _value(r.value, r.unit)
        else:
            ratio = "" if r.ratio is None else f"{r.ratio:.0%}"
            limit = "—" if r.baseline is None else f"{r.baseline:,.0f} {r.unit} ({r.baseline_label})"
            value = _value(r.value, r.unit)
        cpu = r.details.get("server_cpu_ms_per_sms")
        notes = [r.note] if r.note else []
        if "gateway_sms_per_s" in r.details:
            notes.append(f"backlog of {r.queued:,} queued in {r.details['queued_in_s']:.1f} s")
        if r.details.get("plain_client_msg_per_s"):
            notes.append(f"plain node client, same window: {r.details['plain_client_msg_per_s']:,.0f}/s")
        if r.details.get("max_outstanding") is not None:
            notes.append(f"most submit_sm outstanding: {r.details['max_outstanding']}")
        if r.refused:
            notes.append(f"{r.refused} requests refused by the peer")
        lines.append(f"| {r.row} | {r.label} | {r.database} | {value} | {limit} | {ratio} | {r.target} "
                     f"{_mark(r.ok)} | {r.handoffs:,} ({r.twice}) | {'' if cpu is None else f'{cpu:.2f}'} | "
                     f"{'; '.join(notes)} |")
    lines += [
        "",
        "Rates are hand-offs per second counted at the provider peer over the middle 80 % of the hand-offs "
        "it received (the backlog, or what arrived before the deadline). The limit of an HTTP peer is the "
        f"same peer driven by wrk with {PLAIN_CONNECTIONS} requests in flight; of the SMSC, window / latency. "
        "Each backlog was queued through `POST /api/v1/gateway` (1,000 fresh numbers per call) before the "
        "delivering process started. Twice: destinations (webhook: message ids) the peer received more than "
        "once.",
        "",
    ]
    return "\n".join(lines)


def as_json(results: Sequence[Result]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]
