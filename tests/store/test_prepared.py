"""Statements on the driver's cursor (senderid.store.prepared), on both databases: the same
rows and values as SQLAlchemy's own execution, errors wrapped and without their
parameters, every statement counted, and statements it cannot run refused up front."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, func, insert, literal, select
from sqlalchemy.exc import IntegrityError, NoResultFound

from senderid.store.coltypes import UTCDateTime
from senderid.store.prepared import Prepared
from senderid.store.tables import idempotency_keys

SECRET = "body-with-otp-123456"
NOW = datetime(2026, 12, 7, 12, 0, 0, 123000, tzinfo=UTC)

INSERT_KEY = Prepared(insert(idempotency_keys))
BY_ACCOUNT = select(
    idempotency_keys.c.key, idempotency_keys.c.status_code, idempotency_keys.c.response_headers,
    idempotency_keys.c.created_at, (idempotency_keys.c.status_code / literal(7.0)).label("ratio"),
    func.count().over().label("total"),
).where(idempotency_keys.c.account_id == bindparam("account"), idempotency_keys.c.key != "skip-me",
        idempotency_keys.c.expires_at > bindparam("now", type_=UTCDateTime)).order_by(idempotency_keys.c.key)


def _key(key: str, *, account: str = "acct", status: int | None = 200, body: str = SECRET) -> dict[str, object]:
    return dict(account_id=account, key=key, request_hash="h" * 64, status_code=status, response_body=body,
                response_headers={"retry-after": "3"}, created_at=NOW, expires_at=NOW + timedelta(hours=1))


def test_rows_read_as_sqlalchemy_reads_them(db) -> None:
    with db.write() as conn:
        for key in ("a", "b", "skip-me"):
            INSERT_KEY.run(conn, _key(key))
        INSERT_KEY.run(conn, _key("c", status=None))
        INSERT_KEY.run(conn, _key("other", account="acct2"))
    params = {"account": "acct", "now": NOW}
    with db.read() as conn:
        expected = conn.execute(BY_ACCOUNT, params).all()
        got = Prepared(BY_ACCOUNT).run(conn, params).all()
    assert [tuple(row) for row in got] == [tuple(row) for row in expected]
    assert [row._mapping for row in got] == [dict(row._mapping) for row in expected]
    first = got[0]
    assert first.key == "a" and first.created_at == NOW and first.created_at.tzinfo is not None
    assert first.response_headers == {"retry-after": "3"} and first.total == 3
    assert [row.key for row in got] == ["a", "b", "c"]  # the literal "skip-me" compared as written


def test_the_result_helpers(db) -> None:
    statement = Prepared(select(idempotency_keys.c.key).where(idempotency_keys.c.account_id == bindparam("a")))
    with db.write() as conn:
        INSERT_KEY.run(conn, _key("only"))
        assert statement.run(conn, {"a": "acct"}).one().key == "only"
        assert statement.run(conn, {"a": "acct"}).scalar() == "only"
        assert statement.run(conn, {"a": "nobody"}).first() is None
        assert statement.run(conn, {"a": "nobody"}).one_or_none() is None
        with pytest.raises(NoResultFound):
            statement.run(conn, {"a": "nobody"}).one()


def test_a_driver_error_comes_out_as_sqlalchemys_without_its_parameters(db) -> None:
    with db.write() as conn:
        INSERT_KEY.run(conn, _key("twice"))
    with pytest.raises(IntegrityError) as raised, db.write() as conn:
        INSERT_KEY.run(conn, _key("twice"))
    assert SECRET not in str(raised.value) and SECRET not in repr(raised.value)
    with db.read() as conn:  # the failed transaction rolled back; the first row is there
        assert conn.execute(select(func.count()).select_from(idempotency_keys)).scalar() == 1


def test_each_run_is_counted(db) -> None:
    with db.count() as counts, db.write() as conn:
        INSERT_KEY.run(conn, _key("x"))
        Prepared(BY_ACCOUNT).run(conn, {"account": "acct", "now": NOW})
    assert counts.total == 2 and counts.statements[0].lstrip().upper().startswith("INSERT INTO IDEMPOTENCY_KEYS")


def test_statements_it_cannot_run_are_refused_when_compiled(db) -> None:
    table = Table("defaults_here", MetaData(), Column("id", Integer, primary_key=True),
                  Column("made", String, default=lambda: "in python"))
    expanding = select(idempotency_keys.c.key).where(idempotency_keys.c.key.in_(bindparam("keys", expanding=True)))
    with db.write() as conn:
        with pytest.raises(ValueError, match="default computed in Python"):
            Prepared(insert(table)).run(conn, {"id": 1})
        with pytest.raises(ValueError, match="expanded at execution"):
            Prepared(expanding).run(conn, {"keys": ["a"]})
