"""``GET /metrics``: Prometheus text of this process, counting sends, receipts, webhooks, requests.

Metrics are process-wide (one registry), so each test compares before and after.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from peers.http import HttpPeer, Request, Response
from senderid.api.app import create_app
from senderid.delivery.providers import receipt_recorder
from senderid.delivery.providers.base import PermanentError, TransientError
from senderid.delivery.worker import Worker
from senderid.domain import accounts, events, outbox
from senderid.domain import custom_numbers as cn
from senderid.domain.context import Context
from senderid.domain.types import CLI, Actor
from tests.support.fake_providers import ScriptedProvider

NUMBER = "+61491570156"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"delivery_max_attempts": 2, "webhook_allow_private": True, "webhook_timeout_seconds": 2.0}


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_are_served_without_a_key_in_the_text_format(app_client: TestClient, customer) -> None:
    response = app_client.get("/metrics")
    assert response.status_code == 200
    assert "# TYPE senderid_sms_sends_total counter" in response.text
    assert "# TYPE senderid_sms_send_duration_seconds histogram" in response.text
    assert "# TYPE senderid_http_requests_total counter" in response.text
    assert "/metrics" not in app_client.get("/openapi.json").text


@pytest.mark.parametrize("settings_overrides", [{"metrics_enabled": False}])
def test_metrics_can_be_turned_off(app_client: TestClient) -> None:
    assert app_client.get("/metrics").status_code == 404


def test_http_requests_are_counted_by_route_template_and_status(app_client: TestClient, customer) -> None:
    route = "/api/v1/customNumber/{registration_id:objectid}"
    labels = {"method": "GET", "route": route, "status": "404"}
    before = value("senderid_http_requests_total", **labels)
    unmatched_before = value("senderid_http_requests_total", method="GET", route="unmatched", status="404")
    ok_before = value("senderid_http_requests_total", method="GET", route="/api/v1/user/token/verify",
                      status="200")

    for _ in range(3):
        assert app_client.get(f"/api/v1/customNumber/{'a' * 24}", headers=customer.headers).status_code == 404
    app_client.get("/no/such/path/0491570156?token=abc")
    app_client.get("/api/v1/user/token/verify", headers=customer.headers)

    samples = scrape(app_client)
    assert samples[("senderid_http_requests_total", tuple(sorted(labels.items())))] == before + 3
    assert value("senderid_http_requests_total", method="GET", route="unmatched", status="404") == unmatched_before + 1
    assert value("senderid_http_requests_total", method="GET", route="/api/v1/user/token/verify",
                 status="200") == ok_before + 1
    assert value("senderid_http_request_duration_seconds_count", method="GET", route=route) >= 3
    text = app_client.get("/metrics").text
    assert "0491570156" not in text and "token=abc" not in text and "a" * 24 not in text
    assert customer.key not in text


def test_sends_are_counted_by_provider_and_outcome(ctx, clock, customer) -> None:
    def count(outcome: str) -> float:
        return value("senderid_sms_sends_total", provider="fake", outcome=outcome)

    before = {outcome: count(outcome) for outcome in ("sent", "transient_error", "permanent_error", "dead",
                                                         "cancelled")}
    latency_before = value("senderid_sms_send_duration_seconds_count", provider="fake")
    with ctx.db.write() as conn:
        for i in range(4):
            outbox.enqueue(conn, now=clock.now(), kind="sms", to=f"+6149157010{i}", sender="Acme", body=f"m{i}")
    cn.add(ctx, customer.account, name="Mine", number=NUMBER, actor=Actor("key:test"))
    clock.advance(ctx.settings.otp_ttl_seconds)  # the OTP expires before any worker runs
    # m0 sent; m1 transient then sent; m2 permanent; m3 transient twice: dead
    down, refused = TransientError("HTTP 503"), PermanentError("HTTP 400")
    provider = ScriptedProvider([None, down, refused, down, None, down])
    worker = Worker(ctx.db, ctx.settings, provider, clock, name="w")
    worker.run_once()
    clock.advance(ctx.settings.delivery_backoff_max_seconds)
    worker.run_once()

    assert {outcome: count(outcome) - before[outcome] for outcome in before} == {
        "sent": 2, "transient_error": 2, "permanent_error": 1, "dead": 1, "cancelled": 1,
    }
    assert value("senderid_sms_send_duration_seconds_count", provider="fake") - latency_before == 6


def test_receipts_are_counted(ctx) -> None:
    before = value("senderid_sms_receipts_total", provider="smpp", status="delivered")
    receipt_recorder(ctx.db, ctx.clock, "smpp")("0A1B2C", "delivered")
    assert value("senderid_sms_receipts_total", provider="smpp", status="delivered") == before + 1


class Receiver(HttpPeer):
    def handle(self, request: Request) -> Response:
        return Response(204)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as peer:
        yield peer


def test_webhook_deliveries_are_counted_by_outcome(ctx: Context, no_otp_customer, receiver: Receiver) -> None:
    accounts.set_webhook_url(ctx, no_otp_customer.account.id, receiver.url + "/hook", actor=CLI)
    delivered, retry = (value("senderid_webhook_deliveries_total", outcome=o) for o in ("delivered", "retry"))
    with ctx.db.write() as conn:
        for _ in range(2):
            events.emit(conn, now=ctx.clock.now(), events=[(no_otp_customer.account.id, "message.sent", {"id": "x"})])
    receiver.fail(1, 500)
    worker = Worker(ctx.db, ctx.settings, ScriptedProvider(), ctx.clock, name="w")
    assert worker.run_once() == 2
    assert value("senderid_webhook_deliveries_total", outcome="delivered") == delivered + 1
    assert value("senderid_webhook_deliveries_total", outcome="retry") == retry + 1


def test_no_number_code_or_body_reaches_the_metrics(ctx, clock, customer, app_client: TestClient) -> None:
    cn.add(ctx, customer.account, name="Mine", number=NUMBER, actor=Actor("key:test"))
    provider = ScriptedProvider()
    Worker(ctx.db, ctx.settings, provider, clock, name="w").run_once()
    [sms] = provider.calls
    code = re.search(r"\b(\d{6})\b", sms.body).group(1)
    text = app_client.get("/metrics").text
    for secret in (NUMBER, NUMBER[1:], "491570156", code, sms.body, sms.message_id, customer.key,
                   customer.account.id):
        assert secret not in text


def test_a_second_app_in_the_same_process_shares_the_registry(ctx) -> None:
    # Several apps (tests, or a server restarted in-process) must not register metrics twice.
    for _ in range(2):
        with TestClient(create_app(ctx.settings, context=ctx, run_worker=False)) as client:
            assert client.get("/metrics").status_code == 200


def test_a_standalone_worker_serves_metrics_on_its_own_port(database_url: str, settings, tmp_path) -> None:
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SENDERID_")},
           "SENDERID_DATABASE_URL": database_url, "SENDERID_SECRET_KEY": settings.secret_key,
           "SENDERID_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "senderid.cli.main", "worker", "--metrics-port", str(port)],
                            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "the worker's /metrics never answered"
                time.sleep(0.1)
        assert answer.status_code == 200
        assert 'senderid_outbox_messages{lane="priority",status="queued"} 0.0' in answer.text
        assert 'senderid_outbox_oldest_queued_seconds{lane="bulk"} 0.0' in answer.text
        assert "senderid_provider_breaker_state" in answer.text
    finally:
        proc.terminate()
        proc.communicate(timeout=15)


# -- serve --workers N: one answer for the whole server ----------------------------------------


def _counters(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every counter and histogram count of a scrape (the series that may only grow)."""
    found = {}
    for family in text_string_to_metric_families(text):
        if family.type not in ("counter", "histogram"):
            continue
        for sample in family.samples:
            if sample.name.endswith(("_total", "_count", "_bucket")):
                found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _pids(directory, kind: str) -> set[int]:
    return {int(path.stem.rsplit("_", 1)[1]) for path in directory.glob(f"{kind}_*.db")}


@pytest.mark.slow
def test_serve_workers_metrics_add_up_every_process_and_never_go_backwards(tmp_path) -> None:
    import os
    import signal
    import time

    import httpx

    from peers.processes import free_port
    from tests.support.commands import clean_env, started

    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_4194304.db").write_bytes(b"left by an earlier run")  # must not be read
    port = free_port()
    env = clean_env(SENDERID_LOG_LEVEL="WARNING", PROMETHEUS_MULTIPROC_DIR=str(directory))
    healthz = ("senderid_http_requests_total", (("method", "GET"), ("route", "/healthz"), ("status", "200")))
    with started("serve", "--workers", "2", "--port", str(port), port=port, cwd=tmp_path, env=env) as server, \
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10,
                         headers={"Connection": "close"}) as client:  # fresh connections: both processes answer
        assert not (directory / "counter_4194304.db").exists()

        def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
            answer = client.get("/metrics")
            assert answer.status_code == 200, answer.text
            return _counters(answer.text)

        deadline = time.monotonic() + 20
        while len(_pids(directory, "gauge_liveall")) < 2:  # each process's worker set its breaker
            assert time.monotonic() < deadline, "the two processes never started"
            time.sleep(0.1)
        previous = scrape()
        first = previous[healthz]
        sent = 0
        for round_ in range(10):
            if round_ == 5:  # a process dies: its counts stay, its live gauges go
                [victim, *_] = sorted(_pids(directory, "gauge_liveall"))
                os.kill(victim, signal.SIGKILL)
                while victim in _pids(directory, "gauge_liveall"):
                    assert time.monotonic() < deadline + 30, "the dead process was never marked dead"
                    time.sleep(0.1)
                assert victim in _pids(directory, "counter")
            for _ in range(6):
                assert client.get("/healthz").status_code == 200
                sent += 1
            now = scrape()
            for series, value in previous.items():
                assert now.get(series, 0.0) >= value, (round_, series, value, now.get(series))
            assert now[healthz] == first + sent  # every process's count, added up
            previous = now
        assert len(_pids(directory, "counter")) >= 2, "the requests never reached both processes"
        assert server.poll() is None
