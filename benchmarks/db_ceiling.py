"""The database's ceiling for the add -> verify flow: the statements one add and one verify
run, replayed on the raw driver (sqlite3 / psycopg), with no HTTP and no framework, as fast
as one process can.

    python -m benchmarks.db_ceiling [--database sqlite|postgresql|both] [--duration 5]

One real add and one real verify run through the domain on the benchmark's database, with
the servers' settings (test numbers with a fixed code, every OTP limit raised), and every
statement the driver is handed is recorded with its parameters (SQLAlchemy's
``before_cursor_execute``). The flow is then replayed as the same two transactions
(``BEGIN IMMEDIATE`` ... ``COMMIT`` on SQLite, as senderid's writes; the driver's
transaction and ``commit()`` on PostgreSQL) on one connection of the same engine (so the
same connection settings: WAL, ``synchronous=NORMAL``, timeouts), each statement executed
on the driver's cursor and its rows fetched. Each replayed flow writes new rows as a real
one does: the number and the ids the recorded flow made are replaced by fresh ones in every
parameter that holds them (JSON text included). Parameters are not recomputed (an OTP's
hash, the time), which costs the database nothing either way.

The rate is flows per second (one add and one verify each); with the framework's ceiling
(``benchmarks/ceiling.py``) it bounds what senderid's flow can reach on this machine:
about 1 / (1 / framework + 1 / database) when both run on the same cores.
"""

from __future__ import annotations

import argparse
import itertools
import random
import re
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks import harness

PREFIX = "+6145"  # test numbers (harness.BENCH_ENV: +614* -> fixed code); run.py and load.py use +6140..+6143
_ID = re.compile(r"[0-9a-f]{24}")
_NUMBERS = itertools.count(1)  # the flows' numbers, never one twice in a process
_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA", "SAVEPOINT", "RELEASE")


@dataclass(frozen=True)
class Statement:
    sql: str
    params: Any  # as the driver got them: a tuple (sqlite3) or a dict (psycopg)
    many: bool

    @property
    def locks(self) -> bool:
        """PostgreSQL's advisory locks (keys from the number and the account): renewed per flow,
        as flows of different numbers take different locks."""
        return "pg_advisory_xact_lock" in self.sql


@dataclass(frozen=True)
class Flow:
    """The recorded flow: the add's and the verify's statements, and the values to renew."""

    add: list[Statement]
    verify: list[Statement]
    number: str  # digits only (E.164 without "+"): JSON and E.164 both hold it
    made_ids: frozenset[str]  # ids the flow made (rows, events, messages)

    @property
    def statements(self) -> int:
        return len(self.add) + len(self.verify)


def _settings(database_url: str) -> Any:
    from senderid.settings import Settings

    return Settings(
        database_url=database_url, secret_key=harness.SECRET, test_otps={"+614*": harness.TEST_CODE},
        otp_max_per_account_per_hour=int(harness.HIGH_LIMIT), otp_max_per_number_per_hour=int(harness.HIGH_LIMIT),
        otp_max_per_account_number_per_hour=int(harness.HIGH_LIMIT),
    )


def record(database_url: str, number: str = f"{PREFIX}0000000") -> Flow:
    """Run one add and one verify of ``number`` for a new OTP account; what the driver was handed."""
    from sqlalchemy import event

    from senderid.domain import custom_numbers
    from senderid.domain.accounts import get_account
    from senderid.domain.types import CLI
    from senderid.runtime import build_context

    ctx = build_context(_settings(database_url))
    try:
        account_id, _key = harness.create_account(ctx, "bench-db-ceiling")
        account = get_account(ctx, account_id)
        seen: list[Statement] = []

        def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, executemany: bool) -> None:
            if not statement.lstrip().upper().startswith(_CONTROL):
                seen.append(Statement(statement, parameters, executemany))

        event.listen(ctx.db.engine, "before_cursor_execute", keep)
        try:
            custom_numbers.add(ctx, account, name="bench", number=number, actor=CLI)
            add = list(seen)
            seen.clear()
            custom_numbers.verify(ctx, account, name="bench", number=number, code=harness.TEST_CODE, actor=CLI)
            verify = list(seen)
        finally:
            event.remove(ctx.db.engine, "before_cursor_execute", keep)
    finally:
        ctx.db.dispose()
    made: set[str] = set()
    for statement in add + verify:
        for value in _values(statement.params):
            if isinstance(value, str):
                made.update(_ID.findall(value))
    made.discard(account_id)
    return Flow(add, verify, number.lstrip("+"), frozenset(made))


def _values(params: Any) -> list[Any]:
    if isinstance(params, dict):
        return list(params.values())
    if isinstance(params, (list, tuple)) and params and isinstance(params[0], (list, tuple, dict)):
        return [v for row in params for v in _values(row)]
    return list(params or ())


def _renew(params: Any, swaps: dict[str, str]) -> Any:
    def one(value: Any) -> Any:
        if isinstance(value, str):
            for old, new in swaps.items():
                if old in value:
                    value = value.replace(old, new)
        return value

    if isinstance(params, dict):
        return {k: one(v) for k, v in params.items()}
    if isinstance(params, list):
        return [_renew(row, swaps) for row in params]
    if isinstance(params, tuple) and params and isinstance(params[0], (list, tuple, dict)):
        return [_renew(row, swaps) for row in params]
    return tuple(one(v) for v in params or ())


@dataclass
class Measured:
    flows: int
    seconds: float
    statements_per_flow: int
    connections: int

    @property
    def rate(self) -> float:
        return self.flows / self.seconds if self.seconds else 0.0


CONNECTIONS = {"sqlite": 1, "postgresql": 8}  # SQLite has one writer at a time; PostgreSQL overlaps commits


def replay(database_url: str, flow: Flow, seconds: float, connections: int | None = None,
           group: int = 1) -> Measured:
    """Replay ``flow`` for ``seconds`` on ``connections`` raw driver connections of one process
    (a thread each), a new number each time. ``group`` > 1 (SQLite): what a single writer
    thread with group commit would run: that many requests' transactions in one ``BEGIN
    IMMEDIATE`` ... ``COMMIT``, each in a ``SAVEPOINT`` of its own (so one request's failure
    would roll back that request alone)."""
    from senderid.store.db import Database

    count = connections or CONNECTIONS["sqlite" if database_url.startswith("sqlite") else "postgresql"]
    db = Database(database_url, pool_size=count)  # a connection for every thread
    done = [0] * count
    failed: list[BaseException] = []
    deadline = time.perf_counter() + seconds

    def run(slot: int) -> None:
        try:
            done[slot] = _loop(db, flow, deadline, group)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            failed.append(exc)

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        db.dispose()
    if failed:
        raise failed[0]
    return Measured(sum(done), time.perf_counter() - started, flow.statements, count)


def _loop(db: Any, flow: Flow, deadline: float, group: int = 1) -> int:
    from senderid import ids

    raw = db.engine.raw_connection()
    try:
        driver = raw.driver_connection
        sqlite = db.is_sqlite
        grouped = sqlite and group > 1
        done = 0
        while time.perf_counter() < deadline:
            cursor = driver.cursor()
            if grouped:
                cursor.execute("BEGIN IMMEDIATE")
            for _ in range(group if grouped else 1):
                swaps = {flow.number: f"{flow.number[:4]}{next(_NUMBERS):07d}"}
                swaps.update((made, ids.new_id()) for made in flow.made_ids)
                for statements in (flow.add, flow.verify):
                    if grouped:
                        cursor.execute("SAVEPOINT request")
                    elif sqlite:
                        cursor.execute("BEGIN IMMEDIATE")
                    for s in statements:
                        params = _renew(s.params, swaps)
                        if s.locks:
                            params = {k: random.getrandbits(62) for k in params}
                        if s.many:
                            cursor.executemany(s.sql, params)
                        else:
                            cursor.execute(s.sql, params)
                            if cursor.description is not None:
                                cursor.fetchall()
                    if grouped:
                        cursor.execute("RELEASE request")
                    elif sqlite:
                        cursor.execute("COMMIT")
                    else:
                        driver.commit()
                done += 1
            if grouped:
                cursor.execute("COMMIT")
            cursor.close()
        return done
    finally:
        raw.close()


def measure(database_url: str, seconds: float, warmup: float = 1.0, connections: int | None = None,
            group: int = 1) -> Measured:
    """Record the flow on ``database_url`` (migrated, data loaded), warm up, then measure."""
    flow = record(database_url)
    if warmup:
        replay(database_url, flow, warmup, connections, group)
    return replay(database_url, flow, seconds, connections, group)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.db_ceiling", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--connections", type=int, default=None,
                        help=f"driver connections, a thread each (default {CONNECTIONS})")
    parser.add_argument("--group", type=int, default=1,
                        help="SQLite: requests per transaction, as a writer thread with group commit would run them")
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    for kind in kinds:
        with harness.database(kind) as url:
            harness.prepare(url)
            m = measure(url, args.duration, args.warmup, args.connections, args.group)
        grouped = f", {args.group} requests a commit" if kind == "sqlite" and args.group > 1 else ""
        print(f"{kind}: {m.rate:,.0f} flows/s ({m.statements_per_flow} statements a flow, one process, "
              f"{m.connections} raw driver connection(s){grouped}, {m.seconds:.1f} s)", file=sys.stdout)


if __name__ == "__main__":
    main()
