"""The ``failover`` delivery row: two providers under one failover route, the first stops
answering halfway through the run.

Two cellcast peers answering after 50 ms (``peers.serve``), named ``first`` and ``second``
in a routes file (``SENDERID_ROUTES_FILE``) whose one route is ``providers = ["first",
"second"]``, ``mode = "failover"``. The backlog is queued through the API as in the other
rows, then one ``senderid serve`` delivers it: everything goes to ``first`` while it is
healthy; once it has taken half of the backlog its process is killed (connections refused
from then on). Its breaker opens after ``SENDERID_DELIVERY_BREAKER_FAILURES`` failures and
the rest goes to ``second``, as do the sends that were in flight at ``first`` when it died
(retried after their backoff).

Measured: the rate at ``second`` (hand-offs per second over the middle 80 % of what it
received: after the failover) against **one healthy provider's row measured in the same
run** (the same peer as the single provider, ``SENDERID_SMS_PROVIDER=cellcast``, delivering
the same backlog). Target: ≥ 80 %. Also: messages not sent at the end (from the outbox,
none expected), the seconds from the kill to ``second``'s first hand-off, and the messages
handed over twice (to ``first`` and then ``second``: those in flight at the failure, at most
the worker's window).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from benchmarks import harness
from benchmarks.delivery import (
    BULK_PREFIX,
    DELIVERY_ENV,
    FIRST_TIMEOUT_S,
    HTTP_LATENCY_S,
    Numbers,
    Options,
    PeerControl,
    Result,
    _alive,
    deliver,
    http_peer,
    new_database,
    provider_env,
    queue_backlog,
    steady_rate,
)
from peers.cellcast import API_KEY as CELLCAST_KEY
from peers.processes import Process

if TYPE_CHECKING:
    from senderid.store.db import Database

ROW = "failover"
TARGET = 0.8
WINDOW = 64  # SENDERID_DELIVERY_CONCURRENCY's default: the most that can be in flight at the failure
LABEL = (f"2 cellcast providers ({HTTP_LATENCY_S * 1000:.0f} ms peers), one failover route; the first killed "
         "halfway")


def routes_file(first: str, second: str, path: Path) -> Path:
    path.write_text(
        f'[providers.first]\nkind = "cellcast"\nbase_url = "{first}"\napi_key = "{CELLCAST_KEY}"\n\n'
        f'[providers.second]\nkind = "cellcast"\nbase_url = "{second}"\napi_key = "{CELLCAST_KEY}"\n\n'
        '[[routes]]\nproviders = ["first", "second"]\nmode = "failover"\n'
    )
    return path


def outbox_counts(db: Database) -> dict[str, int]:
    """The outbox's messages by status."""
    from senderid.store.tables import outbox

    with db.read() as conn:
        rows = conn.execute(sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)).all()
    return {str(status): int(count) for status, count in rows}


def handed_over(counts: dict[str, int]) -> int:
    return counts.get("sent", 0) + counts.get("delivered", 0)


def _wait(condition: Callable[[], bool], timeout_s: float, alive: Callable[[], None], what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} within {timeout_s:.0f} s")
        time.sleep(0.02)


def fail_over(options: Options, logs: Path, first: Process, first_ctl: PeerControl, second: Process,
              second_ctl: PeerControl, numbers: Numbers) -> dict[str, Any]:
    """The failover run: queue, deliver, kill ``first`` once it has half; what each peer saw."""
    from senderid.store.db import Database

    backlog = options.backlog
    with ExitStack() as stack:
        url = new_database(options.database, stack)
        env = DELIVERY_ENV | {"SENDERID_ROUTES_FILE": str(routes_file(first.base, second.base,
                                                                       logs / "failover-routes.toml"))}
        queued_s = queue_backlog(url, env, backlog, numbers, logs, ROW)
        db = Database(url)
        stack.callback(db.dispose)
        first_ctl.reset()
        second_ctl.reset()
        with harness.senderid_server(url, env, log_path=logs / f"{ROW}-senderid.log") as server:
            alive = _alive(server)
            _wait(lambda: first_ctl.handoffs() > 0, FIRST_TIMEOUT_S, alive,
                  "nothing reached the first provider (does this senderid serve SENDERID_ROUTES_FILE?)")
            _wait(lambda: first_ctl.handoffs() >= backlog // 2, FIRST_TIMEOUT_S, alive,
                  "the first provider did not get half of the backlog")
            before = first_ctl.stats()
            killed_at = time.time()
            first.proc.kill()  # connections refused from now on; the sends in flight get a reset
            first.proc.wait()
            # until the outbox has every message sent (the sends in flight at the failure are
            # retried after their backoff), or the deadline
            deadline = time.monotonic() + max(options.deadline_s, 8.0)
            while time.monotonic() < deadline and handed_over(outbox_counts(db)) < backlog:
                alive()
                time.sleep(0.25)
            after = second_ctl.stats()
        counts = outbox_counts(db)
    return {"first": before, "second": after, "killed_at": killed_at, "queued_s": queued_s, "counts": counts}


def row_failover(options: Options, logs: Path, log: Callable[[str], None]) -> Result:
    numbers = Numbers(BULK_PREFIX)  # one series for both runs: no number twice at the second peer
    for name in ("first", "second"):  # a log of each peer: peer-cellcast.log in each folder
        (logs / name).mkdir(exist_ok=True)
    with ExitStack() as stack:
        first, first_ctl = stack.enter_context(http_peer("cellcast", HTTP_LATENCY_S, logs / "first"))
        second, second_ctl = stack.enter_context(http_peer("cellcast", HTTP_LATENCY_S, logs / "second"))
        healthy = deliver(options.database, provider_env("cellcast", second.base) | DELIVERY_ENV, second_ctl,
                          options, logs, f"{ROW}-one", numbers)
        one_rate = steady_rate(healthy["stats"]["times"])
        log(f"  one healthy provider: {one_rate or 0:.0f} SMS/s ({healthy['stats']['handoffs']} hand-offs)")
        try:
            run = fail_over(options, logs, first, first_ctl, second, second_ctl, numbers)
        except RuntimeError as exc:  # e.g. a senderid that does not read SENDERID_ROUTES_FILE
            return Result(row=ROW, label=LABEL, database=options.database, value=None, unit="SMS/s",
                          baseline=one_rate, baseline_label="one healthy provider, same run", ratio=None,
                          target=f"≥ {TARGET:.0%} of one healthy provider", ok=False, queued=options.backlog,
                          note=f"failed: {str(exc).splitlines()[0]}")
    a, b, counts = run["first"], run["second"], run["counts"]
    rate = steady_rate(b["times"])
    ratio = rate / one_rate if rate is not None and one_rate else None
    sent = handed_over(counts)
    unsent = options.backlog - sent
    twice = int(a["twice"]) + int(b["twice"]) + max(0, int(a["distinct"]) + int(b["distinct"]) - sent)
    refused = int(a["refused"]) + int(b["refused"])
    gap = min(b["times"]) - run["killed_at"] if b["times"] else None
    result = Result(row=ROW, label=LABEL, database=options.database, value=rate, unit="SMS/s", baseline=one_rate,
                    baseline_label="one healthy provider, same run", ratio=ratio,
                    target=f"≥ {TARGET:.0%} of one healthy provider", queued=options.backlog,
                    ok=ratio is not None and ratio >= TARGET and unsent == 0 and twice <= WINDOW and refused == 0,
                    handoffs=int(a["handoffs"]) + int(b["handoffs"]), twice=twice, refused=refused)
    result.details = {
        "queued_in_s": round(run["queued_s"], 2),
        "first_handoffs": int(a["handoffs"]), "second_handoffs": int(b["handoffs"]),
        "unsent": unsent, "outbox": counts,
        "kill_to_second_s": None if gap is None else round(gap, 2),
        "one_provider_handoffs": int(healthy["stats"]["handoffs"]),
    }
    notes = [f"killed after {a['handoffs']} hand-offs at the first; the second took {b['handoffs']}"]
    if gap is not None:
        notes.append(f"first hand-off at the second {gap:.2f} s after the kill")
    notes.append(f"{unsent} not sent at the end" if unsent else "none lost")
    if twice:
        notes.append(f"{twice} handed over twice (in flight at the failure; at most {WINDOW})")
    result.note = "; ".join(notes)
    return result
