"""Change signals between processes: ``subscribe(channel, callback)``, ``start()``, ``stop()``.

One :class:`Listener` per process (the runtime owns it), one thread, one connection:

* **PostgreSQL**: a dedicated psycopg connection in autocommit runs ``LISTEN`` on every
  subscribed channel; the thread waits on notifications and calls the channel's
  callbacks with ``(channel, payload)``. Writers signal with ``NOTIFY`` (or
  ``pg_notify()`` in a trigger), delivered at their commit. A dropped connection is
  reopened with back-off (0.1 s doubling to 5 s).
* **SQLite**: there is no NOTIFY. Triggers bump a per-channel counter in the one-row-
  per-channel table ``change_signals``; the thread reads that table every
  :data:`SQLITE_POLL_SECONDS` on its own connection (a WAL read of one small page,
  which never waits for a writer) and calls the callbacks of each channel whose
  counter moved, with payload None. ``PRAGMA data_version`` was the other candidate:
  cheaper still, but it moves on *every* commit of another connection (each OTP
  sent, each message queued), so under write load it would signal constantly.

A payload of None means "anything on this channel may have changed": callbacks get it
for every channel when the listener (re)connects, since signals may have been missed
while it was away. :attr:`Listener.live` is true while signals are being received; a
cache that relies on them should serve nothing from memory while it is false.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable

from sqlalchemy.engine import make_url

from senderid.store.db import Database, answer_deadline

log = logging.getLogger("senderid.listen")

Callback = Callable[[str, "str | None"], None]
SQLITE_POLL_SECONDS = 0.025
PG_WAIT_SECONDS = 0.05  # longest a wait blocks before it looks at stop() and new channels
# How often the PostgreSQL listener asks its server a question: a connection the network
# has silenced hears no notification and raises nothing, so without an answer due the
# listener would go on trusting memory while other processes' changes are lost. A probe
# that gets no answer within the database timeout closes it (and the caches stop
# trusting memory until a new connection listens).
PG_PROBE_SECONDS = 1.0
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 5.0
BARRIER_CHANNEL = "senderid_barrier"


class Listener:
    def __init__(self, db: Database, *, poll_seconds: float = SQLITE_POLL_SECONDS) -> None:
        self.db = db
        self.poll_seconds = poll_seconds
        self._callbacks: dict[str, list[Callback]] = defaultdict(list)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._live = threading.Event()
        self._thread: threading.Thread | None = None
        self._listening: set[str] = set()
        self._close: Callable[[], None] | None = None  # closes the SQLite reader's connection
        self._polls = 0  # SQLite: completed polls
        self._polled: list[tuple[int, threading.Event]] = []  # barriers waiting for a poll
        self._probes: dict[str, threading.Event] = {}  # PostgreSQL: barrier probes in flight
        self._callbacks[BARRIER_CHANNEL].append(self._probe_arrived)

    # -- the API ------------------------------------------------------------------------

    def subscribe(self, channel: str, callback: Callback) -> None:
        """Call ``callback(channel, payload)`` for each signal on ``channel`` (also after start)."""
        if not channel.replace("_", "").isalnum():
            raise ValueError(f"a channel name is letters, digits and underscores: {channel!r}")
        with self._lock:
            self._callbacks[channel].append(callback)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        target = self._run_sqlite if self.db.is_sqlite else self._run_postgres
        self._thread = threading.Thread(target=target, name="senderid-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        self._set_live(False)
        if self._close is not None:
            self._close()
            self._close = None

    @property
    def live(self) -> bool:
        return self._live.is_set()

    def wait_live(self, timeout: float = 5.0) -> bool:
        return self._live.wait(timeout)

    def barrier(self, timeout: float = 5.0) -> bool:
        """Wait until every signal committed before this call has been delivered.

        PostgreSQL delivers notifications in commit order, so a probe notified now
        arrives after all of them; on SQLite, one full poll that started after this
        call has seen every committed counter. False on timeout.
        """
        if not self.live:
            return False
        done = threading.Event()
        if self.db.is_sqlite:
            with self._lock:
                self._polled.append((self._polls + 1, done))
        else:
            token = f"probe-{id(done)}-{time.monotonic_ns()}"
            with self._lock:
                self._probes[token] = done
            with self.db.engine.connect() as conn:
                conn.exec_driver_sql(f"SELECT pg_notify('{BARRIER_CHANNEL}', '{token}')")
                conn.commit()
        return done.wait(timeout)

    # -- delivery -----------------------------------------------------------------------

    def _probe_arrived(self, channel: str, payload: str | None) -> None:
        with self._lock:
            done = self._probes.pop(payload or "", None)
        if done is not None:
            done.set()

    def _polled_once(self) -> None:
        with self._lock:
            self._polls += 1
            ready = [done for n, done in self._polled if n < self._polls]
            self._polled = [(n, done) for n, done in self._polled if n >= self._polls]
        for done in ready:
            done.set()

    def _dispatch(self, channel: str, payload: str | None) -> None:
        with self._lock:
            callbacks = list(self._callbacks.get(channel, ()))
        for callback in callbacks:
            try:
                callback(channel, payload)
            except Exception:
                log.exception("a change-signal callback failed", extra={"channel": channel})

    def _everything_changed(self) -> None:
        with self._lock:
            channels = list(self._callbacks)
        for channel in channels:
            self._dispatch(channel, None)

    def _set_live(self, live: bool) -> None:
        if live:
            self._live.set()
        elif self._live.is_set():
            self._live.clear()
            self._everything_changed()  # whoever relies on us stops trusting memory now

    def _channels(self) -> list[str]:
        with self._lock:
            return list(self._callbacks)

    def _backoff(self, delay: float) -> float:
        self._set_live(False)
        self._stop.wait(delay)
        return min(delay * 2, BACKOFF_MAX)

    # -- PostgreSQL -----------------------------------------------------------------------

    def _run_postgres(self) -> None:
        from psycopg import sql

        from senderid.store import pgconn

        conninfo = make_url(self.db.url).set(drivername="postgresql").render_as_string(hide_password=False)
        delay = BACKOFF_FIRST
        while not self._stop.is_set():
            try:
                with pgconn.connect(conninfo, answer_within=answer_deadline(self.db.timeout),
                                    autocommit=True, connect_timeout=max(1, round(self.db.timeout))) as conn:
                    self._listening = set()
                    self._listen_new(conn, sql)
                    self._set_live(True)
                    self._everything_changed()  # signals may have been missed before
                    delay = BACKOFF_FIRST
                    probed = time.monotonic()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=PG_WAIT_SECONDS):
                            self._dispatch(note.channel, note.payload)
                        self._listen_new(conn, sql)
                        if time.monotonic() - probed >= PG_PROBE_SECONDS:
                            conn.execute("SELECT 1")  # no answer in time: NoAnswer, and we reconnect
                            probed = time.monotonic()
            except Exception as exc:
                if self._stop.is_set():
                    break
                log.warning("change listener lost its connection; reconnecting",
                            extra={"error": exc.__class__.__name__, "retry_in": delay})
                delay = self._backoff(delay)

    def _listen_new(self, conn: object, sql: object) -> None:
        for channel in self._channels():
            if channel not in self._listening:
                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))  # type: ignore[attr-defined]  # a psycopg connection, typed as the DB-API one
                self._listening.add(channel)

    # -- SQLite ---------------------------------------------------------------------------

    def _run_sqlite(self) -> None:
        database = make_url(self.db.url).database
        delay = BACKOFF_FIRST
        while not self._stop.is_set():
            try:
                read = self._sqlite_reader(database)
                seen = read()
                self._set_live(True)
                self._everything_changed()
                delay = BACKOFF_FIRST
                while not self._stop.wait(self.poll_seconds):
                    now = read()
                    for channel in set(seen) | set(now):
                        if seen.get(channel) != now.get(channel):
                            self._dispatch(channel, None)
                    seen = now
                    self._polled_once()
            except Exception as exc:
                if self._stop.is_set():
                    break
                log.warning("change listener cannot read change_signals; retrying",
                            extra={"error": exc.__class__.__name__, "retry_in": delay})
                delay = self._backoff(delay)

    def _sqlite_reader(self, database: str | None) -> Callable[[], dict[str, int]]:
        query = "SELECT channel, version FROM change_signals"
        if not database or database == ":memory:":  # one connection for everyone: share it
            def read_shared() -> dict[str, int]:
                with self.db.engine.connect() as conn:
                    return {row[0]: row[1] for row in conn.exec_driver_sql(query)}
            return read_shared
        if self._close is not None:
            self._close()
        conn = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=1000")
        self._close = conn.close

        def read_file() -> dict[str, int]:
            return {row[0]: row[1] for row in conn.execute(query)}
        return read_file
