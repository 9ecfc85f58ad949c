"""Profile senderid under one benchmark load with py-spy, and summarise the hot spots.

    python -m benchmarks.profile [--database sqlite] [--scale 1k] [--rows token,flow]
                                 [--seconds 10] [--gil] [--ceiling]

Sets up a database as ``benchmarks.run`` does, starts ``senderid serve``, drives
it with the row's wrk script and meanwhile records it with ``py-spy record
--format raw`` (collapsed stacks: open them in https://www.speedscope.app or
flamegraph.pl). Prints, per row, the functions where samples end (self time)
and the functions samples pass through (inclusive time), in percent of the
samples. By default every thread that is not idle is sampled; ``--gil`` keeps
only samples of the thread holding the GIL (where Python CPU goes).

Needs py-spy (``.venv/bin/pip install py-spy``) and permission to ptrace the
server (root, or ``kernel.yama.ptrace_scope=0``).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks import harness, load, run

OUT = run.HERE / "out"
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        sys.exit("py-spy is not installed: .venv/bin/pip install py-spy")
    return found


def _name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    file = match.group("file")
    for marker in ("site-packages/", "lib/python3", "src/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{match.group('func')} ({file})"


# Where request time goes, by what the samples pass through (a sample may count in several).
FOCUS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("authentication (caller dependency)", ("caller (senderid/api/deps.py)",)),
    ("work done in threadpool threads", ("WorkerThread.run (anyio",)),
    ("threadpool hand-off code itself (self time in anyio, threading, queue)",
     ("self:(anyio/", "self:(threading.py)", "self:(queue.py)", "self:(starlette/concurrency.py)")),
    ("SQLAlchemy: Connection.execute (all)", ("Connection.execute (sqlalchemy",)),
    ("SQLAlchemy: cache key + compiled-cache lookup", ("_compile_w_cache",)),
    ("SQLAlchemy: building statements (select/where/insert)", ("Select.where", "select (sqlalchemy",
                                                              "Insert.values", "Update.values", "Update.where",
                                                              "Select.join", "Select.__init__", "or_ (sqlalchemy",
                                                              "ColumnOperators.__eq__", "operate (sqlalchemy")),
    ("transactions: Database.read/write (BEGIN ... COMMIT)", ("Database.write", "Database.read")),
    ("number parsing (phonenumbers)", ("parse_mobile",)),
    ("access log (logging)", ("Logger.info", "Logger._log")),
    ("FastAPI dependency solving", ("solve_dependencies",)),
    ("HTTP parsing and writing (uvicorn)", ("data_received", "RequestResponseCycle.send")),
    ("JSON body + envelope (orjson)", ("json_object", "ok (senderid/api/envelope.py)")),
    ("audit records", ("record (senderid/domain/audit.py)",)),
    ("OTP send limits", ("_check_send_limits",)),
)


def _matches(frames: list[str], needle: str) -> bool:
    if needle.startswith("self:"):  # the leaf frame only
        return bool(frames) and needle[5:] in frames[-1]
    return any(needle in frame for frame in frames)


def focus(stacks: list[tuple[list[str], int]], total: int) -> list[str]:
    lines = []
    for label, needles in FOCUS:
        hit = sum(count for frames, count in stacks if any(_matches(frames, n) for n in needles))
        lines.append(f"  {100 * hit / total:5.1f} %  {label}")
    return lines


def summarise(raw: Path, top: int = 20) -> str:
    stacks: list[tuple[list[str], int]] = []
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_name(f) for f in stack.split(";")]
        if frames and frames[0].startswith(("process ", "thread ")):
            frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        stacks.append((frames, int(count)))
    total = sum(count for _frames, count in stacks) or 1
    leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        if frames:
            leaf[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    lines = [
        f"{total} samples",
        "",
        "by concern (samples passing through; self time where marked):",
        *focus(stacks, total),
        "",
        "self (where samples end):",
    ]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in leaf.most_common(top)]
    lines += ["", "inclusive (samples passing through):"]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in inclusive.most_common(top + 20)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--scale", default="1k")
    parser.add_argument("--rows", default="token,flow")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--gil", action="store_true", help="only samples holding the GIL")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--native", action="store_true", help="include C frames (py-spy --native)")
    parser.add_argument("--ceiling", action="store_true",
                        help="profile the framework ceiling (benchmarks/ceiling.py) under the same load instead: "
                             "what senderid's profile has that the framework alone does not")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for senderid serve (e.g. SENDERID_LOG_LEVEL=WARNING)")
    args = parser.parse_args()
    spy = py_spy()
    wrk = run.ensure_wrk()
    options = run.Options(databases=[args.database], scales=[load.parse_count(args.scale)],
                          duration=args.seconds, warmup=1, connections=args.connections,
                          threads=min(args.threads, args.connections))
    extra_env = dict(item.split("=", 1) for item in args.env)
    rows = [row for row in run.ROWS if row.key in args.rows.split(",")]
    OUT.mkdir(parents=True, exist_ok=True)
    with harness.database(args.database) as url, tempfile.TemporaryDirectory() as tmp:
        harness.prepare(url)
        load.load(url, options.scales[0])
        fixture = run.set_up(url, options.flow_accounts)
        if args.ceiling:
            serving = harness.ceiling_server({"BENCH_CEILING_OTP_KEYS": ",".join(fixture.otp_keys), **extra_env},
                                             log_path=Path(tmp) / "ceiling.log")
        else:
            serving = harness.senderid_server(url, extra_env, log_path=Path(tmp) / "senderid.log")
        with serving as server:
            numbers = run.Numbers()
            for row in rows:
                key = fixture.otp_keys[0] if row.account == "otp" else fixture.plain_key
                flow_keys = fixture.otp_keys if row.key == "flow" else ()
                run.run_wrk(wrk, server.base, row, key, 1, options, numbers, flow_keys)  # warm-up
                name = f"{'ceiling' if args.ceiling else args.database}-{row.key}{'-gil' if args.gil else ''}"
                raw = OUT / f"profile-{name}.txt"
                argv = [spy, "record", "--pid", str(server.pid), "--duration", str(args.seconds),
                        "--rate", str(args.rate), "--format", "raw", "--output", str(raw)]
                if args.gil:
                    argv.append("--gil")
                if args.native:
                    argv.append("--native")
                spy_proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                time.sleep(0.5)
                measured = run.run_wrk(wrk, server.base, row, key, args.seconds + 1, options, numbers, flow_keys,
                                       pid=server.pid)
                _out, err = spy_proc.communicate(timeout=60)
                if spy_proc.returncode != 0 or not raw.exists():
                    sys.exit(f"py-spy failed: {err.decode(errors='replace')}")
                print(f"== {name.removesuffix('-gil')} {row.label}: {measured.rate:.0f} {row.unit} under py-spy, "
                      f"p50 {measured.p50_ms:.1f} ms, server CPU {measured.cpu_ms_per_op or 0:.2f} ms per "
                      f"{'flow' if row.key == 'flow' else 'request'} (raw stacks: {raw})")
                if args.gil:
                    samples = sum(int(line.rpartition(" ")[2]) for line in raw.read_text().splitlines()
                                  if line.rpartition(" ")[2].isdigit())
                    print(f"the GIL was held in {100 * samples / (args.rate * args.seconds):.0f} % of "
                          f"{args.rate * args.seconds} sampling instants")
                print(summarise(raw))
                print()


if __name__ == "__main__":
    main()
