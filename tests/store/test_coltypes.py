"""UTC times on both databases: an aware time in, the same instant out, compared in SQL as
time; on SQLite stored as the text SQLAlchemy's own ``DATETIME`` writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import StatementError

from senderid.store.coltypes import UTCDateTime
from senderid.store.prepared import Prepared
from senderid.store.tables import idempotency_keys

TIMES = [
    datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC),  # no microseconds: still written with them
    datetime(2026, 12, 7, 12, 0, 0, 1, tzinfo=UTC),
    datetime(2026, 12, 7, 23, 30, 0, 999999, tzinfo=timezone(timedelta(hours=10, minutes=30))),  # not UTC
    datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),  # a three-digit year
]


def test_sqlite_text_is_sqlalchemys_datetime_text() -> None:
    dialect = sqlite.dialect()
    ours = UTCDateTime().bind_processor(dialect)
    theirs = sqlite.DATETIME().bind_processor(dialect)
    assert ours is not None and theirs is not None
    for value in TIMES:
        assert ours(value) == theirs(value.astimezone(UTC).replace(tzinfo=None))
    assert ours(None) is None
    with pytest.raises(ValueError, match="naive"):
        ours(datetime(2026, 12, 7, 12, 0))


INSERT = Prepared(idempotency_keys.insert())
LATER_THAN = select(idempotency_keys.c.key).where(
    idempotency_keys.c.created_at > bindparam("t", type_=UTCDateTime)).order_by(idempotency_keys.c.created_at)


def test_times_come_back_as_the_same_instant_and_compare_as_time(db) -> None:
    with db.write() as conn:
        for n, value in enumerate(TIMES):
            INSERT.run(conn, dict(account_id="acct", key=f"k{n}", request_hash="h" * 64, status_code=200,
                                  response_body="", response_headers={}, created_at=value, expires_at=value))
    with db.read() as conn:
        stored = dict(conn.execute(select(idempotency_keys.c.key, idempotency_keys.c.created_at)).all())
        assert [stored[f"k{n}"] for n in range(len(TIMES))] == TIMES
        assert all(value.tzinfo == UTC for value in stored.values())
        # 12:00:00.000000 is later than 11:59:59.999999 and earlier than 12:00:00.000001, as text
        # only when both carry their microseconds.
        just_before = datetime(2026, 12, 7, 11, 59, 59, 999999, tzinfo=UTC)
        assert conn.execute(LATER_THAN, {"t": just_before}).scalars().all() == ["k0", "k1", "k2"]
        assert Prepared(LATER_THAN).run(conn, {"t": TIMES[0]}).scalars() == ["k1", "k2"]
    with pytest.raises(StatementError, match="naive"), db.write() as conn:
        conn.execute(update(idempotency_keys).values(created_at=datetime(2026, 12, 7, 12, 0)))
