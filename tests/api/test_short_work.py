"""Short work on the event loop (senderid.api.deps): where it runs, and that the loop never
waits for a lock.

On SQLite a short write runs on the event loop itself when the write turn is free, and in a
worker thread when another thread or process holds it, while the loop goes on serving; a
short read runs on the loop and may not write. On PostgreSQL both go to a worker thread.
"""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from senderid.api import deps

# The write turn is SQLite's: PostgreSQL has none, and its short work always takes a thread.
ONLY_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _request(ctx):
    return SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(ctx=ctx)))


def _write(ctx, tag: str) -> int:
    with ctx.db.write() as conn:
        conn.execute(text("INSERT INTO settings_kv (key, value) VALUES (:k, 'x')"), {"k": tag})
    return threading.get_ident()


@pytest.fixture
def kv(ctx):
    with ctx.db.write() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS settings_kv (key TEXT PRIMARY KEY, value TEXT)"))
    yield
    with ctx.db.write() as conn:
        conn.execute(text("DROP TABLE settings_kv"))


def _keys(ctx) -> set[str]:
    with ctx.db.read() as conn:
        return {row[0] for row in conn.execute(text("SELECT key FROM settings_kv"))}


def test_a_short_write_runs_on_the_loop_when_the_turn_is_free(ctx, kv) -> None:
    async def main() -> tuple[int, int]:
        return threading.get_ident(), await deps.short_write(_request(ctx), lambda: _write(ctx, "a"))

    loop_thread, work_thread = asyncio.run(main())
    assert (work_thread == loop_thread) is ctx.db.is_sqlite
    assert _keys(ctx) == {"a"}


@ONLY_SQLITE
def test_while_another_thread_writes_the_loop_goes_on_and_the_write_waits_in_a_thread(ctx, kv) -> None:
    holding, release = threading.Event(), threading.Event()

    def long_write() -> None:
        with ctx.db.write() as conn:
            conn.execute(text("INSERT INTO settings_kv (key, value) VALUES ('long', 'x')"))
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=long_write)
    holder.start()
    assert holding.wait(10)

    async def main() -> tuple[int, int, int]:
        ticks = 0
        writes = [asyncio.create_task(deps.short_write(_request(ctx), lambda t=t: _write(ctx, t)))
                  for t in ("b", "c")]
        # The loop is free while both wait for the turn: it keeps ticking.
        started = time.monotonic()
        while time.monotonic() - started < 0.3:
            await asyncio.sleep(0.01)
            ticks += 1
        assert not any(w.done() for w in writes)
        release.set()
        threads = await asyncio.gather(*writes)
        return threading.get_ident(), ticks, threads[0]

    try:
        loop_thread, ticks, first_thread = asyncio.run(main())
    finally:
        release.set()
        holder.join(10)
    assert ticks >= 10  # the loop was never blocked by the held turn
    assert first_thread != loop_thread  # the first waited in a worker thread
    assert _keys(ctx) == {"long", "b", "c"}


def test_a_short_read_may_not_write_on_sqlite(ctx, kv) -> None:
    async def main() -> int:
        return await deps.short_read(ctx, lambda: _write(ctx, "d"))

    if ctx.db.is_sqlite:
        with pytest.raises(RuntimeError, match="only reads"):
            asyncio.run(main())
        assert _keys(ctx) == set()
    else:
        assert asyncio.run(main()) != threading.get_ident()  # a worker thread, free to write
        assert _keys(ctx) == {"d"}


def test_a_short_read_runs_on_the_loop_on_sqlite(ctx, kv) -> None:
    async def main() -> tuple[int, int]:
        return threading.get_ident(), await deps.short_read(ctx, threading.get_ident)

    loop_thread, work_thread = asyncio.run(main())
    assert (work_thread == loop_thread) is ctx.db.is_sqlite


@ONLY_SQLITE
def test_the_turn_is_not_taken_while_another_process_holds_the_file(ctx, kv) -> None:
    other = type(ctx.db)(ctx.db.url)  # another process's lock: a separate open file description
    try:
        file = other._turn.file
        assert file is not None and file.acquire(1.0)
        with ctx.db.turn_if_free() as held:
            assert held is False
        file.release()
        with ctx.db.turn_if_free() as held:
            assert held is True
            with ctx.db.turn_if_free() as again:
                assert again is False  # not twice on one thread
    finally:
        other.dispose()
