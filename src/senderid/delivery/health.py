"""What a worker tells the rest of the deployment about its SMS providers.

The circuit breakers (:mod:`senderid.delivery.breaker`) live in one worker's memory;
the console runs in another process. So each worker keeps one row of
``provider_health`` per provider it serves (by name): that breaker's state, since when,
when an open breaker tries again, and the last transient failure it saw. The row is written only when there is
something new — a breaker transition or a failed send — inside the transaction that
records the batch's outcomes (one extra statement then, none while sends succeed). The
worker adds the row when it starts and removes it when it stops; rows of workers that
died without stopping are removed by the next worker to start after a week.

Nothing an SMS carries reaches the row: the error is the provider's reason (an HTTP
status, a connection error), which the outbox's ``last_error`` holds already.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete

from senderid.delivery import breaker as breakers
from senderid.store.db import upsert
from senderid.store.tables import provider_health

FORGET_AFTER = timedelta(days=7)  # a row nobody updated for this long is a dead worker's
ERROR_LENGTH = 500


class HealthReport:
    """One worker's row for one provider: collects what changed between records, writes it in a record's transaction."""

    def __init__(self, worker: str, provider: str, breaker: breakers.CircuitBreaker) -> None:
        self.worker = worker
        self.provider = provider
        self.breaker = breaker
        self._lock = threading.Lock()
        self._version = 0  # bumped by every change; written when it moved past _written
        self._written = 0
        self._since: datetime | None = None
        self._error: tuple[str, datetime] | None = None

    # -- what happened (called from send threads and the breaker's on_change) -------------

    def breaker_changed(self, at: datetime) -> None:
        with self._lock:
            self._since = at
            self._version += 1

    def failed(self, reason: str, at: datetime) -> None:
        with self._lock:
            self._error = (reason[:ERROR_LENGTH], at)
            self._version += 1

    # -- writing (the worker's loop) ------------------------------------------------------

    def start(self, conn: Connection, now: datetime) -> None:
        """The worker starts: its row (breaker closed), and old rows of dead workers go."""
        conn.execute(delete(provider_health).where(provider_health.c.updated_at < now - FORGET_AFTER))
        with self._lock:
            self._since = now
            self._version += 1
        self.write(conn, now)

    def write(self, conn: Connection, now: datetime) -> int | None:
        """Upsert the row when something changed since the last write; returns the version
        written (give it to :meth:`written` once the transaction committed), else None."""
        with self._lock:
            if self._version == self._written:
                return None
            version, since, error = self._version, self._since or now, self._error
        state = self.breaker.state
        values = {
            "provider": self.provider,
            "breaker": state,
            "since": since,
            "reopens_at": self.breaker.reopens_at if state == breakers.OPEN else None,
            "last_error": error[0] if error else None,
            "last_error_at": error[1] if error else None,
            "updated_at": now,
        }
        statement = upsert(conn, provider_health).values(worker=self.worker, **values)
        conn.execute(statement.on_conflict_do_update(index_elements=["worker", "provider"], set_=values))
        return version

    def written(self, version: int | None) -> None:
        if version is None:
            return
        with self._lock:
            self._written = max(self._written, version)

    def stop(self, conn: Connection) -> None:
        conn.execute(delete(provider_health).where(provider_health.c.worker == self.worker,
                                                   provider_health.c.provider == self.provider))
