"""The console's banner and the readiness answer name the provider that is failing as the
worker reports it (its provider_health row), not this server's SENDERID_SMS_PROVIDER; on
both databases. The worker is real, its provider scripted ("fake"), while the server is
set to devinbox."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from senderid.api.app import create_app
from senderid.delivery.providers.base import TransientError
from senderid.delivery.worker import Worker
from senderid.domain import outbox
from senderid.domain.context import Context
from tests.support.console_support import ADMIN_TOKEN, csrf_of
from tests.support.fake_providers import ScriptedProvider, always


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"admin_token": ADMIN_TOKEN, "sms_provider": "devinbox"}


def _fail_a_worker(ctx: Context, name: str = "host:1:1") -> None:
    with ctx.db.write() as conn:
        for i in range(6):
            outbox.enqueue(conn, now=ctx.clock.now(), kind="sms", to=f"+6149157{i:04d}", sender="Acme", body="hi")
    Worker(ctx.db, ctx.settings, always(TransientError("HTTP 503 Service Unavailable")), ctx.clock,
           name=name).run_once()


def _console(ctx: Context) -> TestClient:
    client = TestClient(create_app(ctx.settings, context=ctx, run_worker=False))
    form = client.get("/console/login")
    client.post("/console/login", data={"csrf": csrf_of(form.text), "token": ADMIN_TOKEN})
    return client


def test_the_banner_names_the_workers_provider(ctx: Context) -> None:
    assert ScriptedProvider.name == "fake" and ctx.settings.sms_provider == "devinbox"
    _fail_a_worker(ctx)
    page = _console(ctx).get("/console").text
    banner = page[page.index('id="provider-failing"'):page.index("</div>", page.index('id="provider-failing"'))]
    assert "the fake provider keeps failing" in banner
    assert "devinbox" not in banner
    assert "Last error (fake)" in banner
    assert "this server is set to <code>devinbox</code>" in page


def test_readiness_names_the_failing_provider(ctx: Context, app_client: TestClient) -> None:
    ready = app_client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["message"] == "ready"
    assert ready.json()["data"] == {"providers_failing": [], "workers_failing": []}

    _fail_a_worker(ctx)
    failing = app_client.get("/readyz")
    assert failing.status_code == 200  # the API still queues: ready, but it says what fails
    body = failing.json()
    assert body["message"] == "ready; SMS are not leaving: the fake provider keeps failing"
    assert body["data"] == {"providers_failing": ["fake"],
                            "workers_failing": [{"worker": "host:1:1", "provider": "fake", "breaker": "open"}]}
