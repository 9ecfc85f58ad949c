"""Idempotency-Key on POST /api/v1: a retried request acts once, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select

from senderid.api.app import create_app
from senderid.domain import custom_numbers as cn
from senderid.domain import idempotency
from senderid.domain.context import Context
from senderid.store.tables import custom_numbers, idempotency_keys, otp_sends, outbox
from tests.support.live import serve

ADD = "/api/v1/customNumber/add"
VERIFY = "/api/v1/customNumber/verifyCustomNumber"
NUMBER = "+61491570156"
BODY = {"name": "Shop", "number": NUMBER}


def count(ctx: Context, table, *where) -> int:
    with ctx.db.read() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def keyed(customer, key: str) -> dict[str, str]:
    return {**customer.headers, "Idempotency-Key": key}


def test_a_replay_is_the_first_response_and_acts_once(app_client: TestClient, customer, ctx) -> None:
    first = app_client.post(ADD, json=BODY, headers=keyed(customer, "order-1"))
    again = app_client.post(ADD, json=BODY, headers=keyed(customer, "order-1"))
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert count(ctx, custom_numbers) == 1
    assert count(ctx, outbox) == 1 and count(ctx, otp_sends) == 1  # one OTP SMS
    # Without the key the same request acts again (here: the resend cooldown answers).
    assert app_client.post(ADD, json=BODY, headers=customer.headers).status_code == 429


def test_a_different_request_with_a_used_key_is_409(app_client: TestClient, customer, ctx) -> None:
    assert app_client.post(ADD, json=BODY, headers=keyed(customer, "k")).status_code == 200
    for path, body in ((ADD, {**BODY, "name": "Other"}),
                       (VERIFY, {**BODY, "otp": "123456"})):
        r = app_client.post(path, json=body, headers=keyed(customer, "k"))
        assert r.status_code == 409
        assert r.json()["status"] is False and r.json()["show_message"] == 1
        assert "already used with a different request" in r.json()["message"]
        assert set(r.json()) >= {"app_type", "maintainence", "data", "error"}
    assert count(ctx, custom_numbers) == 1 and count(ctx, outbox) == 1


def test_keys_belong_to_one_account(app_client: TestClient, make_customer, ctx) -> None:
    one, two = make_customer("One"), make_customer("Two")
    for who in (one, two):
        r = app_client.post(ADD, json=BODY, headers=keyed(who, "shared-key"))
        assert r.status_code == 200 and "idempotent-replayed" not in r.headers
    assert count(ctx, custom_numbers) == 2 and count(ctx, outbox) == 2


def test_4xx_answers_are_replayed_too(app_client: TestClient, customer, ctx) -> None:
    bad = {"name": "Shop", "number": "not a number"}
    first = app_client.post(ADD, json=bad, headers=keyed(customer, "bad"))
    again = app_client.post(ADD, json=bad, headers=keyed(customer, "bad"))
    assert first.status_code == again.status_code == 400
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
    # The documented "verify: name missing" answer is an HTTP 200 with status false: kept as is.
    nameless = {"number": NUMBER, "otp": "123456"}
    a = app_client.post(VERIFY, json=nameless, headers=keyed(customer, "v"))
    b = app_client.post(VERIFY, json=nameless, headers=keyed(customer, "v"))
    assert a.status_code == b.status_code == 200 and a.content == b.content
    assert a.json()["status"] is False


def test_a_rate_limited_request_is_not_stored(app_client: TestClient, customer, ctx, clock) -> None:
    """429 says nothing was done, come back later: the retry with the same key must act."""
    assert app_client.post(ADD, json=BODY, headers=customer.headers).status_code == 200
    limited = app_client.post(ADD, json=BODY, headers=keyed(customer, "retry-me"))
    assert limited.status_code == 429 and limited.headers["retry-after"]
    clock.advance(seconds=61)
    retried = app_client.post(ADD, json=BODY, headers=keyed(customer, "retry-me"))
    assert retried.status_code == 200 and "idempotent-replayed" not in retried.headers
    assert count(ctx, outbox) == 2


def test_a_crash_frees_the_key(app_client: TestClient, customer, ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    real_add = cn.add
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return real_add(*args, **kwargs)

    monkeypatch.setattr(cn, "add", flaky)
    crashed = app_client.post(ADD, json=BODY, headers=keyed(customer, "k"))
    assert crashed.status_code == 500
    assert count(ctx, idempotency_keys) == 0
    retried = app_client.post(ADD, json=BODY, headers=keyed(customer, "k"))
    assert retried.status_code == 200 and len(calls) == 2
    assert count(ctx, custom_numbers) == 1


def test_keys_expire_after_the_ttl(app_client: TestClient, customer, ctx, clock) -> None:
    assert app_client.post(ADD, json=BODY, headers=keyed(customer, "daily")).status_code == 200
    clock.advance(hours=ctx.settings.idempotency_ttl_hours, seconds=-1)
    replay = app_client.post(ADD, json=BODY, headers=keyed(customer, "daily"))
    assert replay.headers.get("idempotent-replayed") == "true"
    clock.advance(seconds=2)
    fresh = app_client.post(ADD, json={**BODY, "name": "New"}, headers=keyed(customer, "daily"))
    assert fresh.status_code == 200 and "idempotent-replayed" not in fresh.headers
    assert count(ctx, outbox) == 2 and count(ctx, idempotency_keys) == 1


def test_new_keys_purge_expired_ones(app_client: TestClient, customer, ctx, clock) -> None:
    for i in range(3):
        app_client.post(ADD, json={"name": "x", "number": "nope"}, headers=keyed(customer, f"old-{i}"))
    assert count(ctx, idempotency_keys) == 3
    clock.advance(hours=ctx.settings.idempotency_ttl_hours, seconds=1)
    app_client.post(ADD, json={"name": "x", "number": "nope"}, headers=keyed(customer, "new"))
    with ctx.db.read() as conn:
        assert conn.execute(select(idempotency_keys.c.key)).scalars().all() == ["new"]
    assert idempotency.purge_expired(ctx) == 0


@pytest.mark.parametrize(
    "key",
    ["x" * 256, "", "has space", "tab\there", "ключ".encode(), "café".encode()],
    ids=["too long", "empty", "space", "control", "cyrillic", "latin-1"],
)
def test_a_bad_key_is_400(app_client: TestClient, customer, ctx, key: str | bytes) -> None:
    r = app_client.post(ADD, json=BODY, headers={**customer.headers, "Idempotency-Key": key})
    assert r.status_code == 400
    assert r.json()["status"] is False and "Idempotency-Key" in r.json()["message"]
    assert count(ctx, custom_numbers) == 0


def test_the_longest_key_and_punctuation_are_fine(app_client: TestClient, customer) -> None:
    for key in ("k" * 255, "order:2026/01/01#7!~"):
        assert app_client.post(ADD, json=BODY, headers=keyed(customer, key)).status_code in (200, 429)


def test_two_headers_are_400(app_client: TestClient, customer) -> None:
    headers = [("Authorization", customer.headers["Authorization"]),
               ("Idempotency-Key", "a"), ("Idempotency-Key", "b")]
    assert app_client.post(ADD, json=BODY, headers=headers).status_code == 400


# -- ten at once, through a real server -------------------------------------------------


@contextmanager
def live_server(ctx: Context) -> Iterator[str]:
    """The app under uvicorn on a free loopback port, in a thread (no worker)."""
    app = create_app(ctx.settings, context=ctx, run_worker=False)
    with serve(app, loop="asyncio", http="h11", ws="none") as base_url:
        yield base_url


def test_ten_parallel_posts_with_one_key_act_once(ctx, customer) -> None:
    barrier = threading.Barrier(10)

    def post(base: str) -> httpx.Response:
        with httpx.Client(base_url=base, timeout=30, trust_env=False) as client:
            barrier.wait(timeout=10)
            return client.post(ADD, json=BODY, headers=keyed(customer, "together"))

    with live_server(ctx) as base, ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(lambda _: post(base), range(10)))

    assert [r.status_code for r in responses] == [200] * 10, [r.text for r in responses]
    assert len({r.content for r in responses}) == 1
    assert sum("idempotent-replayed" not in r.headers for r in responses) == 1
    assert count(ctx, custom_numbers) == 1
    assert count(ctx, outbox) == 1 and count(ctx, otp_sends) == 1


@pytest.mark.parametrize("request_hash", ["same", "other"])
@pytest.mark.parametrize("created", [timedelta(0), timedelta(hours=1)], ids=["just now", "an hour ago"])
def test_a_row_without_a_response_does_not_hold_the_key(
    app_client: TestClient, customer, ctx, clock, request_hash: str, created: timedelta
) -> None:
    """An "in progress" row (no status code), as an earlier version left one when it claimed a
    key before acting: the next request with the key acts as a new one, at once."""
    raw = json.dumps(BODY).encode()
    now = clock.now()
    with ctx.db.write() as conn:
        conn.execute(insert(idempotency_keys).values(
            account_id=customer.account.id, key="k", created_at=now - created, expires_at=now + timedelta(hours=1),
            request_hash=idempotency.request_hash("POST", ADD, raw) if request_hash == "same" else "0" * 64))
    headers = {**keyed(customer, "k"), "Content-Type": "application/json"}
    first = app_client.post(ADD, content=raw, headers=headers)
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers, first.text
    assert count(ctx, custom_numbers) == 1 and count(ctx, outbox) == 1
    with ctx.db.read() as conn:
        row = conn.execute(select(idempotency_keys)).one()
    assert row.status_code == 200 and row.request_hash == idempotency.request_hash("POST", ADD, raw)
    assert row.created_at == now and row.expires_at == now + timedelta(hours=ctx.settings.idempotency_ttl_hours)
    # The key now holds that answer like any other.
    again = app_client.post(ADD, content=raw, headers=headers)
    assert again.headers["idempotent-replayed"] == "true" and again.content == first.content
    assert count(ctx, custom_numbers) == 1 and count(ctx, outbox) == 1


def test_expired_rows_never_block_a_new_first_request(app_client: TestClient, customer, ctx, clock) -> None:
    now = clock.now()
    with ctx.db.write() as conn:
        conn.execute(insert(idempotency_keys).values(
            account_id=customer.account.id, key="k", request_hash="0" * 64, created_at=now,
            expires_at=now, status_code=200, response_body="{}", response_headers={}))
    r = app_client.post(ADD, json=BODY, headers=keyed(customer, "k"))
    assert r.status_code == 200 and "idempotent-replayed" not in r.headers
    assert count(ctx, custom_numbers) == 1 and count(ctx, idempotency_keys) == 1


def test_a_request_whose_rival_answer_expired_unread_acts_again(ctx, customer, clock) -> None:
    """A concurrent first request commits the key while this one acts, and its row expires
    before this one can read it: there is nothing to replay, so this request acts again (its
    first effect was rolled back with the transaction) and stores its own answer."""
    if ctx.db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers: nothing else commits while a request acts")
    keyed_request = idempotency.Keyed(customer.account.id, "k", "1" * 64)
    rival = sa.create_engine(ctx.settings.database_url)  # another process's connection
    acted: list[int] = []

    def act() -> str:
        acted.append(1)
        now = clock.now()
        with ctx.db.write() as conn:  # the effect: a row of its own, in the request's transaction
            conn.execute(insert(idempotency_keys).values(
                account_id=customer.account.id, key=f"effect-{len(acted)}", request_hash="e" * 64,
                created_at=now, expires_at=now + timedelta(hours=1), status_code=200, response_body="",
                response_headers={}))
        if len(acted) == 1:
            with rival.begin() as conn:
                conn.execute(insert(idempotency_keys).values(
                    account_id=customer.account.id, key="k", request_hash="1" * 64, created_at=now,
                    expires_at=now + timedelta(seconds=1), status_code=200, response_body="rival",
                    response_headers={}))
            clock.advance(seconds=2)
        return f"answer {len(acted)}"

    try:
        outcome = idempotency.run(ctx, keyed_request, act,
                                  lambda r: idempotency.StoredResponse(200, r.encode(), {}), str)
    finally:
        rival.dispose()
    assert outcome == idempotency.Fresh("answer 2") and len(acted) == 2
    with ctx.db.read() as conn:
        rows = dict(conn.execute(select(idempotency_keys.c.key, idempotency_keys.c.response_body)).all())
    assert rows == {"k": "answer 2", "effect-2": ""}
