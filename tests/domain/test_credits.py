"""Credits: the usage report (documented body), prices per sender, prepaid balances and racing sends."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from senderid.api.app import create_app
from senderid.domain import credits, optouts
from senderid.domain.types import CLI
from senderid.errors import BalanceTooLow
from senderid.store.tables import account_credits, audit_events
from tests.support.gateway import CONTACT, ENVELOPE, GATEWAY, OWN, ok, own_number, post, sent, sms_rows
from tests.support.helpers import deliver_all
from tests.support.live import serve
from tests.support.racers import race

USAGE = "/api/v2/report/message/quick-api-credit-usage"
QUEUED = "Request is being processed"
TOO_LOW = "Your balance is too low for this request, please recharge."
BALANCE_422 = {**ENVELOPE, "show_message": 0, "status": False, "message": TOO_LOW, "data": {},
               "error": {"errorMessage": TOO_LOW}}


def paging(total: int, limit: int = 10, current: int = 1) -> dict[str, Any]:
    pages = max(1, -(-total // limit))
    return {"total": total, "limit": limit, "current": current, "totalPages": pages,
            "pagingCounter": (current - 1) * limit + 1, "hasPrevPage": current > 1, "hasNextPage": current < pages,
            "offset": (current - 1) * limit, "prevPage": current - 1 if current > 1 else None,
            "nextPage": current + 1 if current < pages else None}


def test_the_usage_report(app_client: TestClient, no_otp_customer, make_customer, ctx) -> None:
    h = no_otp_customer.headers
    own_number(app_client, no_otp_customer)
    assert app_client.get(USAGE, params={"campType": "sms"}, headers=h).json() == ok(
        "Success", {"items": [], **paging(0)})
    post(app_client, h, message="Z", contacts=[CONTACT, "0491570158"], customString="zapier")  # shared: 1 x 2
    post(app_client, h, message="W" * 200, contacts=[CONTACT], sender=OWN, customString="wordpress")  # custom: 1.3 x 2
    post(app_client, h, message="A", contacts=[CONTACT], sender=OWN)  # no customString: "api"
    post(app_client, h, message="Later", contacts=[CONTACT], customString="zapier", delay=60_000)  # not sent yet
    post(app_client, make_customer("Other").headers, message="Theirs", contacts=[CONTACT], customString="zapier")
    deliver_all(ctx)
    items = [{"_id": "wordpress", "total": 2, "totalCreditAmount": 2.6},
             {"_id": "zapier", "total": 2, "totalCreditAmount": 2},
             {"_id": "api", "total": 1, "totalCreditAmount": 1.3}]
    r = app_client.get(USAGE, params={"campType": "sms"}, headers=h)
    assert (r.status_code, r.json()) == (200, ok("Success", {"items": items, **paging(3)}))
    r = app_client.get(USAGE, params={"campType": "sms", "limit": 2, "page": 2}, headers=h)
    assert r.json() == ok("Success", {"items": items[2:], **paging(3, limit=2, current=2)})
    r = app_client.get(USAGE, params={"limit": 1, "page": 2}, headers=h)  # campType defaults to sms
    assert r.json() == ok("Success", {"items": items[1:2], **paging(3, limit=1, current=2)})
    r = app_client.get(USAGE, params={"campType": "mms"}, headers=h)
    assert (r.status_code, r.json()["message"]) == (400, "campType: the only allowed value is sms")
    r = app_client.get(USAGE, params={"campType": "sms"})
    assert (r.status_code, r.json()) == (401, {"code": 401, "message": "Authorization token is required",
                                               "stack": "APIError: Authorization token is required"})


@pytest.mark.parametrize("settings_overrides", [{"credits_shared_sender": 0.5, "credits_custom_sender": 2.25}])
def test_prices_are_settings(app_client: TestClient, no_otp_customer, ctx) -> None:
    own_number(app_client, no_otp_customer)
    post(app_client, no_otp_customer.headers, message="a", contacts=[CONTACT], customString="shared")
    post(app_client, no_otp_customer.headers, message="a" * 161, contacts=[CONTACT], sender=OWN, customString="own")
    deliver_all(ctx)
    assert app_client.get(USAGE, headers=no_otp_customer.headers).json()["data"]["items"] == [
        {"_id": "own", "total": 2, "totalCreditAmount": 4.5}, {"_id": "shared", "total": 1, "totalCreditAmount": 0.5}]


def balance(ctx, account_id: str) -> object:
    return credits.balance(ctx, account_id)


def test_a_prepaid_balance(app_client: TestClient, no_otp_customer, ctx) -> None:
    h, account_id = no_otp_customer.headers, no_otp_customer.account.id
    own_number(app_client, no_otp_customer)
    assert balance(ctx, account_id) is None  # unlimited by default
    assert credits.set_balance(ctx, account_id, 3.6, actor=CLI) == 3.6
    status, body, _ = post(app_client, h, message="a", contacts=[CONTACT, "0491570158"])
    assert (status, body) == (200, ok(QUEUED, sent([("491570157", CONTACT), ("491570158", "0491570158")])))
    assert balance(ctx, account_id) == 1.6
    status, body, _ = post(app_client, h, message="a", contacts=[CONTACT, "0491570158"])
    assert (status, body) == (422, BALANCE_422)
    status, body, _ = post(app_client, h, message="a", contacts=[CONTACT], sender=OWN)  # 1.3 a part
    assert (status, body) == (200, ok(QUEUED, sent([("491570157", CONTACT)])))
    assert balance(ctx, account_id) == 0.3
    status, body, _ = post(app_client, h, message="a", contacts=[CONTACT], sender=OWN)
    assert (status, body) == (422, BALANCE_422)
    assert len(sms_rows(ctx)) == 3  # the refused ones queued nothing
    optouts.add(ctx, account_id, CONTACT, source="cli", actor=CLI)  # opted-out contacts cost nothing
    status, body, _ = post(app_client, h, message="a", contacts=[CONTACT])
    assert (status, body) == (200, ok(QUEUED, sent([], unsubscribed=[CONTACT])))
    assert credits.set_balance(ctx, account_id, None, actor=CLI) is None  # unlimited again
    status, _, _ = post(app_client, h, message="a", contacts=["0491570158"])
    assert status == 200
    with ctx.db.read() as conn:
        assert conn.execute(sa.select(account_credits)).all() == []
        details = conn.execute(sa.select(audit_events.c.details).where(
            audit_events.c.action == "account.credits_set").order_by(audit_events.c.id)).scalars().all()
    assert details == [{"credits": 3.6}, {"credits": None}]


def test_cancelling_gives_the_credits_back(app_client: TestClient, customer, ctx, clock) -> None:
    credits.set_balance(ctx, customer.account.id, 4, actor=CLI)
    _, _, [first, second] = post(app_client, customer.headers, message="a" * 200, contacts=[CONTACT, "0491570158"],
                                 delay=1000)  # two parts each: 4 credits
    assert balance(ctx, customer.account.id) == 0
    assert app_client.delete(f"{GATEWAY}/messages/{first}", headers=customer.headers).status_code == 200
    assert balance(ctx, customer.account.id) == 2
    assert app_client.delete(f"{GATEWAY}/messages/{first}", headers=customer.headers).status_code == 200
    assert balance(ctx, customer.account.id) == 2  # cancelling twice gives back once
    clock.advance(seconds=2)
    deliver_all(ctx)
    assert app_client.delete(f"{GATEWAY}/messages/{second}", headers=customer.headers).status_code == 409
    assert balance(ctx, customer.account.id) == 2


@pytest.mark.parametrize("value", [-1, float("inf"), 2e9])
def test_bad_balances_are_refused(ctx, customer, value: float) -> None:
    from senderid.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match="credits must be a number from 0 to 1,000,000,000, or unlimited"):
        credits.set_balance(ctx, customer.account.id, value, actor=CLI)
    assert balance(ctx, customer.account.id) is None


def test_racing_sends_never_take_the_balance_below_zero(ctx, customer) -> None:
    """20 requests at once against a real server, a balance for 7: exactly 7 go through."""
    credits.set_balance(ctx, customer.account.id, 7, actor=CLI)
    app = create_app(ctx.settings, context=ctx, run_worker=False)
    barrier = threading.Barrier(20)

    def one(i: int) -> int:
        with httpx.Client(base_url=base, timeout=30) as client:
            barrier.wait(timeout=30)
            r = client.post(GATEWAY, json={"message": f"race {i}", "contacts": [f"+614915701{i:02d}"]},
                            headers=customer.headers)
            return r.status_code

    with serve(app, loop="asyncio", ws="none", timeout_graceful_shutdown=5) as base:
        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = sorted(pool.map(one, range(20)))
    assert statuses == [200] * 7 + [422] * 13
    assert balance(ctx, customer.account.id) == 0
    assert len(sms_rows(ctx)) == 7


def test_debits_racing_on_their_own_connections_never_overdraw(ctx, customer) -> None:
    """The debit itself is raced, with no lock taken before it: 8 transactions on 8
    connections (threads on PostgreSQL, processes on SQLite) each take 1 credit at the
    same moment from a balance of 3. Exactly 3 are charged, the others refused, none fails.

    A send takes the account's lock (PostgreSQL) or the write lock (SQLite's BEGIN
    IMMEDIATE) before it debits; these racers take neither, so nothing but the debit's
    own statement keeps the balance right. On SQLite their transactions are deferred
    (plain BEGIN): a debit that read the balance before writing it could not take the
    write lock once another racer had committed ("database is locked")."""
    account_id = customer.account.id
    credits.set_balance(ctx, account_id, 3, actor=CLI)
    cost = credits.milli(1)

    def debit_alone(_i: int) -> str:
        with ctx.db.engine.connect() as conn, conn.begin():
            credits.debit(conn, account_id, cost, ctx.clock.now())
        return "charged"

    results = race(ctx, 8, debit_alone)
    outcomes = sorted(r if isinstance(r, str) else type(r).__name__ for r in results)
    assert outcomes == ["BalanceTooLow"] * 5 + ["charged"] * 3, results
    assert all(isinstance(r, (str, BalanceTooLow)) for r in results)
    assert balance(ctx, account_id) == 0
