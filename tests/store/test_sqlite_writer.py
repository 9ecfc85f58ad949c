"""The write turn between processes on one SQLite file (senderid.store.sqlite_writer).

Two Database objects on one file stand for two processes: each holds its own open file, and
``flock`` locks belong to the open file, so they exclude each other as two processes would.
A writer waiting for the other "process" starts within a few milliseconds of its commit,
not after SQLite's busy back-off (whose retries come 228 and 328 ms into a wait), and
a turn that does not come within the database timeout is a DatabaseUnavailable (a 503).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from senderid.store.db import Database, DatabaseUnavailable

HOLD = 0.235  # seconds the other process keeps its write transaction open: just past a busy retry
LATE = 0.03  # the most the waiting writer may start after that commit


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[Database, Database]]:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first, second = Database(url, timeout=2), Database(url, timeout=2)
    with first.write() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    yield first, second
    first.dispose()
    second.dispose()


def hold(db: Database, seconds: float, holding: threading.Event, committed: list[float]) -> None:
    with db.write() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        holding.set()
        time.sleep(seconds)
    committed.append(time.monotonic())


def test_the_other_process_writes_as_soon_as_the_turn_is_free(two: tuple[Database, Database]) -> None:
    first, second = two
    holding, committed = threading.Event(), []
    holder = threading.Thread(target=hold, args=(first, HOLD, holding, committed))
    holder.start()
    assert holding.wait(5)
    with second.write() as conn:
        started = time.monotonic()
        conn.execute(text("INSERT INTO t VALUES (2)"))
    holder.join()
    assert started >= committed[0] - 0.01  # it did wait for the commit
    assert started - committed[0] < LATE, started - committed[0]
    with second.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 2


def test_a_turn_that_does_not_come_in_time_is_unavailable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first, second = Database(url, timeout=2), Database(url, timeout=0.3)
    try:
        holding, committed = threading.Event(), []
        holder = threading.Thread(target=hold, args=(first, 1.0, holding, committed))
        with first.write() as conn:
            conn.execute(text("CREATE TABLE t (n INTEGER)"))
        holder.start()
        assert holding.wait(5)
        began = time.monotonic()
        with pytest.raises(DatabaseUnavailable), second.write():
            pass
        assert time.monotonic() - began < 0.6
        holder.join()
    finally:
        first.dispose()
        second.dispose()
