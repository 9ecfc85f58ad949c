"""SQLite's one writer at a time, handed from process to process without SQLite's back-off.

A SQLite file takes one write transaction at a time. Inside a process, writers queue on
a lock (:class:`senderid.store.db.Database`) and the next one starts as soon as the last
commits. Across processes (``serve --workers 2``, a server and ``senderid worker``) they
used to meet only in SQLite itself: a ``BEGIN IMMEDIATE`` that finds the file locked
sleeps in SQLite's busy handler (1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms …) and
tries again. While one process's threads hand the lock to each other at once, the other
process sleeps through those hand-overs and gets its turn late; two processes ran the
add → verify flow slower than one.

:class:`WriterLock` is an exclusive ``flock`` on a file beside the database
(``<database>-writer``), taken by the one thread of a process that is about to write,
before its ``BEGIN IMMEDIATE``, and given back after its ``COMMIT``/``ROLLBACK``. A waiting
process tries it again within :data:`MAX_POLL_SECONDS` of its release, so the file goes
to the other process without a back-off sleep. It is a courtesy between senderid
processes, not the guard of the data: SQLite's own lock stays that (a writer that does
not take this lock, a migration or another program, still waits in SQLite's busy
handler), and the kernel releases the lock of a process that dies.

:class:`WriteTurn` is the whole turn as a process takes it: its threads queue on a lock,
and the one holding it takes the file's lock. The API's event loop takes it only when it
is free now (:meth:`WriteTurn.take_if_free`), never waiting.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FIRST_POLL_SECONDS = 0.0001
MAX_POLL_SECONDS = 0.001

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]  # the lock is then a no-op, see WriterLock.acquire


class WriterLock:
    """The exclusive write turn on one SQLite file among processes (see the module)."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + "-writer")
        self._fd: int | None = None
        self._pid = 0
        self._guard = threading.Lock()

    def _file(self) -> int:
        with self._guard:
            if self._fd is None or self._pid != os.getpid():  # a forked child opens its own
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                self._pid = os.getpid()
            return self._fd

    def acquire(self, timeout: float) -> bool:
        """Take the turn, waiting at most ``timeout`` seconds; False when it did not come."""
        if fcntl is None:
            return True
        fd = self._file()
        deadline = time.monotonic() + timeout
        pause = FIRST_POLL_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(pause)
                pause = min(pause * 2, MAX_POLL_SECONDS)

    def release(self) -> None:
        if fcntl is not None and self._fd is not None and self._pid == os.getpid():
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._guard:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None


class WriteTurn:
    """The write turn of one SQLite file, as the threads of this process take it: they
    queue on a lock, and the one holding it takes the file's :class:`WriterLock` (None:
    an in-memory database, one process). ``busy``: what to raise when the turn does not
    come within ``timeout`` seconds."""

    def __init__(self, file: WriterLock | None, timeout: float, busy: type[Exception]) -> None:
        self.file, self.timeout, self._busy = file, timeout, busy
        self._process = threading.RLock()
        self._local = threading.local()

    @property
    def held(self) -> bool:
        """True when this thread holds the turn."""
        return bool(getattr(self._local, "held", False))

    @contextmanager
    def take(self) -> Iterator[None]:
        """Hold the turn for the block, waiting up to the timeout for it (nothing to take
        when this thread holds it already)."""
        if self.held:
            yield
            return
        started = time.monotonic()
        if not self._process.acquire(timeout=self.timeout):
            raise self._busy(f"the write lock was busy for {self.timeout:g} s")
        try:
            left = self.timeout - (time.monotonic() - started)
            if self.file is not None and not self.file.acquire(max(left, 0.0)):
                raise self._busy(f"the write lock was busy for {self.timeout:g} s")
            try:
                yield
            finally:
                if self.file is not None:
                    self.file.release()
        finally:
            self._process.release()

    @contextmanager
    def take_if_free(self) -> Iterator[bool]:
        """Hold the turn for the block if it is free now, without waiting: yields True when
        this thread took it, False when another thread or process holds it (or this
        thread does already: it is taken once)."""
        if self.held or not self._process.acquire(blocking=False):
            yield False
            return
        try:
            if self.file is not None and not self.file.acquire(0.0):
                yield False
                return
            self._local.held = True
            try:
                yield True
            finally:
                self._local.held = False
                if self.file is not None:
                    self.file.release()
        finally:
            self._process.release()
