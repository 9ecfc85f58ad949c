"""Query budgets: how many statements and transactions each hot request runs, per database.

Counted on the engine (every statement the driver is handed; BEGIN/COMMIT/ROLLBACK are
not counted, transactions are). The numbers are pinned: a change that adds a statement
to a hot path fails here and has to say why. The key and sender cache is live (the app
runs its change listener), as in a server.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from senderid.store.db import Counts
from tests.support.helpers import latest_code

ADD = "/api/v1/customNumber/add"
VERIFY = "/api/v1/customNumber/verifyCustomNumber"
CHECK = "/api/v1/senderId/check"
TOKEN = "/api/v1/user/token/verify"
GATEWAY = "/api/v1/gateway"
NUMBER = "+61491570156"

# statements per request: (SQLite, PostgreSQL). PostgreSQL adds one statement where a
# write takes advisory locks (SQLite's writer lock needs none).
BUDGET = {
    "add": (5, 6),
    "add with Idempotency-Key": (7, 8),
    "add, no OTP required": (4, 5),
    # a resend cancels the SMS of the old code: one INSERT of its history row ("cancelled")
    "resend by add": (7, 8),
    "verify": (4, 5),
    # a wrong code is kept for the daily guess budget (one INSERT: otp_failures); the budget
    # checks themselves ride on the UPDATE that counts the try, and on add's one SELECT
    "verify, wrong code": (3, 4),
    "verify, repeated": (2, 3),
    "auth miss": (1, 1),
    "check, cached": (0, 0),
    # each (account, sender) is looked up once, alone: one point query, however many senders
    # the account holds ("may not" answers are kept too)
    "check, first of a sender": (1, 1),
    "token/verify, cached": (0, 0),
    "gateway, 1000 contacts": (3, 4),
    # a prepaid account: one more, the conditional UPDATE of its balance
    "gateway, prepaid": (4, 5),
    "resend route": (8, 10),  # as resend by add: the old code's SMS gets its "cancelled" history row
}


@contextmanager
def budget(ctx, name: str, *, transactions: int = 1) -> Iterator[Counts]:
    with ctx.db.count() as counts:
        yield counts
    expected = BUDGET[name][0 if ctx.db.is_sqlite else 1]
    assert counts.total == expected, (name, counts.statements)
    assert counts.transactions == transactions, (name, counts.transactions)
    if transactions:
        assert counts.reads == 0, (name, counts.reads)  # nothing outside the one transaction


def settle(ctx) -> None:
    """Let this process hear the change signals of the writes so far (its own included), so
    that a late one does not empty the cache in the middle of a measurement."""
    assert ctx.listener is not None and ctx.listener.barrier()


def warm(client: TestClient, customer) -> None:
    """The key is in memory from now on (one lookup, counted in its own test)."""
    assert client.get(TOKEN, headers=customer.headers).status_code == 200


def test_add_and_verify(app_client: TestClient, customer, ctx) -> None:
    warm(app_client, customer)
    with budget(ctx, "add"):
        r = app_client.post(ADD, json={"name": "Shop", "number": NUMBER}, headers=customer.headers)
    assert r.status_code == 200, r.text
    code = latest_code(ctx, NUMBER)
    wrong = "000000" if code != "000000" else "111111"
    with budget(ctx, "verify, wrong code"):
        r = app_client.post(VERIFY, json={"name": "Shop", "number": NUMBER, "otp": wrong},
                            headers=customer.headers)
    assert r.status_code == 400
    with budget(ctx, "verify"):
        r = app_client.post(VERIFY, json={"name": "Shop", "number": NUMBER, "otp": code},
                            headers=customer.headers)
    assert r.status_code == 200, r.text
    with budget(ctx, "verify, repeated"):
        r = app_client.post(VERIFY, json={"name": "Shop", "number": NUMBER, "otp": code},
                            headers=customer.headers)
    assert r.status_code == 200, r.text


def test_verify_that_cancels_other_accounts_stays_one_transaction(
    app_client: TestClient, make_customer, ctx, clock
) -> None:
    owner, squatters = make_customer("Owner"), [make_customer(f"Squatter {i}") for i in range(3)]
    for who in squatters + [owner]:
        assert app_client.post(ADD, json={"name": "n", "number": NUMBER}, headers=who.headers).status_code == 200
    code = latest_code(ctx, NUMBER)
    with ctx.db.count() as counts:
        r = app_client.post(VERIFY, json={"name": "n", "number": NUMBER, "otp": code}, headers=owner.headers)
    assert r.status_code == 200, r.text
    # verify's own, plus one statement for the cancelled ones' queued codes, however many
    assert counts.transactions == 1
    assert counts.total == BUDGET["verify"][0 if ctx.db.is_sqlite else 1] + 1, counts.statements


def test_add_with_an_idempotency_key_is_still_one_transaction(app_client: TestClient, customer, ctx) -> None:
    warm(app_client, customer)
    # The first key of a process also purges expired keys (once a minute): not this one.
    app_client.post(ADD, json={"name": "x", "number": "nope"}, headers={**customer.headers, "Idempotency-Key": "w"})
    headers = {**customer.headers, "Idempotency-Key": "budget-1"}
    with budget(ctx, "add with Idempotency-Key"):
        first = app_client.post(ADD, json={"name": "Shop", "number": NUMBER}, headers=headers)
    assert first.status_code == 200
    with ctx.db.count() as counts:  # the replay: one read of the key, in one transaction
        again = app_client.post(ADD, json={"name": "Shop", "number": NUMBER}, headers=headers)
    assert again.headers["idempotent-replayed"] == "true" and again.content == first.content
    assert counts.total == 1 and counts.transactions == 1, counts.statements


def test_add_without_otp_and_resend_by_add(app_client: TestClient, customer, no_otp_customer, ctx, clock) -> None:
    warm(app_client, no_otp_customer)
    with budget(ctx, "add, no OTP required"):
        r = app_client.post(ADD, json={"name": "n", "number": NUMBER}, headers=no_otp_customer.headers)
    assert r.status_code == 200 and r.json()["message"] == "Custom number created"
    warm(app_client, customer)
    other = "+61491570157"
    assert app_client.post(ADD, json={"name": "n", "number": other}, headers=customer.headers).status_code == 200
    clock.advance(seconds=ctx.settings.otp_resend_cooldown_seconds + 1)
    with budget(ctx, "resend by add"):  # the pending registration gets a fresh code; the old SMS stops
        r = app_client.post(ADD, json={"name": "n", "number": other}, headers=customer.headers)
    assert r.status_code == 200


def test_resend_route(app_client: TestClient, customer, ctx, clock) -> None:
    warm(app_client, customer)
    app_client.post(ADD, json={"name": "n", "number": NUMBER}, headers=customer.headers)
    registration = app_client.get("/api/v1/customNumber/list", headers=customer.headers).json()["data"]
    registration_id = registration["items"][0]["_id"]
    clock.advance(seconds=ctx.settings.otp_resend_cooldown_seconds + 1)
    with budget(ctx, "resend route"):
        r = app_client.post(f"/api/v1/customNumber/{registration_id}/resend", headers=customer.headers)
    assert r.status_code == 200, r.text


def test_auth_miss_is_one_read(app_client: TestClient, customer, ctx) -> None:
    with budget(ctx, "auth miss", transactions=0) as counts:
        assert app_client.get(TOKEN, headers=customer.headers).status_code == 200
    assert counts.reads == 1
    with budget(ctx, "token/verify, cached", transactions=0) as counts:
        assert app_client.get(TOKEN, headers=customer.headers).status_code == 200
    assert counts.reads == 0


@pytest.mark.parametrize("sender", ["+61491570156", "0491 570 156", "AcmeShop", "Unknown1", "+61491570157"])
def test_sender_check_is_one_query_then_free(app_client: TestClient, no_otp_customer, ctx, sender: str) -> None:
    h = no_otp_customer.headers
    app_client.post(ADD, json={"name": "n", "number": NUMBER}, headers=h)
    settle(ctx)
    warm(app_client, no_otp_customer)
    with budget(ctx, "check, first of a sender", transactions=0) as counts:
        r = app_client.get(CHECK, params={"sender": sender}, headers=h)
    assert r.status_code == 200 and counts.reads == 1
    for again in (sender, sender.upper(), NUMBER if sender == "0491 570 156" else sender):
        with budget(ctx, "check, cached", transactions=0) as counts:
            r = app_client.get(CHECK, params={"sender": again}, headers=h)
        assert r.status_code == 200 and counts.reads == 0
    assert r.json()["data"]["allowed"] is (sender in (NUMBER, "0491 570 156"))


def test_the_shared_sender_costs_nothing(app_client: TestClient, no_otp_customer, ctx) -> None:
    warm(app_client, no_otp_customer)
    for sender in ("#SharedNum#", "#sharednum#", ""):
        with budget(ctx, "check, cached", transactions=0):
            r = app_client.get(CHECK, params={"sender": sender}, headers=no_otp_customer.headers)
        assert r.json()["data"]["allowed"] is True


def test_gateway_1000_contacts_is_one_insert(app_client: TestClient, no_otp_customer, ctx) -> None:
    h = no_otp_customer.headers
    app_client.post(ADD, json={"name": "n", "number": NUMBER}, headers=h)
    settle(ctx)
    app_client.get(CHECK, params={"sender": NUMBER}, headers=h)  # the sender's answer in memory
    contacts = [f"+614915{i:05d}" for i in range(1000)]
    with budget(ctx, "gateway, 1000 contacts") as counts:
        r = app_client.post(GATEWAY, json={"message": "Hello", "contacts": contacts, "sender": NUMBER},
                            headers=h)
    assert r.status_code == 200, r.text[:300]
    assert r.json()["data"]["totalValidContact"] == 1000
    # the rows in one statement: COPY on PostgreSQL (senderid.store.bulk), a multi-row INSERT on SQLite
    verb = "INSERT INTO OUTBOX" if ctx.db.is_sqlite else "COPY OUTBOX"
    assert sum(s.lstrip().upper().startswith(verb) for s in counts.statements) == 1, counts.statements


def test_gateway_opt_outs_ride_on_the_rate_count_and_balance_costs_one(
    app_client: TestClient, no_otp_customer, ctx
) -> None:
    from senderid.domain import credits, optouts
    from senderid.domain.types import CLI

    h = no_otp_customer.headers
    optouts.add(ctx, no_otp_customer.account.id, "+61491500001", source="cli", actor=CLI)
    settle(ctx)
    warm(app_client, no_otp_customer)
    contacts = [f"+614915{i:05d}" for i in range(10)]
    with budget(ctx, "gateway, 1000 contacts"):  # the opt-out lookup adds no statement
        r = app_client.post(GATEWAY, json={"message": "Hello", "contacts": contacts}, headers=h)
    assert r.json()["data"]["totalUnsubscribeContact"] == 1
    credits.set_balance(ctx, no_otp_customer.account.id, 100, actor=CLI)
    settle(ctx)
    warm(app_client, no_otp_customer)
    with budget(ctx, "gateway, prepaid") as counts:
        r = app_client.post(GATEWAY, json={"message": "Hello", "contacts": contacts}, headers=h)
    assert r.status_code == 200, r.text
    assert sum(s.lstrip().upper().startswith("UPDATE ACCOUNT_CREDITS") for s in counts.statements) == 1
