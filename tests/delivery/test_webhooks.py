"""Account webhooks: signed events, retries, the private-address rule, the CLI.

A receiver (stdlib ThreadingHTTPServer on 127.0.0.1) records what arrives; the
signature is checked with the Standard Webhooks reference library
(tests/support/standard_webhooks.py), not with senderid's.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from senderid import webhook_urls
from senderid.cli import common
from senderid.domain import accounts
from senderid.domain import custom_numbers as cn
from senderid.domain.context import Context
from senderid.domain.types import CLI, Actor
from senderid.errors import InvalidRequest, NotFound, OtpVerificationFailed
from senderid.runtime import build_worker
from senderid.store.tables import audit_events, webhook_events
from tests.support.helpers import latest_code
from tests.support.racers import race
from tests.support.standard_webhooks import signature_ok

NUMBER = "+61491570156"
WHO = Actor("key:test", "127.0.0.1")


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    # The receiver lives on 127.0.0.1, which only closed networks (and tests) may allow.
    return {"webhook_allow_private": True, "webhook_timeout_seconds": 1.5}


# -- the receiver --------------------------------------------------------------------------


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


class Receiver:
    """Records every POST; ``answer(n)`` decides the status of the n-th one (0-based)."""

    def __init__(self, answer: Callable[[int], int] = lambda n: 200) -> None:
        self.answer = answer
        self.deliveries: list[Delivery] = []
        self.arrived = threading.Event()
        self.release = threading.Event()  # for receivers that hang: set to let them go
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    n = len(receiver.deliveries)
                    receiver.deliveries.append(
                        Delivery(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                receiver.arrived.set()
                status = receiver.answer(n)
                if status == 0:  # never answer (until released)
                    receiver.release.wait(10)
                    return
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01})
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def hook(ctx: Context, account_id: str, url: str) -> str:
    """Set the account's webhook; returns its signing secret."""
    change = accounts.set_webhook_url(ctx, account_id, url, actor=CLI)
    assert change.new_secret is not None and change.new_secret.startswith("whsec_")
    return change.new_secret


def events(ctx: Context) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        rows = conn.execute(sa.select(webhook_events).order_by(webhook_events.c.created_at)).all()
    return [dict(r._mapping) for r in rows]


def run_worker(ctx: Context) -> int:
    return build_worker(ctx, name="test-worker").run_once()


# -- delivery ------------------------------------------------------------------------------


def test_verify_race_delivers_verified_and_cancelled_signed(ctx, make_customer, receiver) -> None:
    one, two = make_customer("One"), make_customer("Two")
    secrets = {"/one": hook(ctx, one.account.id, receiver.url("/one")),
               "/two": hook(ctx, two.account.id, receiver.url("/two"))}
    cn.add(ctx, one.account, name="Shop", number=NUMBER, actor=WHO)
    code_one = latest_code(ctx, NUMBER)
    cn.add(ctx, two.account, name="Shop", number=NUMBER, actor=WHO)
    code_two = latest_code(ctx, NUMBER)

    racers = ((one, code_one), (two, code_two))
    raced = race(ctx, 2, lambda i: cn.verify(ctx, racers[i][0].account, name="Shop", number=NUMBER,
                                              code=racers[i][1], actor=WHO))
    assert all(isinstance(r, (str, OtpVerificationFailed)) for r in raced), raced
    results = {one.account.id: raced[0], two.account.id: raced[1]}
    winner, loser = (one, two) if isinstance(results[one.account.id], str) else (two, one)
    assert isinstance(results[loser.account.id], OtpVerificationFailed)

    assert run_worker(ctx) == 2
    by_path = {d.path: d for d in receiver.deliveries}
    assert len(receiver.deliveries) == 2
    for path, delivery in by_path.items():
        assert signature_ok(secrets[path], delivery.headers, delivery.body)
        other = secrets["/two" if path == "/one" else "/one"]
        assert not signature_ok(other, delivery.headers, delivery.body)
        assert delivery.headers["content-type"] == "application/json"
        assert delivery.headers["webhook-id"].startswith("msg_")
        assert set(delivery.event) == {"type", "timestamp", "data"}
        assert int(delivery.headers["webhook-timestamp"]) == int(ctx.clock.now().timestamp())
    win = by_path["/one" if winner is one else "/two"].event
    lose = by_path["/two" if winner is one else "/one"].event
    assert win["type"] == "custom_number.verified"
    assert win["data"] == {"id": results[winner.account.id], "number": NUMBER, "status": "active", "name": "Shop"}
    assert lose["type"] == "custom_number.cancelled"
    assert lose["data"]["number"] == NUMBER and lose["data"]["status"] == "cancelled"
    assert {e["status"] for e in events(ctx)} == {"delivered"}
    assert {e["id"] for e in events(ctx)} == {d.headers["webhook-id"] for d in receiver.deliveries}
    body = b"".join(d.body for d in receiver.deliveries).decode()
    assert code_one not in body and code_two not in body


def test_a_failing_receiver_gets_it_on_the_third_attempt(ctx, no_otp_customer, clock) -> None:
    receiver = Receiver(answer=lambda n: 500 if n < 2 else 204)
    try:
        secret = hook(ctx, no_otp_customer.account.id, receiver.url())
        cn.add(ctx, no_otp_customer.account, name="Shop", number=NUMBER, actor=WHO)
        for attempt in (1, 2):
            assert run_worker(ctx) == 1
            [event] = events(ctx)
            assert (event["status"], event["attempts"], event["last_error"]) == ("queued", attempt, "HTTP 500")
            assert secret not in event["last_error"]
            assert run_worker(ctx) == 0  # not due yet
            clock.advance(seconds=(event["next_attempt_at"] - clock.now()).total_seconds() + 0.001)
        assert run_worker(ctx) == 1
        [event] = events(ctx)
        assert (event["status"], event["attempts"], event["last_error"]) == ("delivered", 3, None)
        assert event["delivered_at"] == clock.now()
        assert len(receiver.deliveries) == 3
        assert len({d.headers["webhook-id"] for d in receiver.deliveries}) == 1  # one id across retries
        assert len({d.body for d in receiver.deliveries}) == 1
        assert all(signature_ok(secret, d.headers, d.body) for d in receiver.deliveries)
    finally:
        receiver.close()


@pytest.mark.parametrize("settings_overrides", [{"webhook_allow_private": True, "delivery_max_attempts": 2}])
def test_out_of_attempts_is_dead(ctx, no_otp_customer, clock) -> None:
    receiver = Receiver(answer=lambda n: 503)
    try:
        secret = hook(ctx, no_otp_customer.account.id, receiver.url())
        cn.add(ctx, no_otp_customer.account, name="Shop", number=NUMBER, actor=WHO)
        run_worker(ctx)
        clock.advance(seconds=3600)
        run_worker(ctx)
        [event] = events(ctx)
        assert event["status"] == "dead" and event["attempts"] == 2
        assert event["last_error"] == "gave up after 2 attempts: HTTP 503"
        assert secret not in event["last_error"]
    finally:
        receiver.close()


def test_nothing_listening_is_retried(ctx, no_otp_customer) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    hook(ctx, no_otp_customer.account.id, f"http://127.0.0.1:{port}/hook?token=abc123")
    cn.add(ctx, no_otp_customer.account, name="Shop", number=NUMBER, actor=WHO)
    run_worker(ctx)
    [event] = events(ctx)
    assert event["status"] == "queued" and event["last_error"].startswith("connection failed")
    assert "abc123" not in event["last_error"]


def test_events_follow_the_current_url(ctx, no_otp_customer, receiver, clock) -> None:
    hook(ctx, no_otp_customer.account.id, receiver.url("/old"))
    cn.add(ctx, no_otp_customer.account, name="Shop", number=NUMBER, actor=WHO)
    accounts.set_webhook_url(ctx, no_otp_customer.account.id, receiver.url("/new"), actor=CLI)
    run_worker(ctx)
    assert [d.path for d in receiver.deliveries] == ["/new"]

    # Cleared: no new events are queued, and queued ones end (there is nowhere to send them).
    cn.add(ctx, no_otp_customer.account, name="Shop", number="+61491570157", actor=WHO)
    accounts.set_webhook_url(ctx, no_otp_customer.account.id, "", actor=CLI)
    cn.add(ctx, no_otp_customer.account, name="Shop", number="+61491570158", actor=WHO)
    run_worker(ctx)
    statuses = sorted((e["status"], e["last_error"] or "") for e in events(ctx))
    assert statuses == [("dead", "the account has no webhook URL any more"), ("delivered", "")]
    assert accounts.get_webhook_url(ctx, no_otp_customer.account.id) is None


def test_rotating_the_secret_signs_with_the_new_one(ctx, no_otp_customer, receiver) -> None:
    old = hook(ctx, no_otp_customer.account.id, receiver.url())
    new = accounts.rotate_webhook_secret(ctx, no_otp_customer.account.id, actor=CLI)
    assert new != old and new.startswith("whsec_")
    again = accounts.set_webhook_url(ctx, no_otp_customer.account.id, receiver.url("/again"), actor=CLI)
    assert again.new_secret is None  # the account keeps its secret
    cn.add(ctx, no_otp_customer.account, name="Shop", number=NUMBER, actor=WHO)
    run_worker(ctx)
    [delivery] = receiver.deliveries
    assert signature_ok(new, delivery.headers, delivery.body)
    assert not signature_ok(old, delivery.headers, delivery.body)


# The hung delivery lasts the webhook timeout: long enough that the API call below ends
# well within it even on a busy machine, so "the delivery still hangs" when it answers.
HUNG_SECONDS = 3.0


@pytest.mark.parametrize("settings_overrides", [
    {"webhook_allow_private": True, "webhook_timeout_seconds": HUNG_SECONDS}])
def test_a_receiver_that_never_answers_does_not_slow_the_api(
    ctx, app_client: TestClient, no_otp_customer
) -> None:
    receiver = Receiver(answer=lambda n: 0)
    try:
        hook(ctx, no_otp_customer.account.id, receiver.url())
        cn.add(ctx, no_otp_customer.account, name="Shop", number=NUMBER, actor=WHO)
        worker = threading.Thread(target=run_worker, args=(ctx,))
        worker.start()
        assert receiver.arrived.wait(10), "the worker never called the receiver"

        started = time.monotonic()
        r = app_client.post("/api/v1/customNumber/add", json={"name": "x", "number": "+61491570157"},
                            headers=no_otp_customer.headers)
        elapsed = time.monotonic() - started
        assert r.status_code == 200
        # answered while the delivery still hangs: the API did not wait for it
        assert worker.is_alive(), f"the API took {elapsed:.2f}s, until the hung webhook gave up"
        assert elapsed < HUNG_SECONDS / 2, f"the API took {elapsed:.2f}s while a webhook hung"

        worker.join(10)
        assert not worker.is_alive()
        hung, later = sorted(events(ctx), key=lambda e: -e["attempts"])  # both made at one instant
        assert hung["attempts"] == 1 and hung["last_error"].startswith("no answer in time")
        assert later["status"] == "queued" and later["attempts"] == 0
    finally:
        receiver.close()


@pytest.mark.parametrize("settings_overrides", [{"webhook_allow_private": True, "worker_poll_seconds": 0.05}])
def test_the_in_process_worker_delivers_events(ctx, no_otp_customer, receiver) -> None:
    from senderid.api.app import create_app

    hook(ctx, no_otp_customer.account.id, receiver.url())
    with TestClient(create_app(ctx.settings, context=ctx, run_worker=True)) as client:
        r = client.post("/api/v1/customNumber/add", json={"name": "x", "number": NUMBER},
                        headers=no_otp_customer.headers)
        assert r.status_code == 200
        assert receiver.arrived.wait(10)
    assert receiver.deliveries[0].event["type"] == "custom_number.verified"


# -- the private-address rule ----------------------------------------------------------------

PRIVATE = [
    "http://127.0.0.1/hook",
    "http://127.1.2.3:8080/hook",
    "http://localhost/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://100.64.0.1/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
    "http://[::1]/hook",
    "http://[::]/hook",
    "http://[fe80::1]/hook",
    "http://[fc00::1]/hook",
    "http://[ff02::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:10.0.0.1]/hook",
    "http://[64:ff9b::a9fe:a9fe]/hook",
    "http://[2002:7f00:1::]/hook",
]


@pytest.mark.parametrize("settings_overrides", [{}])
@pytest.mark.parametrize("url", PRIVATE)
def test_private_addresses_are_refused(ctx, customer, url: str) -> None:
    with pytest.raises(InvalidRequest, match="public addresses only"):
        accounts.set_webhook_url(ctx, customer.account.id, url, actor=CLI)
    assert accounts.get_webhook_url(ctx, customer.account.id) is None


@pytest.mark.parametrize("url", ["http://127.0.0.1/hook", "http://10.1.2.3/hook",
                                 "http://169.254.169.254/x", "http://[::1]/hook"])
def test_private_addresses_are_allowed_when_configured(ctx, customer, url: str) -> None:
    accounts.set_webhook_url(ctx, customer.account.id, url, actor=CLI)
    assert accounts.get_webhook_url(ctx, customer.account.id) == url


@pytest.mark.parametrize("settings_overrides", [{}])
@pytest.mark.parametrize("url", ["https://93.184.215.14/hooks/senderid",
                                 "http://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:8443/x?token=1"])
def test_public_addresses_are_accepted(ctx, customer, url: str) -> None:
    assert accounts.set_webhook_url(ctx, customer.account.id, url, actor=CLI).url == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://93.184.215.14/x", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("93.184.215.14/hook", "http:// or https://"),
        ("http:///hook", "name a host"),
        ("https://user:pw@93.184.215.14/hook", "user name or password"),
        ("https://token@93.184.215.14/hook", "user name or password"),
        ("https://93.184.215.14:99999/hook", "invalid port"),
        ("https://93.184.215.14/a b", "spaces"),
        ("https://exämple.com/hook", "ASCII"),
        ("https://93.184.215.14/" + "x" * 2000, "at most"),
    ],
)
def test_malformed_urls_are_refused(ctx, customer, url: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        accounts.set_webhook_url(ctx, customer.account.id, url, actor=CLI)


def test_unknown_account(ctx) -> None:
    with pytest.raises(NotFound):
        accounts.set_webhook_url(ctx, "0" * 24, "http://127.0.0.1/x", actor=CLI)
    with pytest.raises(NotFound):
        accounts.rotate_webhook_secret(ctx, "0" * 24, actor=CLI)


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                     (a, port)) for a in answers[host]]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize("settings_overrides", [{}])
def test_dns_rebinding_is_caught_at_delivery(ctx, no_otp_customer, receiver, monkeypatch) -> None:
    answers = {"hooks.example.com": ["93.184.215.14"]}
    fake_dns(monkeypatch, answers)
    hook(ctx, no_otp_customer.account.id, f"http://hooks.example.com:{receiver.port}/hook")
    answers["hooks.example.com"] = ["127.0.0.1"]  # the name now points inside
    cn.add(ctx, no_otp_customer.account, name="Shop", number=NUMBER, actor=WHO)
    run_worker(ctx)
    [event] = events(ctx)
    assert event["status"] == "queued" and "127.0.0.1, a loopback address" in event["last_error"]
    assert receiver.deliveries == []

    # Any private answer among several is refused too.
    assert webhook_urls.forbidden_reason("93.184.215.14") is None
    answers["hooks.example.com"] = ["93.184.215.14", "10.0.0.7"]
    with pytest.raises(webhook_urls.UnsafeUrl, match="10.0.0.7, a private address"):
        webhook_urls.check_url("https://hooks.example.com/x", allow_private=False)


@pytest.mark.parametrize("settings_overrides", [{}])
def test_delivery_connects_to_the_checked_address(ctx, no_otp_customer, receiver, monkeypatch) -> None:
    """The name is resolved once per delivery; the POST goes to that address, Host names the name."""
    fake_dns(monkeypatch, {"hooks.example.com": ["127.0.0.1"]})
    real_reason = webhook_urls.forbidden_reason
    monkeypatch.setattr(webhook_urls, "forbidden_reason",
                        lambda a: None if a == "127.0.0.1" else real_reason(a))
    secret = hook(ctx, no_otp_customer.account.id, f"http://hooks.example.com:{receiver.port}/hook")
    cn.add(ctx, no_otp_customer.account, name="Shop", number=NUMBER, actor=WHO)
    run_worker(ctx)
    [delivery] = receiver.deliveries
    assert delivery.headers["host"] == f"hooks.example.com:{receiver.port}"
    assert signature_ok(secret, delivery.headers, delivery.body)
    assert events(ctx)[0]["status"] == "delivered"


# -- audit and CLI ------------------------------------------------------------------------------


def audit_dump(ctx: Context) -> str:
    with ctx.db.read() as conn:
        return "\n".join(str(tuple(r)) for r in conn.execute(sa.select(audit_events)))


def test_the_audit_has_no_secret(ctx, customer) -> None:
    created = hook(ctx, customer.account.id, "https://127.0.0.1/hook?token=s3cret-token")
    rotated = accounts.rotate_webhook_secret(ctx, customer.account.id, actor=CLI)
    accounts.set_webhook_url(ctx, customer.account.id, None, actor=CLI)
    with ctx.db.read() as conn:
        actions = conn.execute(sa.select(audit_events.c.action, audit_events.c.details)
                               .where(audit_events.c.action.like("account.webhook%"))
                               .order_by(audit_events.c.id)).all()
    assert [a.action for a in actions] == ["account.webhook_updated", "account.webhook_secret_rotated",
                                          "account.webhook_updated"]
    assert actions[0].details["webhook_url"] == "https://127.0.0.1/hook"
    assert actions[2].details["webhook_url"] is None
    dumped = audit_dump(ctx)
    for secret in (created, rotated, created[6:], rotated[6:], "s3cret-token"):
        assert secret not in dumped


@pytest.fixture
def cli(run: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """The CLI (conftest's ``run``) with private webhook addresses allowed."""
    monkeypatch.setenv("SENDERID_WEBHOOK_ALLOW_PRIVATE", "true")
    return run


def test_cli_forms(cli, monkeypatch) -> None:
    account_id = cli("account", "create", "Acme").stdout.strip()

    first = cli("account", "set", account_id, "--webhook-url", "http://127.0.0.1:9/hook")
    assert first.exit_code == 0, first.output
    secret = first.stdout.strip()
    assert secret.startswith("whsec_") and first.stdout == secret + "\n"
    assert "shown only this once" in first.stderr

    both = cli("account", "set", account_id, "--no-otp-required", "--reason", "vouched for", "--webhook-url",
               "http://127.0.0.1:9/b")
    assert both.exit_code == 0 and both.stdout == ""  # the secret is not shown again
    ctx = common.context()
    assert accounts.get_account(ctx, account_id).otp_required is False
    assert accounts.get_webhook_url(ctx, account_id) == "http://127.0.0.1:9/b"

    assert cli("account", "set", account_id, "--otp-required").exit_code == 0  # still works alone
    assert accounts.get_account(common.context(), account_id).otp_required is True

    rotated = cli("account", "webhook-secret", account_id)
    assert rotated.exit_code == 0
    new = rotated.stdout.strip()
    assert new.startswith("whsec_") and new != secret and rotated.stdout == new + "\n"

    cleared = cli("account", "set", account_id, "--webhook-url", "")
    assert cleared.exit_code == 0 and "webhook_url=(none)" in cleared.stderr
    assert accounts.get_webhook_url(common.context(), account_id) is None

    assert cli("account", "webhook-secret", "0" * 24).exit_code == 1
    assert cli("account", "set", account_id).exit_code == 2
    refused = cli("account", "set", account_id, "--no-otp-required", "--reason", "vouched for", "--webhook-url",
                  "ftp://x/y")
    assert refused.exit_code == 1 and "http:// or https://" in refused.stderr
    assert accounts.get_account(common.context(), account_id).otp_required is True  # unchanged

    monkeypatch.setenv("SENDERID_WEBHOOK_ALLOW_PRIVATE", "false")
    private = cli("account", "set", account_id, "--webhook-url", "http://10.0.0.1/hook")
    assert private.exit_code == 1 and "public addresses only" in private.stderr

    dumped = audit_dump(common.context())
    assert secret not in dumped and new not in dumped


def test_the_queue_claims_in_one_statement_oldest_first(ctx, no_otp_customer, clock) -> None:
    """A claim is one UPDATE ... RETURNING (then one look-up of the accounts' URLs): no
    SELECT-then-UPDATE window in which two workers could read the same rows."""
    from senderid.delivery import webhook_queue

    hook(ctx, no_otp_customer.account.id, "http://127.0.0.1:9/hook")
    for number in ("+61491570156", "+61491570157", "+61491570158"):
        cn.add(ctx, no_otp_customer.account, name="Shop", number=number, actor=WHO)
        clock.advance(seconds=1)
    due = [event["id"] for event in sorted(events(ctx), key=lambda e: (e["next_attempt_at"], e["id"]))]
    assert len(due) == 3
    with ctx.db.count() as counts, ctx.db.write() as conn:
        claimed = webhook_queue.claim(conn, now=ctx.clock.now(), lease_seconds=60, limit=2)
    assert [event.id for event in claimed] == due[:2]
    assert [event.attempts for event in claimed] == [1, 1]
    assert [event.url for event in claimed] == ["http://127.0.0.1:9/hook"] * 2
    assert counts.total == 2, counts.statements
    assert [statement.split()[0] for statement in counts.statements] == ["UPDATE", "SELECT"], counts.statements
