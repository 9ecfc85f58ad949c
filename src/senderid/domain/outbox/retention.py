"""An ended message's text blanked once the retention has passed (the row stays: its
status, numbers and times are the record). The worker's housekeeping
(:mod:`senderid.domain.retention`) calls :func:`blank_ended` a batch at a time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Integer, bindparam, delete, select, update

from senderid.domain.outbox.statements import CANCELLED, DEAD, DELIVERED, FAILED, SENT
from senderid.store.coltypes import UTCDateTime
from senderid.store.tables import outbox

ENDED = (SENT, DELIVERED, FAILED, DEAD, CANCELLED)
BLANK = ""


def blank_ended(conn: Connection, *, cutoff: datetime, start: datetime | None, limit: int) -> int:
    """Blank the text of up to ``limit`` messages that ended before ``cutoff`` (and, given
    ``start``, not before it: those were blanked by an earlier sweep). Returns how many."""
    if start is None:
        return int(conn.execute(_BLANK_ALL, {"t_cutoff": cutoff, "t_limit": limit}).rowcount)
    return int(conn.execute(_BLANK_SINCE, {"t_cutoff": cutoff, "t_start": start, "t_limit": limit}).rowcount)


# Built once: the whole outbox, or only what ended since a previous sweep.
def _blanking(*where: Any) -> Any:
    ids = (
        select(outbox.c.id)
        .where(outbox.c.status.in_(ENDED), outbox.c.updated_at < bindparam("t_cutoff", type_=UTCDateTime()),
               outbox.c.body != BLANK, *where)
        .limit(bindparam("t_limit", type_=Integer()))
        .scalar_subquery()
    )
    return update(outbox).where(outbox.c.id.in_(ids)).values(body=BLANK, redacted_body=None)


_BLANK_ALL = _blanking()
_BLANK_SINCE = _blanking(outbox.c.updated_at >= bindparam("t_start", type_=UTCDateTime()))


def delete_ended(conn: Connection, *, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` rows of messages that ended (sent, delivered, failed, dead,
    cancelled) before ``before``: one statement. A message still queued or being sent is
    never deleted, however old."""
    ids = (select(outbox.c.id).where(outbox.c.status.in_(ENDED), outbox.c.updated_at < before)
           .limit(limit).scalar_subquery())
    return int(conn.execute(delete(outbox).where(outbox.c.id.in_(ids), outbox.c.status.in_(ENDED))).rowcount)
