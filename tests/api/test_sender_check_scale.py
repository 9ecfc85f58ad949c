"""senderId/check and the gateway's sender cost the same for an account of 1 or 100,000 senders.

An answer is looked up per (account, sender): a miss is one point query over an index,
never a read of the account's senders, and the answer ("may not" included) is kept in
memory until the account's senders change. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from senderid.domain import messages
from senderid.store.coltypes import UTCDateTime
from senderid.store.db import without_deadline
from senderid.store.tables import business_names, custom_numbers
from tests.api.test_query_budget import BUDGET, CHECK, GATEWAY, settle, warm

SIZE = 100_000
OTHER_ACCOUNTS_NUMBER = "+61491570156"


def fill(ctx, account_id: str, size: int) -> None:
    """``size`` active numbers (+61400000001 ...) and ``size`` approved names (Brand1 ...,
    registered on ACMA's register), one INSERT ... SELECT each, plus a deleted number
    (+61490000001) and a requested name (Pending1) that are not senders."""
    now = ctx.clock.now()
    seq = sa.select(sa.literal(1).label("i")).cte("seq", recursive=True)
    seq = seq.union_all(sa.select(seq.c.i + 1).where(seq.c.i < size))
    i = sa.cast(seq.c.i, sa.String)
    at = sa.literal(now, UTCDateTime)
    account = sa.literal(account_id)
    with ctx.db.write() as conn, without_deadline(conn):
        if not ctx.db.is_sqlite:  # set-up of 200,000 rows on a busy machine, not a request: unbounded
            conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
        conn.execute(custom_numbers.insert().from_select(
            ["id", "account_id", "number", "name", "status", "created_at", "updated_at", "verified_at"],
            sa.select(sa.literal("bulkn") + i, account, sa.literal("+61") + sa.cast(400000000 + seq.c.i, sa.String),
                      sa.literal("n"), sa.literal("active"), at, at, at)))
        conn.execute(business_names.insert().from_select(
            ["id", "account_id", "businessname", "name_key", "status", "created_by", "requested_at",
             "created_at", "updated_at", "acma_status"],
            sa.select(sa.literal("bulkb") + i, account, sa.literal("Brand") + i, sa.literal("brand") + i,
                      sa.literal("APPROVED"), account, at, at, at, sa.literal("registered"))))
        conn.execute(custom_numbers.insert().values(
            id="bulkdeleted", account_id=account_id, number="+61490000001", name="n", status="deleted",
            created_at=now, updated_at=now, ended_at=now))
        conn.execute(business_names.insert().values(
            id="bulkpending", account_id=account_id, businessname="Pending1", name_key="pending1",
            status="REQUESTED", created_by=account_id, requested_at=now, created_at=now, updated_at=now))


# (sender, allowed, type, sendAs) for an account filled with ``SIZE`` of each
ANSWERS = [
    ("+61400000001", True, "custom_number", "+61400000001"),
    ("0400 050 000", True, "custom_number", "+61400050000"),
    (f"+61{400000000 + SIZE}", True, "custom_number", f"+61{400000000 + SIZE}"),
    (f"+61{400000001 + SIZE}", False, None, None),  # one past the last
    ("+61490000001", False, None, None),  # the account's deleted number
    (OTHER_ACCOUNTS_NUMBER, False, None, None),  # another account's active number
    ("Brand1", True, "business_name", "Brand1"),
    ("BRAND50000", True, "business_name", "Brand50000"),  # any case; sent as approved
    (f"Brand{SIZE}", True, "business_name", f"Brand{SIZE}"),
    (f"Brand{SIZE + 1}", False, None, None),
    ("Pending1", False, None, None),  # requested, not approved
]


@pytest.fixture
def big_account(app_client: TestClient, make_customer, ctx):
    other = make_customer("Other", otp_required=False)
    r = app_client.post("/api/v1/customNumber/add", json={"name": "n", "number": OTHER_ACCOUNTS_NUMBER},
                        headers=other.headers)
    assert r.status_code == 200 and r.json()["message"] == "Custom number created"
    customer = make_customer("Reseller", otp_required=False)
    fill(ctx, customer.account.id, SIZE)
    settle(ctx)
    warm(app_client, customer)
    return customer


def test_the_right_answer_from_one_point_query_then_from_memory(app_client: TestClient, big_account, ctx) -> None:
    h = big_account.headers
    for sender, allowed, kind, send_as in ANSWERS:
        with ctx.db.count() as miss:
            first = app_client.get(CHECK, params={"sender": sender}, headers=h).json()["data"]
        assert (first["allowed"], first["type"], first["sendAs"]) == (allowed, kind, send_as), sender
        assert miss.total == BUDGET["check, first of a sender"][0 if ctx.db.is_sqlite else 1], miss.statements
        assert miss.reads == 1 and miss.transactions == 0
        with ctx.db.count() as hit:
            again = app_client.get(CHECK, params={"sender": sender}, headers=h).json()["data"]
        assert again == first and hit.total == 0, (sender, hit.statements)


def test_the_gateway_resolves_its_sender_the_same_way(app_client: TestClient, big_account, ctx) -> None:
    h = big_account.headers
    body = {"message": "Hello", "contacts": ["+61491570157"]}
    gateway = BUDGET["gateway, 1000 contacts"][0 if ctx.db.is_sqlite else 1]
    for sender in ("Brand77777", f"+61{400000000 + SIZE}"):
        with ctx.db.count() as counts:  # the sender's one point query, then the send's own statements
            r = app_client.post(GATEWAY, json={**body, "sender": sender}, headers=h)
        assert r.status_code == 200, r.text
        assert counts.total == gateway + 1 and counts.reads == 1, counts.statements
        with ctx.db.count() as counts:
            assert app_client.post(GATEWAY, json={**body, "sender": sender}, headers=h).status_code == 200
        assert counts.total == gateway and counts.reads == 0, counts.statements
    for sender in (f"Brand{SIZE + 1}", OTHER_ACCOUNTS_NUMBER):
        for expected in (1, 0):  # refused after one point query, then from memory
            with ctx.db.count() as counts:
                r = app_client.post(GATEWAY, json={**body, "sender": sender}, headers=h)
            assert r.status_code == 403 and counts.total == expected, (sender, counts.statements)


def test_a_miss_reads_one_row_through_an_index(big_account, ctx) -> None:
    """The plan of each look-up, on the filled tables: an index seek on the sender itself,
    never a walk over the account's (or every account's) senders."""
    account_id = big_account.account.id
    lookups = [
        (messages._ACTIVE_NUMBER, {"account_id": account_id, "number": "+61400050000"}, "number"),
        (messages._APPROVED_NAME, {"account_id": account_id, "name_key": "brand50000"}, "name_key"),
    ]
    with ctx.db.engine.connect() as conn:
        if not ctx.db.is_sqlite:
            conn.exec_driver_sql("ANALYZE custom_numbers")
            conn.exec_driver_sql("ANALYZE business_names")
        for statement, params, column in lookups:
            sql = str(statement.statement.params(**params).compile(conn, compile_kwargs={"literal_binds": True}))
            if ctx.db.is_sqlite:
                plan = " ".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
                assert plan.startswith("SEARCH") and f"{column}=?" in plan, plan
            else:
                plan = " ".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + sql))
                assert "Seq Scan" not in plan and "Index" in plan and column in plan, plan
