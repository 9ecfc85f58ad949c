"""A sick database: hanging, down, busy, or refusing a statement (real sockets, real
databases, a real uvicorn server; no mocks).

* ``/healthz`` never touches the database nor the request threads: < 100 ms whatever
  the database does;
* ``/readyz`` answers 503 within SENDERID_DATABASE_TIMEOUT_SECONDS;
* API requests answer a 503 envelope with ``Retry-After`` within about that time;
* no error answer (500, 503) closes a keep-alive connection;
* a failing statement never puts its parameters (an OTP SMS) in the log;
* a PostgreSQL that goes silent on connections already open (through a proxy that stops
  forwarding) costs each request at most the timeout: the request answers its 503, the
  silent connection is thrown away, and requests and the worker carry on once the
  database answers again.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import os
import re
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from senderid.api.app import create_app
from senderid.domain import accounts, custom_numbers
from senderid.domain.context import Context
from senderid.domain.types import CLI, OutboxStatus
from senderid.logs import JsonFormatter
from senderid.runtime import build_context
from senderid.settings import Settings
from senderid.store.db import Database, is_unavailable, without_deadline
from senderid.store.listen import Listener
from senderid.store.tables import outbox
from tests.support.dead_database import (
    hanging_postgres,
    stalling_proxy,
    unreachable_postgres,
)
from tests.support.env import TEST_SECRET
from tests.support.helpers import logging_to
from tests.support.live import serve

TIMEOUT = 2  # seconds: SENDERID_DATABASE_TIMEOUT_SECONDS in these tests (libpq's floor is 2)
TOKEN = "/api/v1/user/token/verify"
ADD = "/api/v1/customNumber/add"
KEY = {"Authorization": "Bearer sid_" + "a" * 43}
CODE_IN_TEXT = re.compile(r"code is \d{6}")


def sick_app(url: str, **overrides: object):
    values: dict[str, object] = {"database_url": url, "secret_key": TEST_SECRET, "api_threads": 4,
                                 "database_timeout_seconds": TIMEOUT, "worker_in_process": False}
    settings = Settings(**{**values, **overrides})
    return create_app(settings, context=build_context(settings), run_worker=False)


def get(base: str, path: str, headers: dict[str, str] | None = None,
        timeout: float = 30) -> tuple[int, dict, dict, float]:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    started = time.monotonic()
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = json.loads(response.read())
        return response.status, body, {k.lower(): v for k, v in response.getheaders()}, time.monotonic() - started
    finally:
        conn.close()


def assert_unavailable(status: int, body: dict, headers: dict) -> None:
    assert status == 503, body
    assert body["status"] is False and "database" in body["message"].lower()
    assert int(headers["retry-after"]) >= 1


# -- 3. a hanging database --------------------------------------------------------------------


def test_a_hanging_database_never_holds_up_healthz_and_api_requests_get_a_503_in_time() -> None:
    with hanging_postgres() as url, serve(sick_app(url)) as base:
        with ThreadPoolExecutor(8) as pool:
            # more API requests than request threads: every one of them waits on the database
            api = [pool.submit(get, base, TOKEN, KEY) for _ in range(4)]
            time.sleep(0.3)  # they hold every request thread now
            for _ in range(5):
                status, body, _headers, took = get(base, "/healthz")
                assert (status, body["message"]) == (200, "ok")
                assert took < 0.1, took
            ready = pool.submit(get, base, "/readyz")
            for future in api:
                status, body, headers, took = future.result()
                assert_unavailable(status, body, headers)
                assert took < TIMEOUT + 1.5, took
            status, body, headers, took = ready.result()
            assert status == 503 and int(headers["retry-after"]) >= 1
            assert took < TIMEOUT + 0.5, took


def test_readyz_gives_up_on_a_hanging_database_within_the_timeout() -> None:
    with hanging_postgres() as url, serve(sick_app(url)) as base:
        status, body, headers, took = get(base, "/readyz")
        assert (status, body["message"]) == (503, "The database is not reachable")
        assert headers["retry-after"] == str(TIMEOUT)
        assert took < TIMEOUT + 0.5


# -- 9. a database that goes silent on connections it already has ----------------------------

SILENT_TIMEOUT = 3  # SENDERID_DATABASE_TIMEOUT_SECONDS of these tests
ONLY_POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def post(base: str, path: str, body: object, headers: dict[str, str],
         timeout: float = SILENT_TIMEOUT + 5) -> tuple[int, dict, dict, float]:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    started = time.monotonic()
    try:
        conn.request("POST", path, body=json.dumps(body), headers={**headers, "Content-Type": "application/json"})
        response = conn.getresponse()
        answer = json.loads(response.read())
        return response.status, answer, {k.lower(): v for k, v in response.getheaders()}, time.monotonic() - started
    finally:
        conn.close()


def add(base: str, key: str, number: str) -> tuple[int, dict, dict, float]:
    return post(base, ADD, {"name": "x", "number": number}, {"Authorization": f"Bearer {key}"})


def customer_key(ctx: Context) -> str:
    account = accounts.create_account(ctx, "Acme", otp_required=True, actor=CLI)
    return accounts.create_key(ctx, account.id, actor=CLI)[1]


@contextmanager
def disposing(app: FastAPI) -> Iterator[FastAPI]:
    """The app, its database's connections closed at the end."""
    try:
        yield app
    finally:
        app.state.ctx.db.dispose()


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def outbox_statuses(ctx: Context) -> list[str]:
    with ctx.db.read() as conn:
        return [row.status for row in conn.execute(sa.select(outbox.c.status).order_by(outbox.c.id))]


@ONLY_POSTGRES
def test_a_database_silent_on_open_connections_is_a_503_in_time_then_requests_carry_on(ctx: Context) -> None:
    """The proxy first stops forwarding on the connections open now (new ones go through),
    then on every connection, new ones included; each time the add that meets the silence
    answers its 503 within the timeout plus one second, and the next one succeeds as soon as
    a connection can get through (the silent ones were not put back in the pool)."""
    key = customer_key(ctx)
    with stalling_proxy(ctx.db.url) as (proxy, url), \
            disposing(sick_app(url, database_timeout_seconds=SILENT_TIMEOUT)) as app, serve(app) as base:
        status, body, _headers, _took = add(base, key, "0491570156")
        assert status == 200, body
        with ExitStack() as held:  # the pool holds four connections through the proxy now
            for _ in range(4):
                held.enter_context(app.state.ctx.db.engine.connect()).exec_driver_sql("SELECT 1")

        proxy.freeze()  # open connections fall silent; new ones still get through
        status, body, headers, took = add(base, key, "0491570157")
        assert_unavailable(status, body, headers)
        assert took < SILENT_TIMEOUT + 1, took
        for number in ("0491570157", "0491570160", "0491570161"):  # none meets a silent one again
            status, body, _headers, took = add(base, key, number)
            assert status == 200, body
            assert took < 2, took

        proxy.stall()  # every connection, new ones too
        for number in ("0491570158", "0491570159"):
            status, body, headers, took = add(base, key, number)
            assert_unavailable(status, body, headers)
            assert took < SILENT_TIMEOUT + 1, took

        proxy.resume()
        status, body, _headers, took = add(base, key, "0491570158")
        assert status == 200, body
        assert took < 2, took


@ONLY_POSTGRES
def test_the_worker_delivers_again_once_new_connections_get_through(ctx: Context) -> None:
    """The worker's pooled connections fall silent for good (a proxy that never forwards on
    them again) while new connections get through: the worker gives up on the silent one
    after the timeout and delivers what was queued meanwhile."""
    account = accounts.create_account(ctx, "Acme", otp_required=True, actor=CLI)
    with stalling_proxy(ctx.db.url) as (proxy, url):
        settings = Settings(database_url=url, secret_key=TEST_SECRET, database_timeout_seconds=SILENT_TIMEOUT,
                            worker_poll_seconds=0.2)
        direct = build_context(settings.model_copy(update={"database_url": ctx.db.url}))  # the real clock
        custom_numbers.add(direct, account, name="x", number="0491570156", actor=CLI)
        with disposing(create_app(settings, run_worker=True)) as app, serve(app):
            assert wait_until(lambda: outbox_statuses(ctx) == [OutboxStatus.SENT], 10), outbox_statuses(ctx)

            proxy.freeze()  # for good: the worker's next poll meets the silence
            time.sleep(0.5)
            for number in ("0491570160", "0491570161", "0491570162"):
                custom_numbers.add(direct, account, name="x", number=number, actor=CLI)
            assert wait_until(lambda: outbox_statuses(ctx) == [OutboxStatus.SENT] * 4,
                              SILENT_TIMEOUT + 6), outbox_statuses(ctx)
        direct.db.dispose()


@ONLY_POSTGRES
def test_this_side_ends_a_wait_the_server_does_not_and_a_migration_lifts_that(database_url: str) -> None:
    """A statement the server lets run (no statement timeout) is cut on this side at the
    deadline; inside ``without_deadline`` (a migration) it runs to its end."""
    db = Database(database_url, timeout=1)
    try:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("SET statement_timeout = 0")
            with without_deadline(conn):
                conn.exec_driver_sql("SELECT pg_sleep(1.6)")
            started = time.monotonic()
            with pytest.raises(sa.exc.OperationalError) as raised:
                conn.exec_driver_sql("SELECT pg_sleep(1.6)")
            assert time.monotonic() - started < 1.5
        assert raised.value.connection_invalidated and is_unavailable(raised.value)
    finally:
        db.dispose()


@ONLY_POSTGRES
def test_postgres_connections_have_tcp_keepalives(db: Database) -> None:
    with db.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        sock = socket.socket(fileno=os.dup(raw.fileno()))
        try:
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 10
        finally:
            sock.close()


# -- 4. an outage -------------------------------------------------------------------------------


@contextmanager
def keep_alive(base: str) -> Iterator[http.client.HTTPConnection]:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        yield conn
    finally:
        conn.close()


def exchange(conn: http.client.HTTPConnection, method: str, path: str, body: object = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict, dict]:
    payload = None if body is None else json.dumps(body)
    conn.request(method, path, body=payload, headers={**(headers or {}),
                                                      **({"Content-Type": "application/json"} if payload else {})})
    response = conn.getresponse()
    return response.status, json.loads(response.read()), {k.lower(): v for k, v in response.getheaders()}


def test_a_database_outage_is_a_503_and_the_connection_stays_usable() -> None:
    with serve(sick_app(unreachable_postgres())) as base, keep_alive(base) as conn:
        for _ in range(3):  # the same connection, request after request
            status, body, headers = exchange(conn, "GET", TOKEN, headers=KEY)
            assert_unavailable(status, body, headers)
        status, body, _ = exchange(conn, "POST", ADD, {"name": "x", "number": "0491570156"}, KEY)
        assert status == 503
        status, body, headers = exchange(conn, "GET", "/readyz")
        assert status == 503 and headers["retry-after"]
        assert exchange(conn, "GET", "/healthz")[0] == 200


def test_no_error_answer_closes_the_keep_alive_connection(ctx, customer, db) -> None:
    with db.engine.begin() as c:  # a real fault: a table the add needs is gone
        c.execute(sa.text("DROP TABLE otp_sends"))
    try:
        with serve(create_app(ctx.settings, context=ctx, run_worker=False)) as base, keep_alive(base) as conn:
            status, body, _ = exchange(conn, "POST", ADD, {"name": "x", "number": "0491570156"}, customer.headers)
            assert (status, body["message"]) == (500, "Something went wrong on our side; please try again later")
            # every other kind of error answer on the same connection too, then a success
            conn.request(
                "POST", ADD, body=b"x" * 100_000, headers={**customer.headers, "Content-Type": "application/json"}
            )
            response = conn.getresponse()
            assert (response.status, json.loads(response.read())["status"]) == (413, False)
            assert exchange(conn, "GET", "/api/v1/nothing-here")[0] == 404
            assert (
                exchange(conn, "GET", "/api/v1/customNumber/list?offset=" + "9" * 30, headers=customer.headers)[0]
                == 400
            )
            assert exchange(conn, "GET", TOKEN, headers={"Authorization": "Bearer nope"})[0] == 401
            status, body, _ = exchange(conn, "GET", TOKEN, headers=customer.headers)
            assert status == 200
    finally:
        from senderid.store.tables import otp_sends

        with db.engine.begin() as c:
            otp_sends.create(c)


def test_a_busy_sqlite_database_is_a_503_within_the_timeout(tmp_path, sqlite_template) -> None:
    import shutil

    path = tmp_path / "busy.db"
    shutil.copy(sqlite_template, path)
    app = sick_app(f"sqlite:///{path}", database_timeout_seconds=1)
    ctx = app.state.ctx
    from senderid.domain import accounts
    from senderid.domain.types import CLI

    account = accounts.create_account(ctx, "Acme", otp_required=True, actor=CLI)
    _record, key = accounts.create_key(ctx, account.id, actor=CLI)
    other = sqlite3.connect(path, isolation_level=None)  # another process's writer, holding the lock
    other.execute("BEGIN IMMEDIATE")
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            started = time.monotonic()
            r = client.post(ADD, json={"name": "x", "number": "0491570156"},
                            headers={"Authorization": f"Bearer {key}"})
            took = time.monotonic() - started
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert_unavailable(r.status_code, r.json(), {k.lower(): v for k, v in r.headers.items()})
    assert took < 1 + 1.0, took


# -- 7. parameters never reach the log ------------------------------------------------------------


@contextmanager
def every_log_line() -> Iterator[io.StringIO]:
    """Everything any logger writes, at DEBUG (SQLAlchemy's statement log included), through
    the server's own formatter."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    with logging_to(handler):
        yield out


def add_logged(app_client: TestClient, customer) -> tuple[int, str]:
    with every_log_line() as out:
        r = app_client.post(ADD, json={"name": "x", "number": "0491570156"}, headers=customer.headers)
    return r.status_code, out.getvalue()


def test_a_failing_statement_does_not_log_the_otp_sms(app_client: TestClient, customer, db) -> None:
    """The OTP SMS insert fails (its table lost a column): the 500 is logged, with the
    statement, but not its parameters (the SMS text, code included)."""
    with db.engine.begin() as c:
        c.execute(sa.text("ALTER TABLE outbox RENAME COLUMN body TO text_of_the_sms"))
    try:
        status, logged = add_logged(app_client, customer)
    finally:
        with db.engine.begin() as c:
            c.execute(sa.text("ALTER TABLE outbox RENAME COLUMN text_of_the_sms TO body"))
    assert status == 500
    assert "unhandled error" in logged and "INSERT INTO outbox" in logged  # the failure is there
    assert not CODE_IN_TEXT.search(logged), logged
    assert "+61491570156" not in logged.split("INSERT INTO outbox", 1)[1]


def test_a_postgres_error_detail_repeating_the_row_is_not_logged(app_client: TestClient, customer, db) -> None:
    """PostgreSQL repeats a failing row in the error's DETAIL line ("Failing row contains
    (..., 'Your senderid code is 123456 ...')"): that line is cut from the log."""
    if db.is_sqlite:
        pytest.skip("SQLite's errors never repeat a row's values")
    with db.engine.begin() as c:
        c.execute(sa.text("ALTER TABLE outbox ADD COLUMN required_later text NOT NULL DEFAULT 'x'"))
        c.execute(sa.text("ALTER TABLE outbox ALTER COLUMN required_later DROP DEFAULT"))
    try:
        status, logged = add_logged(app_client, customer)
    finally:
        with db.engine.begin() as c:
            c.execute(sa.text("ALTER TABLE outbox DROP COLUMN required_later"))
    assert status == 500
    assert "not-null constraint" in logged and "DETAIL" in logged
    assert not CODE_IN_TEXT.search(logged), logged


@ONLY_POSTGRES
def test_the_change_listener_hears_again_after_its_connection_falls_silent(database_url: str) -> None:
    """A listening connection the network silences raises nothing and hears nothing: the
    listener's probe gets no answer within the timeout, the caches stop trusting memory (every
    channel is told), and a new connection listens and hears the next change."""
    heard: list[tuple[str, str | None]] = []
    with stalling_proxy(database_url) as (proxy, url):
        db = Database(url, timeout=SILENT_TIMEOUT)
        listener = Listener(db)
        listener.subscribe("senderid_keys", lambda channel, payload: heard.append((channel, payload)))
        listener.start()
        try:
            assert listener.wait_live(5)
            time.sleep(0.2)
            heard.clear()  # what starting told
            proxy.freeze()  # the listening connection falls silent; new connections get through
            assert wait_until(lambda: ("senderid_keys", None) in heard, SILENT_TIMEOUT + 3), heard
            assert listener.wait_live(5)
            direct = Database(database_url)
            try:
                with direct.engine.begin() as conn:
                    conn.exec_driver_sql("NOTIFY senderid_keys, 'after'")
            finally:
                direct.dispose()
            assert wait_until(lambda: ("senderid_keys", "after") in heard, 5), heard
        finally:
            listener.stop()
            db.dispose()
