"""Many rows in one statement (senderid.store.bulk): COPY on PostgreSQL, a multi-row INSERT on SQLite.

What a bulk write stores must read back exactly as what an ordinary INSERT stores (times
in UTC, flags, NULLs, text with the characters COPY escapes); it fires the outbox's wake-up
on PostgreSQL, counts as one statement, and a failure is SQLAlchemy's, rolling back the
transaction and leaving the connection usable.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from senderid.store.bulk import insert_rows
from senderid.store.coltypes import UTCDateTime
from senderid.store.db import Database
from senderid.store.tables import outbox
from tests.store.test_change_triggers import OUTBOX, Heard

SYDNEY = timezone(timedelta(hours=10))
AT = datetime(2026, 12, 7, 22, 15, 30, 123456, tzinfo=SYDNEY)  # 12:15:30.123456 UTC
TEXTS = ("plain", "tab\there", "line\nbreak", "back\\slash \\N", "ünïcode 😀", "comma, \"quoted\"", "\r\n")


def row(i: int, **over: object) -> dict[str, object]:
    values: dict[str, object] = {
        "id": f"bulk{i:020d}", "kind": "sms", "account_id": None if i % 2 else "a" * 24,
        "custom_number_id": None, "to_number": f"+6149157{i:04d}", "sender": "Acme",
        "body": TEXTS[i % len(TEXTS)], "redacted_body": None if i % 3 else TEXTS[(i + 1) % len(TEXTS)],
        "status": "queued", "attempts": i % 4, "next_attempt_at": AT + timedelta(seconds=i),
        "scheduled_at": None if i % 2 else AT, "expires_at": None, "created_at": AT.astimezone(UTC),
        "updated_at": AT, "parts": 1 + i % 3, "credits": i, "charged": 0,
        "custom_string": None if i % 5 else f"order-{i}", "acma_registered": (None, True, False)[i % 3],
    }
    values.update(over)
    return values


def stored(db: Database, prefix: str) -> list[dict[str, object]]:
    with db.read() as conn:
        found = conn.execute(sa.select(outbox).where(outbox.c.id.like(f"{prefix}%")).order_by(outbox.c.id))
        return [dict(r._mapping) for r in found]


def test_bulk_rows_read_back_as_inserted_rows(db: Database) -> None:
    bulk = [row(i) for i in range(14)]
    plain = [row(i, id=f"plain{i:019d}") for i in range(14)]
    with db.write() as conn:
        insert_rows(conn, outbox, bulk)
        for r in plain:
            conn.execute(sa.insert(outbox), r)
    copied, inserted = stored(db, "bulk"), stored(db, "plain")
    assert len(copied) == len(inserted) == 14
    for c, p in zip(copied, inserted, strict=True):
        assert {**c, "id": ""} == {**p, "id": ""}
    first = copied[0]
    assert first["created_at"] == datetime(2026, 12, 7, 12, 15, 30, 123456, tzinfo=UTC)
    assert first["body"] == "plain" and copied[6]["body"] == "\r\n" and copied[3]["body"] == "back\\slash \\N"
    assert [c["acma_registered"] for c in copied[:3]] == [None, True, False]
    # compared in SQL with a bound time, as the claim and the rate count compare them
    with db.read() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(outbox).where(
            outbox.c.id.like("bulk%"), outbox.c.created_at == sa.bindparam("t", type_=UTCDateTime)),
            {"t": AT}).scalar()
    assert count == 14


def test_bulk_rows_are_one_counted_statement(db: Database) -> None:
    with db.count() as counts, db.write() as conn:
        insert_rows(conn, outbox, [row(i) for i in range(50)])
    assert counts.total == 1, counts.statements
    verb = "INSERT INTO OUTBOX" if db.is_sqlite else "COPY OUTBOX"
    assert counts.statements[0].upper().startswith(verb), counts.statements


def test_nothing_to_write_is_no_statement(db: Database) -> None:
    with db.count() as counts, db.write() as conn:
        insert_rows(conn, outbox, [])
    assert counts.total == 0


def test_a_duplicate_is_sqlalchemys_integrity_error_and_rolls_back_everything(db: Database) -> None:
    with db.write() as conn:
        insert_rows(conn, outbox, [row(1)])
    with pytest.raises(sa.exc.IntegrityError) as raised, db.write() as conn:
        insert_rows(conn, outbox, [row(2)])
        insert_rows(conn, outbox, [row(3), row(1)])
    assert "+6149157" not in str(raised.value)  # parameters are never shown (SMS text, codes)
    assert [r["id"] for r in stored(db, "bulk")] == [row(1)["id"]]
    with db.write() as conn:  # the connection went back to the pool in working order
        insert_rows(conn, outbox, [row(4), row(5)])
    assert len(stored(db, "bulk")) == 3


@pytest.fixture
def heard(db: Database) -> Iterator[Heard]:
    h = Heard(db)
    h.listener.start()
    assert h.listener.wait_live(5)
    yield h
    h.listener.stop()


def test_bulk_outbox_rows_wake_other_processes_workers(db: Database, heard: Heard) -> None:
    if db.is_sqlite:
        pytest.skip("on SQLite other processes' workers find new messages by polling")

    def queue() -> None:
        with db.write() as conn:
            insert_rows(conn, outbox, [row(i) for i in range(3)])

    assert (OUTBOX, "") in heard.after(queue)


def test_a_value_that_does_not_fit_is_not_repeated_in_the_log(db: Database) -> None:
    """PostgreSQL's COPY quotes the failing value in its error's CONTEXT line, without a
    DETAIL line (an INSERT's error would not quote it): the log's scrub cuts it."""
    from senderid.logs import scrub

    if db.is_sqlite:
        pytest.skip("SQLite does not enforce a VARCHAR's length")
    too_long = "+61491570156" + "7" * 20  # to_number is 20 characters at most
    with pytest.raises(sa.exc.DBAPIError) as raised, db.write() as conn:
        insert_rows(conn, outbox, [row(1), row(2, to_number=too_long)])
    assert too_long in str(raised.value.orig)
    assert too_long not in scrub(str(raised.value))
