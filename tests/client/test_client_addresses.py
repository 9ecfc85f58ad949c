"""Client addresses cannot be forged (SENDERID_TRUSTED_PROXIES): by default
``X-Forwarded-For`` is believed from nobody, so the console's sign-in throttle and the
audit records see the socket peer; behind a trusted proxy, the address it forwards.
A real uvicorn server started with the options ``senderid serve`` uses, on both databases."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import select

from senderid.api.app import create_app
from senderid.cli.demo import proxy_note
from senderid.cli.serve import proxy_options
from senderid.domain.context import Context
from senderid.settings import Settings
from senderid.store.tables import audit_events
from tests.support.live import serve

ADMIN_TOKEN = "admin-" + "t" * 40
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"admin_token": ADMIN_TOKEN}


@contextmanager
def server(ctx: Context, **settings: object) -> Iterator[httpx.Client]:
    changed = ctx.settings.model_copy(update=settings)
    other = Context(db=ctx.db, settings=changed, clock=ctx.clock, secret=ctx.secret)
    app = create_app(changed, context=other, run_worker=False)
    with serve(app, **proxy_options(changed)) as base, httpx.Client(base_url=base, timeout=10) as client:
        yield client


def failed_sign_ins(client: httpx.Client, count: int, forwarded_for) -> list[int]:
    """``count`` sign-ins with a wrong token, each claiming another X-Forwarded-For."""
    statuses = []
    for i in range(count):
        page = client.get("/console/login")
        csrf = CSRF.search(page.text).group(1)
        r = client.post("/console/login", data={"token": "wrong", "csrf": csrf},
                        headers={"X-Forwarded-For": forwarded_for(i), "Origin": str(client.base_url)})
        statuses.append(r.status_code)
    return statuses


def otp_sent_ip(ctx: Context) -> str | None:
    with ctx.db.read() as conn:
        return conn.execute(select(audit_events.c.ip).where(audit_events.c.action == "custom_number.otp_sent")).scalar()


def test_by_default_rotating_x_forwarded_for_does_not_dodge_the_sign_in_throttle(ctx: Context) -> None:
    assert ctx.settings.trusted_proxies == ()
    with server(ctx) as client:
        statuses = failed_sign_ins(client, 11, lambda i: f"198.51.100.{i + 1}")
    assert statuses == [401] * 10 + [429]


def test_by_default_the_audit_records_the_socket_peer(ctx: Context, customer) -> None:
    with server(ctx) as client:
        r = client.post("/api/v1/customNumber/add", json={"name": "x", "number": "0491570156"},
                        headers={**customer.headers, "X-Forwarded-For": "198.51.100.77"})
        assert r.status_code == 200
    assert otp_sent_ip(ctx) == "127.0.0.1"


def test_behind_a_trusted_proxy_the_forwarded_address_counts(ctx: Context, customer) -> None:
    with server(ctx, trusted_proxies=("127.0.0.1",)) as client:
        # each forwarded address has its own allowance of failures
        assert failed_sign_ins(client, 11, lambda i: f"198.51.100.{i + 1}") == [401] * 11
        # one forwarded address is throttled however the proxy connects
        assert failed_sign_ins(client, 11, lambda i: "203.0.113.5") == [401] * 10 + [429]
        r = client.post("/api/v1/customNumber/add", json={"name": "x", "number": "0491570156"},
                        headers={**customer.headers, "X-Forwarded-For": "198.51.100.77"})
        assert r.status_code == 200
        # and the developer inbox's loopback rule sees the real (remote) client
        assert client.get("/dev/inbox.json", headers={"X-Forwarded-For": "198.51.100.77"}).status_code == 403
        assert client.get("/dev/inbox.json").status_code == 200
    assert otp_sent_ip(ctx) == "198.51.100.77"


def test_a_proxy_that_is_not_trusted_is_not_believed(ctx: Context) -> None:
    with server(ctx, trusted_proxies=("10.0.0.0/8",)) as client:  # the test connects from 127.0.0.1
        assert failed_sign_ins(client, 11, lambda i: f"198.51.100.{i + 1}")[-1] == 429


def test_trusted_proxies_setting_and_the_hint_of_make_run() -> None:
    settings = Settings(trusted_proxies="10.0.0.5, 192.168.0.0/16")
    assert settings.trusted_proxies == ("10.0.0.5", "192.168.0.0/16")
    assert proxy_options(settings) == {"proxy_headers": True, "forwarded_allow_ips": "10.0.0.5,192.168.0.0/16"}
    assert proxy_options(Settings()) == {"proxy_headers": False, "forwarded_allow_ips": ""}
    assert "SENDERID_TRUSTED_PROXIES=" in proxy_note(Settings())
    with pytest.raises(ValueError, match="not an IP address"):
        Settings(trusted_proxies="proxy.example")
