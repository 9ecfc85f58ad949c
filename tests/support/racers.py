"""Racers released together on a barrier, each result a value or the exception it raised.

On PostgreSQL the racers are threads sharing the test's Context: the database sees
concurrent connections either way. On SQLite they are separate processes (forked, each
with its own connection pool on the same database file): inside one process the
``Database`` writer lock would serialise them, and the test would exercise a Python lock
rather than SQLite's own locking and the rules built on it.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import pickle
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from senderid.domain.context import Context

BARRIER_SECONDS = 30
RESULT_SECONDS = 90


def race(ctx: Context, n: int, fn: Callable[[int], Any]) -> list[Any]:
    """``[fn(0), ..., fn(n-1)]`` run at the same moment (see the module's doc)."""
    return _in_processes(ctx, n, fn) if ctx.db.is_sqlite else _in_threads(n, fn)


def _in_threads(n: int, fn: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(n)

    def run(i: int) -> Any:
        barrier.wait(timeout=BARRIER_SECONDS)
        try:
            return fn(i)
        except Exception as exc:  # collected, judged by the test
            return exc

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


class _Pickler(pickle.Pickler):
    """Exceptions travel as class, args and attributes (some take more than one argument)."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, BaseException):
            return _rebuild, (type(obj), obj.args, dict(vars(obj)))
        return NotImplemented


def _rebuild(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> BaseException:
    exc = cls.__new__(cls)
    exc.args = args
    vars(exc).update(state)
    return exc


def _dumps(value: Any) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer).dump(value)
    return buffer.getvalue()


def _in_processes(ctx: Context, n: int, fn: Callable[[int], Any]) -> list[Any]:
    forked = multiprocessing.get_context("fork")  # the racers inherit fn, ctx and the test's objects
    barrier = forked.Barrier(n)
    results = forked.Queue()

    def run(i: int) -> None:
        code = 0
        try:
            ctx.db.engine.dispose(close=False)  # the parent's pooled connections stay the parent's
            barrier.wait(timeout=BARRIER_SECONDS)
            try:
                value: Any = fn(i)
            except Exception as exc:  # collected, judged by the test
                value = exc
            try:
                payload = _dumps(value)
            except Exception:
                payload = _dumps(RuntimeError(f"racer {i}: unpicklable result {value!r}"))
            results.put((i, payload))
            results.close()
            results.join_thread()
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)  # no pytest teardown, no atexit hooks of the parent in a racer

    racers = [forked.Process(target=run, args=(i,), daemon=True) for i in range(n)]
    for racer in racers:
        racer.start()
    try:
        got = dict(results.get(timeout=RESULT_SECONDS) for _ in range(n))
    finally:
        for racer in racers:
            racer.join(timeout=10)
            if racer.is_alive():
                racer.kill()
    return [pickle.loads(got[i]) for i in range(n)]
