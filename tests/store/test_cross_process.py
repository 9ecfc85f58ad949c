"""Changes reach every server process within 100 ms.

Two real ``senderid serve`` processes share the test database; each keeps keys, accounts
and senders in memory. A key revoked through the CLI, a custom number deleted through one
server, an account made prepaid or made to require OTPs through the CLI, must be acted on
by both within 100 ms of the commit. Every request's send
time is recorded. The commit time taken is the latest moment known to precede it: the
change's audit record (written inside the transaction) or, when later, the start of the
last read of a watcher polling for that record that did not find it yet. So the measured
delay can only come out longer than the real one, and a writer slow to commit on a busy
machine does not count against the servers.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from peers.processes import free_port
from senderid.domain import accounts, credits
from senderid.domain.types import CLI
from senderid.store.tables import audit_events
from tests.support.env import TEST_SECRET

WITHIN = 0.1  # seconds
NUMBER = "+61491570156"
CONTACT = "+61491570157"


def _env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDERID_")}
    env.update(SENDERID_DATABASE_URL=database_url, SENDERID_SECRET_KEY=TEST_SECRET,
               SENDERID_WORKER_IN_PROCESS="false", SENDERID_LOG_LEVEL="WARNING")
    return env


@contextmanager
def server(database_url: str, log: Path, *options: str) -> Iterator[str]:
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "senderid.cli.main", "serve", "--port", str(port), *options],
            env=_env(database_url), stdout=subprocess.DEVNULL, stderr=out,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not start: {log.read_text()!r}")
            time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


class Hammer:
    """Sends one request after another to a server, noting (sent at, answer) for each:
    ``ask(client)`` sends one and returns what is compared."""

    def __init__(self, base: str, ask: Callable[[httpx.Client], object]) -> None:
        self.results: list[tuple[float, object]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(base, ask), daemon=True)

    def _run(self, base: str, ask: Callable[[httpx.Client], object]) -> None:
        with httpx.Client(base_url=base, timeout=5) as client:
            while not self._stop.is_set():
                sent = time.time()
                self.results.append((sent, ask(client)))

    def __enter__(self) -> Hammer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


class Watcher:
    """Reads the database every 2 ms on a connection of its own, noting when it began the
    last read that did not yet show the audit record of ``action``: the change's commit
    came after that moment."""

    def __init__(self, ctx, action: str) -> None:
        self.unseen_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ctx, action), daemon=True)

    def _run(self, ctx, action: str) -> None:
        query = select(audit_events.c.id).where(audit_events.c.action == action).limit(1)
        while not self._stop.is_set():
            started = time.time()
            with ctx.db.read() as conn:
                if conn.execute(query).first() is not None:
                    return
            self.unseen_at = started
            time.sleep(0.002)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def committed_at(ctx, action: str, watcher: Watcher) -> float:
    """The latest moment known to come before the change's commit: its audit record's time
    (written inside the transaction), or the watcher's last read that did not show it when
    that is later (the writing process may take a while to commit on a busy machine)."""
    with ctx.db.read() as conn:
        at: datetime = conn.execute(
            select(audit_events.c.at).where(audit_events.c.action == action).order_by(audit_events.c.id.desc())
        ).scalars().first()
    return max(at.replace(tzinfo=UTC).timestamp(), watcher.unseen_at or 0.0)


def judge(hammers: list[Hammer], changed_at: float, before, after) -> None:
    for hammer in hammers:
        early = [answer for sent, answer in hammer.results if sent < changed_at]
        late = [answer for sent, answer in hammer.results if sent > changed_at + WITHIN]
        assert early and early[0] == before  # the memory answered before the change
        assert late, "no request after the change"
        assert all(answer == after for answer in late), [
            (round(sent - changed_at, 3), answer) for sent, answer in hammer.results
            if sent > changed_at + WITHIN and answer != after]


@pytest.fixture
def real_time_ctx(settings, db):
    """A context on the real clock: the servers' audit times and ours must agree."""
    from senderid.clock import Clock
    from senderid.domain.context import Context

    return Context(db=db, settings=settings, clock=Clock(), secret=settings.resolved_secret())


def test_a_key_revoked_through_the_cli_is_refused_by_every_server(
    database_url: str, real_time_ctx, tmp_path: Path
) -> None:
    ctx = real_time_ctx
    account = accounts.create_account(ctx, "Acme", actor=CLI)
    _record, key = accounts.create_key(ctx, account.id, actor=CLI)
    headers = {"Authorization": f"Bearer {key}"}
    with ExitStack() as stack:
        bases = [stack.enter_context(server(database_url, tmp_path / f"server{i}.log")) for i in range(2)]
        hammers = [stack.enter_context(Hammer(
            b, lambda c: c.get("/api/v1/user/token/verify", headers=headers).status_code)) for b in bases]
        time.sleep(0.3)
        watcher = stack.enter_context(Watcher(ctx, "key.revoked"))
        revoked = subprocess.run([sys.executable, "-m", "senderid.cli.main", "key", "revoke", key],
                                 env=_env(database_url), capture_output=True, timeout=60)
        assert revoked.returncode == 0, revoked.stderr
        time.sleep(0.5)
    judge(hammers, committed_at(ctx, "key.revoked", watcher), 200, 401)


def test_a_deleted_number_is_refused_by_every_servers_sender_check(
    database_url: str, real_time_ctx, tmp_path: Path
) -> None:
    ctx = real_time_ctx
    account = accounts.create_account(ctx, "Direct", otp_required=False, actor=CLI)
    _record, key = accounts.create_key(ctx, account.id, actor=CLI)
    headers = {"Authorization": f"Bearer {key}"}
    check = f"/api/v1/senderId/check?sender={NUMBER.replace('+', '%2B')}"
    with ExitStack() as stack:
        bases = [stack.enter_context(server(database_url, tmp_path / f"server{i}.log")) for i in range(2)]
        r = httpx.post(f"{bases[0]}/api/v1/customNumber/add", json={"name": "n", "number": NUMBER},
                       headers=headers, timeout=5)
        assert r.json()["message"] == "Custom number created"
        registration = httpx.get(f"{bases[0]}/api/v1/customNumber/list", headers=headers).json()
        registration_id = registration["data"]["items"][0]["_id"]
        hammers = [stack.enter_context(Hammer(
            b, lambda c: c.get(check, headers=headers).json()["data"]["allowed"])) for b in bases]
        time.sleep(0.3)
        watcher = stack.enter_context(Watcher(ctx, "custom_number.deleted"))
        assert httpx.delete(f"{bases[1]}/api/v1/customNumber/{registration_id}", headers=headers,
                            timeout=5).status_code == 200
        time.sleep(0.5)
    judge(hammers, committed_at(ctx, "custom_number.deleted", watcher), True, False)


def cli(database_url: str, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "senderid.cli.main", *args], env=_env(database_url),
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_an_account_made_prepaid_through_the_cli_is_charged_by_every_server(
    database_url: str, real_time_ctx, tmp_path: Path
) -> None:
    """The prepaid switch rides on the cached caller: once the CLI gives the account a
    balance of 0, every server refuses its sends (the documented 422)."""
    ctx = real_time_ctx
    account = accounts.create_account(ctx, "Acme", otp_required=False, actor=CLI)
    _record, key = accounts.create_key(ctx, account.id, actor=CLI)
    headers = {"Authorization": f"Bearer {key}"}
    send = {"message": "hello", "contacts": [CONTACT]}
    with ExitStack() as stack:
        bases = [stack.enter_context(server(database_url, tmp_path / f"server{i}.log")) for i in range(2)]
        hammers = [stack.enter_context(Hammer(
            b, lambda c: c.post("/api/v1/gateway", json=send, headers=headers).status_code)) for b in bases]
        time.sleep(0.3)
        watcher = stack.enter_context(Watcher(ctx, "account.credits_set"))
        cli(database_url, "account", "set", account.id, "--credits", "0")
        time.sleep(0.5)
    judge(hammers, committed_at(ctx, "account.credits_set", watcher), 200, 422)
    assert credits.balance(ctx, account.id) == 0


def test_an_account_made_to_require_otps_through_the_cli_gets_no_number_without_one(
    database_url: str, real_time_ctx, tmp_path: Path
) -> None:
    """Once the CLI makes the account require OTPs, no server creates a number for it
    without sending a code first."""
    ctx = real_time_ctx
    account = accounts.create_account(ctx, "Direct", otp_required=False, actor=CLI)
    _record, key = accounts.create_key(ctx, account.id, actor=CLI)
    headers = {"Authorization": f"Bearer {key}"}
    numbers = itertools.count(100_000)

    def add(client: httpx.Client) -> bool:
        number = f"+61491{next(numbers):06d}"
        r = client.post("/api/v1/customNumber/add", json={"name": "n", "number": number}, headers=headers)
        return r.json()["message"] == "Custom number created"

    with ExitStack() as stack:
        bases = [stack.enter_context(server(database_url, tmp_path / f"server{i}.log")) for i in range(2)]
        hammers = [stack.enter_context(Hammer(b, add)) for b in bases]
        time.sleep(0.3)
        watcher = stack.enter_context(Watcher(ctx, "account.updated"))
        cli(database_url, "account", "set", account.id, "--otp-required")
        time.sleep(0.5)
    judge(hammers, committed_at(ctx, "account.updated", watcher), True, False)


def test_a_balance_set_through_the_cli_refuses_the_third_send(database_url: str, real_time_ctx, tmp_path: Path) -> None:
    """`senderid account set ID --credits 2` while `serve --workers 2` runs, both of its
    processes having served the account (unlimited until then): two sends of one credit
    each are queued, every send after them is refused, and the balance is 0."""
    ctx = real_time_ctx
    account = accounts.create_account(ctx, "Acme", otp_required=False, actor=CLI)
    _record, key = accounts.create_key(ctx, account.id, actor=CLI)
    headers = {"Authorization": f"Bearer {key}"}
    send = {"message": "hello", "contacts": [CONTACT]}
    with server(database_url, tmp_path / "server.log", "--workers", "2") as base:
        for _ in range(20):  # a new connection each: both processes get some and remember the caller
            assert httpx.post(f"{base}/api/v1/gateway", json=send, headers=headers, timeout=5).status_code == 200
        cli(database_url, "account", "set", account.id, "--credits", "2")
        time.sleep(WITHIN * 3)
        answers = [httpx.post(f"{base}/api/v1/gateway", json=send, headers=headers, timeout=5).status_code
                   for _ in range(10)]
    assert answers == [200, 200] + [422] * 8
    assert credits.balance(ctx, account.id) == 0
