"""The developer inbox shows every OTP in clear: only loopback clients may use it (unless
SENDERID_DEVINBOX_ALLOW_REMOTE=true), under the whole /dev/inbox prefix, and a browser may
change it only from its own origin. On both databases."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from senderid.api.app import create_app
from senderid.delivery.providers import devinbox
from senderid.domain.context import Context
from senderid.runtime import warn_about_settings
from tests.support.helpers import latest_code

NUMBER = "+61491570156"
LOOPBACK = ("127.0.0.1", 50000)
INBOX_PATHS = ("/dev/inbox", "/dev/inbox.json", "/dev/inbox/", "/dev/inbox/anything-added-later")


def client_from(ctx: Context, address: tuple[str, int], **settings: object) -> TestClient:
    changed = ctx.settings.model_copy(update=settings)
    other = Context(db=ctx.db, settings=changed, clock=ctx.clock, secret=ctx.secret)
    return TestClient(create_app(changed, context=other, run_worker=False), client=address,
                      raise_server_exceptions=False)


@pytest.fixture
def with_a_code(app_client: TestClient, ctx: Context, customer) -> str:
    r = app_client.post("/api/v1/customNumber/add", json={"name": "x", "number": NUMBER}, headers=customer.headers)
    assert r.status_code == 200
    return latest_code(ctx, NUMBER)


@pytest.mark.parametrize("address", [("203.0.113.7", 40000), ("10.0.0.2", 40000), ("testclient", 50000),
                                     ("::ffff:203.0.113.7", 40000)])
@pytest.mark.parametrize("path", INBOX_PATHS)
def test_remote_clients_get_a_403_on_every_inbox_path(ctx: Context, with_a_code: str, address, path: str) -> None:
    with client_from(ctx, address) as remote:
        r = remote.get(path)
        assert r.status_code == 403, (path, r.status_code)
        assert "SENDERID_DEVINBOX_ALLOW_REMOTE" in r.json()["message"]
        assert with_a_code not in r.text
        post = remote.post("/dev/inbox/clear")
        assert post.status_code == 403
    assert len(devinbox.list_messages(ctx.db)) == 1  # nothing cleared


@pytest.mark.parametrize("address", [LOOPBACK, ("127.8.9.10", 1), ("::1", 1), ("::ffff:127.0.0.1", 1)])
def test_loopback_clients_see_the_inbox(ctx: Context, with_a_code: str, address) -> None:
    with client_from(ctx, address) as local:
        assert with_a_code in local.get("/dev/inbox.json").text
        assert with_a_code in local.get("/dev/inbox").text


def test_the_setting_opens_it_to_remote_clients(ctx: Context, with_a_code: str) -> None:
    with client_from(ctx, ("203.0.113.7", 40000), devinbox_allow_remote=True) as remote:
        assert with_a_code in remote.get("/dev/inbox.json").text


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://testserver.evil.example"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site", "Origin": "http://testserver"},
])
def test_a_cross_site_post_cannot_clear_the_inbox(ctx: Context, with_a_code: str, headers: dict[str, str]) -> None:
    with client_from(ctx, LOOPBACK) as local:
        r = local.post("/dev/inbox/clear", data={}, headers=headers)
        assert r.status_code == 403
        assert "Cross-site" in r.json()["message"]
    assert len(devinbox.list_messages(ctx.db)) == 1


@pytest.mark.parametrize("headers", [
    {},  # curl, a script: no browser
    {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},  # the inbox page's own form
])
def test_the_inbox_itself_and_scripts_may_clear_it(ctx: Context, with_a_code: str, headers: dict[str, str]) -> None:
    with client_from(ctx, LOOPBACK) as local:
        r = local.post("/dev/inbox/clear", headers=headers)
        assert r.status_code == 200, r.text
    assert devinbox.list_messages(ctx.db) == []


def test_the_start_up_warning_says_codes_are_visible(ctx: Context, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="senderid"):
        warn_about_settings(ctx.settings)
    text = caplog.text
    assert "OTP codes included" in text and "/dev/inbox" in text and "loopback" in text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="senderid"):
        warn_about_settings(ctx.settings.model_copy(update={"devinbox_allow_remote": True}))
    assert "ANY client" in caplog.text
