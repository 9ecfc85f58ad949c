"""PostgreSQL connections that never wait on the server for longer than a deadline.

The server's ``statement_timeout`` ends a slow statement, but only a server that is still
talking can send that error: when the server or the network in between falls silent on a
connection that is already open (a stalled proxy, a dead path whose peer never resets),
a blocked read waits for ever. So every wait of :class:`BoundedConnection` on the server
(a statement and its results, ``COMMIT``, ``ROLLBACK``) gives up after
:attr:`BoundedConnection.answer_within` seconds: the connection is closed there and then
(a half-done exchange cannot be resumed; a cancel request through the same silence could
hang too) and the call raises :class:`NoAnswer`, an ``OperationalError``. psycopg then
reports the connection closed, so SQLAlchemy treats the error as a disconnect: the
connection is discarded instead of going back to the pool, and the pool replaces the
connections opened before it.

TCP keepalives (:data:`KEEPALIVE`) find a peer that vanished under a connection left idle
in the pool or listening for notifications.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import errors

# libpq's TCP keepalive parameters: an idle connection whose peer is gone is noticed
# after about 10 + 3 * 5 = 25 s.
KEEPALIVE = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}


class NoAnswer(psycopg.OperationalError):
    """The server did not answer within the connection's deadline; the connection is closed."""


class BoundedConnection(psycopg.Connection[Any]):
    """A psycopg connection whose waits on the server end after :attr:`answer_within`
    seconds (None: no deadline, e.g. while a migration runs)."""

    answer_within: float | None = None

    def wait(self, gen: Any, interval: float | None = None, timeout: float | None = None) -> Any:
        # A wait that brings its own timeout (psycopg's notifies(timeout=...)) keeps it.
        bounded = timeout is None and self.answer_within is not None
        options: dict[str, Any] = {} if interval is None else {"interval": interval}
        try:
            return super().wait(gen, timeout=self.answer_within if bounded else timeout, **options)
        except errors._WaitTimeout:
            if not bounded:
                raise
            self.pgconn.finish()
            raise NoAnswer(f"the database did not answer within {self.answer_within:g} s; "
                           "the connection was closed") from None


def connect(conninfo: str = "", *, answer_within: float | None, **kwargs: Any) -> BoundedConnection:
    """A :class:`BoundedConnection` (with TCP keepalives unless ``kwargs`` say otherwise)."""
    conn = BoundedConnection.connect(conninfo, **{**KEEPALIVE, **kwargs})
    conn.answer_within = answer_within
    return conn
