"""Fill a senderid database with realistic data, fast: not a million API calls.

    python -m benchmarks.load DATABASE_URL [-n 1m] [--accounts 1000] [--seed 1]

The database must be migrated (``senderid db upgrade``). Rows go in directly:

* SQLite: SQLAlchemy Core ``executemany`` in chunks of 50,000 rows inside one
  transaction, with ``PRAGMA synchronous=OFF`` on the loading connection only
  (the server later opens its own connections with its own settings); the WAL
  is checkpointed at the end;
* PostgreSQL: ``COPY ... FROM STDIN`` through psycopg, then ``ANALYZE`` (what
  autovacuum would do shortly after such a load anyway).

What is written, spread over the past year: ``accounts`` accounts (4 in 5
require OTPs, the sizes skewed: a few large customers, many small ones), one API
key each (1 in 10 revoked), ``n`` custom-number registrations with mixed
statuses (about 62 % active, 24 % deleted, 8 % pending, most of them expired,
6 % cancelled, each cancelled one on a number another account verified), one
``otp_sends`` row per OTP sent and one audit event per registration.

Numbers are ``+6140`` followed by 7 digits (all valid AU mobiles, up to 10
million); the load benchmarks use other prefixes, so they never collide.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from senderid.store.db import normalise_url

NUMBER_PREFIX = "+6140"
MAX_NUMBERS = 10_000_000
CHUNK = 50_000
OTP_TTL = timedelta(minutes=10)


def parse_count(text: str) -> int:
    """``1000``, ``1k``, ``250k``, ``1m`` -> an integer."""
    text = text.strip().lower().replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    number = text[:-1] if scale > 1 else text
    value = int(float(number) * scale)
    if value < 0:
        raise ValueError(f"not a count: {text!r}")
    return value


def count_label(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


@dataclass
class Data:
    """The rows to write, table by table, as tuples in ``columns`` order."""

    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rows: dict[str, Iterable[tuple[Any, ...]]] = field(default_factory=dict)


@dataclass
class Loaded:
    counts: dict[str, int]
    seconds: float


def generate(n: int, n_accounts: int = 1000, seed: int = 1, now: datetime | None = None,
             *, times_as_text: bool = False) -> Data:
    """Deterministic rows for ``n`` registrations across ``n_accounts`` accounts.

    Times are naive UTC datetimes, or, with ``times_as_text``, the text SQLAlchemy
    stores for them on SQLite (``YYYY-MM-DD HH:MM:SS.ffffff``). The loop does
    integer arithmetic rather than calls to ``random``: it runs a million times.
    """
    if n > MAX_NUMBERS:
        raise ValueError(f"at most {MAX_NUMBERS} numbers")
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    start = now - timedelta(days=365)

    def t(value: datetime | None) -> Any:
        if value is None or not times_as_text:
            return value
        return value.isoformat(" ", "microseconds")

    accounts, keys = [], []
    account_ids, key_actors, otp_required = [], [], []
    for a in range(n_accounts):
        created = start - timedelta(days=30) + timedelta(seconds=a * 60)
        account_id = f"{int(created.replace(tzinfo=UTC).timestamp()):08x}{rng.getrandbits(64):016x}"
        requires = rng.random() < 0.8
        accounts.append((account_id, f"customer-{a:04d}", requires, t(created), t(created)))
        key_id = f"{int(created.replace(tzinfo=UTC).timestamp()):08x}{rng.getrandbits(64):016x}"
        digest = hashlib.sha256(f"bench-key-{seed}-{a}".encode()).hexdigest()
        revoked = created + timedelta(days=10) if rng.random() < 0.1 else None
        keys.append((key_id, account_id, digest, f"sid_{digest[:8]}", t(created), None, t(revoked)))
        account_ids.append(account_id)
        key_actors.append(f"key:{key_id}")
        otp_required.append(requires)
    # Skewed account sizes: a few large customers, many small ones.
    pick = [int(n_accounts * (k / 4096) ** 2) for k in range(4096)]
    hashes = [hashlib.sha256(f"otp-{seed}-{k}".encode()).hexdigest() for k in range(1024)]
    verify_delays = [timedelta(seconds=30 + 17 * k) for k in range(16)]
    delete_delays = [timedelta(days=1 + k, hours=k) for k in range(32)]
    ttl, cancel_delay = OTP_TTL, timedelta(minutes=2)
    start_epoch = int(start.replace(tzinfo=UTC).timestamp())
    step_us = max(1, int(365 * 86400 * 1_000_000 / max(n, 1)))

    otp_sends: list[tuple[Any, ...]] = []
    audit: list[tuple[Any, ...]] = []

    def registrations() -> Iterator[tuple[Any, ...]]:
        created: Any
        otp_sent: Any
        otp_expires: Any
        verified: Any
        ended: Any
        last_active: tuple[str, int] | None = None  # (number, account index)
        salt = rng.getrandbits(32)
        for i in range(n):
            mix = (i * 2654435761 + salt) & 0xFFFFFFFF  # a cheap, well-spread hash of i
            a = pick[mix >> 20]
            account_id = account_ids[a]
            offset_us = step_us * i + (mix & 0xFFFFF)
            created = start + timedelta(microseconds=offset_us)
            registration_id = f"{start_epoch + offset_us // 1_000_000:08x}{mix:08x}{i:08x}"
            number = f"{NUMBER_PREFIX}{i:07d}"
            roll = (mix >> 8) % 100
            otp_hash = otp_expires = otp_sent = verified = ended = None
            attempts = 0
            if roll < 6 and last_active is not None and last_active[1] != a:
                status, number = "cancelled", last_active[0]  # lost to another account's verify
            elif roll < 14:
                status = "pending"
            elif roll < 38:
                status = "deleted"
            else:
                status = "active"
            if otp_required[a] or status != "active" and status != "deleted":
                otp_sent = created
                otp_expires = created + ttl
                otp_hash = hashes[mix & 1023]
                attempts = 1 if roll % 4 == 0 else 0
            if status == "active":
                verified = created + verify_delays[mix & 15]
                last_active = (number, a)
            elif status == "deleted":
                verified = created + verify_delays[mix & 15]
                ended = created + delete_delays[mix & 31]
            elif status == "cancelled":
                ended, otp_hash = created + cancel_delay, None
            if times_as_text:  # each distinct time formatted once
                created = created.isoformat(" ", "microseconds")
                if otp_sent is not None:
                    otp_sent = created
                    otp_expires = otp_expires.isoformat(" ", "microseconds")
                if verified is not None:
                    verified = verified.isoformat(" ", "microseconds")
                if ended is not None:
                    ended = ended.isoformat(" ", "microseconds")
            if otp_sent is not None:
                otp_sends.append((account_id, number, created))
            audit.append((
                created, key_actors[a], "203.0.113.7", account_id,
                "custom_number.otp_sent" if otp_sent is not None else "custom_number.created",
                registration_id, f'{{"number": "{number}"}}',
            ))
            yield (registration_id, account_id, number, "Support line", status, otp_hash, otp_expires,
                   attempts, otp_sent, created, ended or verified or created, verified, ended)

    data = Data()
    data.columns["accounts"] = ("id", "name", "otp_required", "created_at", "updated_at")
    data.rows["accounts"] = accounts
    data.columns["api_keys"] = ("id", "account_id", "key_hash", "prefix", "created_at", "expires_at", "revoked_at")
    data.rows["api_keys"] = keys
    data.columns["custom_numbers"] = (
        "id", "account_id", "number", "name", "status", "otp_hash", "otp_expires_at", "otp_attempts",
        "otp_sent_at", "created_at", "updated_at", "verified_at", "ended_at",
    )
    data.rows["custom_numbers"] = registrations()
    # Filled while custom_numbers is written: keep these two after it.
    data.columns["otp_sends"] = ("account_id", "number", "created_at")
    data.rows["otp_sends"] = otp_sends
    data.columns["audit_events"] = ("at", "actor", "ip", "account_id", "action", "subject", "details")
    data.rows["audit_events"] = audit
    return data


def _chunks(rows: Iterable[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _insert_sql(engine: sa.Engine, name: str, columns: tuple[str, ...]) -> str:
    """``INSERT INTO name (columns) VALUES (?, ...)`` compiled by SQLAlchemy Core for the engine."""
    table = sa.table(name, *(sa.column(c) for c in columns))
    return str(sa.insert(table).compile(dialect=engine.dialect))


def _indexes(name: str) -> list[sa.Index]:
    from senderid.store import tables

    return sorted(tables.metadata.tables[name].indexes, key=lambda index: str(index.name))


def _drop_indexes(run: Callable[[str], object], dialect: sa.Dialect, names: Iterable[str]) -> list[sa.Index]:
    """Drop the secondary indexes of the big tables: building them once afterwards is faster."""
    dropped = []
    for name in names:
        for index in _indexes(name):
            run(str(sa.schema.DropIndex(index).compile(dialect=dialect)))
            dropped.append(index)
    return dropped


def _create_indexes(run: Callable[[str], object], dialect: sa.Dialect, indexes: list[sa.Index]) -> None:
    for index in indexes:
        run(str(sa.schema.CreateIndex(index).compile(dialect=dialect)))


BIG_TABLES = ("custom_numbers", "otp_sends", "audit_events")


def _load_sqlite(url: str, data: Data, log: Callable[[str], None]) -> dict[str, int]:
    counts: dict[str, int] = {}
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA synchronous=OFF")  # this connection, this load only
            conn.exec_driver_sql("PRAGMA cache_size=-200000")
            conn.commit()  # end SQLAlchemy's autobegun transaction (pysqlite sent no BEGIN for PRAGMAs)
            with conn.begin():
                dropped = _drop_indexes(conn.exec_driver_sql, engine.dialect, BIG_TABLES)
                for name, columns in data.columns.items():
                    started = time.perf_counter()
                    sql = _insert_sql(engine, name, columns)
                    counts[name] = 0
                    for chunk in _chunks(data.rows[name], CHUNK):
                        conn.exec_driver_sql(sql, chunk)  # one executemany per chunk
                        counts[name] += len(chunk)
                    log(f"  {name}: {counts[name]:,} rows in {time.perf_counter() - started:.1f} s")
                started = time.perf_counter()
                _create_indexes(conn.exec_driver_sql, engine.dialect, dropped)
                log(f"  {len(dropped)} indexes rebuilt in {time.perf_counter() - started:.1f} s")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.commit()
    finally:
        engine.dispose()
    return counts


def _load_postgresql(url: str, data: Data, log: Callable[[str], None]) -> dict[str, int]:
    import psycopg

    conninfo = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    counts: dict[str, int] = {}
    dialect = postgresql.dialect()
    with psycopg.connect(conninfo) as conn:
        with conn.cursor() as cur:
            cur.execute("SET maintenance_work_mem = '256MB'")
            dropped = _drop_indexes(cur.execute, dialect, BIG_TABLES)
            for name, columns in data.columns.items():
                started = time.perf_counter()
                counts[name] = 0
                with cur.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in data.rows[name]:
                        copy.write_row(row)
                        counts[name] += 1
                log(f"  {name}: {counts[name]:,} rows in {time.perf_counter() - started:.1f} s")
            started = time.perf_counter()
            _create_indexes(cur.execute, dialect, dropped)
            log(f"  {len(dropped)} indexes rebuilt in {time.perf_counter() - started:.1f} s")
        conn.commit()
        started = time.perf_counter()
        conn.autocommit = True
        conn.execute("ANALYZE")
        log(f"  ANALYZE in {time.perf_counter() - started:.1f} s")
    return counts


def load(database_url: str, n: int, *, n_accounts: int = 1000, seed: int = 1,
         log: Callable[[str], None] = lambda _line: None) -> Loaded:
    """Write ``n`` registrations (and their accounts, keys, OTP sends, audit events)."""
    started = time.perf_counter()
    url = normalise_url(database_url)
    if url.startswith("sqlite"):
        counts = _load_sqlite(url, generate(n, n_accounts=n_accounts, seed=seed, times_as_text=True), log)
    else:
        counts = _load_postgresql(url, generate(n, n_accounts=n_accounts, seed=seed), log)
    return Loaded(counts=counts, seconds=time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database_url")
    parser.add_argument("-n", default="1m", help="registrations to write: 1000, 1k, 1m (default 1m)")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    loaded = load(args.database_url, parse_count(args.n), n_accounts=args.accounts, seed=args.seed,
                  log=lambda line: print(line, file=sys.stderr))
    rows = ", ".join(f"{name} {count:,}" for name, count in loaded.counts.items())
    print(f"loaded in {loaded.seconds:.1f} s: {rows}")


if __name__ == "__main__":
    main()
