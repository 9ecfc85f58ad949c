"""The console's security model, through HTTP (TestClient), on both databases.

Sessions (signed, bound to the admin token, expiring), CSRF on every POST, escaping on
every page, the console off without a token, sign-out, the sign-in throttle, and that
console actions are the domain's (same audit events, actor ``console``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from senderid.api.app import create_app
from senderid.console import session as sessions
from senderid.domain import accounts, business_names, outbox
from senderid.domain.context import Context
from senderid.domain.types import CLI
from senderid.store.tables import audit_events
from tests.support.console_support import ADMIN_TOKEN, csrf_of, dead_message
from tests.support.helpers import deliver_all

XSS = "<script>alert(1)</script>"
NUMBER = "+61491570156"
LOOPBACK = ("127.0.0.1", 50000)  # the developer inbox answers only loopback clients


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"admin_token": ADMIN_TOKEN}


def _client(ctx: Context, **settings: object) -> TestClient:
    changed = ctx.settings.model_copy(update=settings)
    other = Context(db=ctx.db, settings=changed, clock=ctx.clock, secret=ctx.secret)
    return TestClient(create_app(changed, context=other, run_worker=False), raise_server_exceptions=False)


@pytest.fixture
def console(ctx: Context) -> Iterator[TestClient]:
    with _client(ctx) as client:
        yield client


def sign_in(client: TestClient, token: str = ADMIN_TOKEN) -> str:
    """Sign in through the form; the CSRF token of the new session."""
    form = client.get("/console/login")
    assert form.status_code == 200
    r = client.post("/console/login", data={"csrf": csrf_of(form.text), "token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console", r.text
    overview = client.get("/console", follow_redirects=False)
    assert overview.status_code == 200
    return csrf_of(overview.text)


def _audit_count(ctx: Context) -> int:
    with ctx.db.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(audit_events)).scalar_one()


def _audit(ctx: Context, action: str) -> list[Any]:
    with ctx.db.read() as conn:
        return conn.execute(sa.select(audit_events).where(audit_events.c.action == action)).all()


def _cookie(client: TestClient) -> str:
    value = client.cookies.get(sessions.COOKIE_NAME)
    assert value
    return value


def _goes_to_sign_in(client: TestClient, path: str = "/console", cookie: str | None = None) -> bool:
    if cookie is not None:
        client.cookies.clear()
        client.cookies.set(sessions.COOKIE_NAME, cookie)
    r = client.get(path, follow_redirects=False)
    return r.status_code == 303 and r.headers["location"] == "/console/login"


# -- the world the actions act on ---------------------------------------------------------------


@pytest.fixture
def world(ctx: Context, customer) -> dict[str, str]:
    """A requested business name, a key and a dead message to act on."""
    name = business_names.request(ctx, customer.account, businessname="Acme Shop", actor=CLI)
    key, _secret = accounts.create_key(ctx, customer.account.id, actor=CLI)
    message = dead_message(ctx, account_id=customer.account.id)
    return {"account": customer.account.id, "name": name.id, "key": key.id, "message": message}


def _posts(world: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    a = world["account"]
    return [
        ("/console/accounts", {"name": "Mallory", "otp_required": "on"}),
        (f"/console/accounts/{a}/otp", {"otp_required": "false", "reason": "vouched for"}),
        (f"/console/accounts/{a}/webhook", {"webhook_url": "https://example.com/hook"}),
        (f"/console/accounts/{a}/keys", {"expires_in_days": "30"}),
        (f"/console/keys/{world['key']}/revoke", {}),
        (f"/console/business-names/{world['name']}/approve", {}),
        (f"/console/business-names/{world['name']}/reject", {"reason": "No"}),
        (f"/console/business-names/{world['name']}/acma", {"acma_status": "submitted", "acma_reference": "R1"}),
        (f"/console/accounts/{a}/registrant", {"abn": "51 824 753 556", "entity_name": "Acme Pty Ltd"}),
        (f"/console/messages/{world['message']}/retry", {}),
        (f"/console/accounts/{a}/optouts", {"number": "0491570157"}),
        (f"/console/accounts/{a}/optouts/remove", {"number": "0491570157"}),
        (f"/console/accounts/{a}/credits", {"credits": "5"}),
        (f"/console/scheduled/{'c' * 24}/cancel", {"account_id": a}),
        ("/console/logout", {}),
    ]


# -- no session, no page ------------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/console", "/console/accounts", "/console/numbers", "/console/numbers?number=0491570156",
    "/console/business-names", "/console/messages", "/console/audit", f"/console/accounts/{'a' * 24}",
    f"/console/accounts/{'a' * 24}/numbers/{'b' * 24}", "/console/business-names/export.csv",
    "/console/scheduled", f"/console/accounts/{'a' * 24}/gateway", f"/console/messages/{'c' * 24}",
    "/console/messages?to=0491570157",
])
def test_no_page_without_a_session(console: TestClient, path: str) -> None:
    assert _goes_to_sign_in(console, path)
    login = console.get("/console/login")
    assert login.status_code == 200 and 'type="password"' in login.text
    # the sign-in form's pre-session opens nothing either
    assert _goes_to_sign_in(console, path)


def test_no_action_without_a_session(console: TestClient, ctx: Context, world: dict[str, str]) -> None:
    before = _audit_count(ctx)
    for path, form in _posts(world):
        r = console.post(path, data={**form, "csrf": "0" * 64}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/console/login", path
    assert _audit_count(ctx) == before
    assert business_names.get(ctx, world["name"]).status == "REQUESTED"


# -- CSRF ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("csrf", [None, "", "0" * 64, "not-hex"], ids=["missing", "empty", "wrong", "junk"])
def test_every_post_needs_the_csrf_token(console: TestClient, ctx: Context, world: dict[str, str],
                                         csrf: str | None) -> None:
    good = sign_in(console)
    before = _audit_count(ctx)
    for path, form in _posts(world):
        data = form if csrf is None else {**form, "csrf": csrf}
        r = console.post(path, data=data, follow_redirects=False)
        assert r.status_code == 403, path
        assert "nothing was changed" in r.text
    # another session's token is wrong too
    with _client(ctx) as other:
        foreign = sign_in(other)
    assert foreign != good
    r = console.post(f"/console/business-names/{world['name']}/approve", data={"csrf": foreign})
    assert r.status_code == 403

    assert _audit_count(ctx) == before
    assert business_names.get(ctx, world["name"]).status == "REQUESTED"
    assert [k.revoked_at for k in accounts.list_keys(ctx, world["account"])] == [None, None]
    assert accounts.get_account(ctx, world["account"]).otp_required is True
    assert outbox.get_message(ctx, world["message"]).status == outbox.DEAD
    assert console.get("/console", follow_redirects=False).status_code == 200  # still signed in


def test_a_json_body_is_not_a_form(console: TestClient, ctx: Context, world: dict[str, str]) -> None:
    csrf = sign_in(console)
    r = console.post(f"/console/business-names/{world['name']}/approve", json={"csrf": csrf})
    assert r.status_code == 403
    assert business_names.get(ctx, world["name"]).status == "REQUESTED"


def test_sign_in_needs_the_forms_csrf_token(console: TestClient) -> None:
    console.get("/console/login")
    r = console.post("/console/login", data={"token": ADMIN_TOKEN}, follow_redirects=False)
    assert r.status_code == 403
    assert _goes_to_sign_in(console)
    fresh = TestClient(console.app)  # no pre-session cookie at all
    r = fresh.post("/console/login", data={"csrf": "0" * 64, "token": ADMIN_TOKEN}, follow_redirects=False)
    assert r.status_code == 403 and "expired" in r.text


# -- the cookie ---------------------------------------------------------------------------------


def test_the_cookie_is_httponly_strict_and_expiring(console: TestClient) -> None:
    form = console.get("/console/login")
    r = console.post("/console/login", data={"csrf": csrf_of(form.text), "token": ADMIN_TOKEN},
                     follow_redirects=False)
    header = r.headers["set-cookie"]
    assert header.startswith(f"{sessions.COOKIE_NAME}=v1.")
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    assert {"httponly", "max-age", "path", "samesite"} <= attributes
    assert "SameSite=strict" in header and "Path=/console" in header and "Max-Age=28800" in header
    assert "secure" not in attributes  # plain http here; see the next test


def test_the_cookie_is_secure_over_https(ctx: Context) -> None:
    with TestClient(create_app(ctx.settings, context=ctx, run_worker=False), base_url="https://testserver") as client:
        form = client.get("/console/login")
        assert "; Secure" in form.headers["set-cookie"]
        r = client.post("/console/login", data={"csrf": csrf_of(form.text), "token": ADMIN_TOKEN},
                        follow_redirects=False)
        assert "; Secure" in r.headers["set-cookie"]


def test_a_cookie_stops_working_when_the_admin_token_changes(ctx: Context, console: TestClient) -> None:
    sign_in(console)
    cookie = _cookie(console)
    with _client(ctx, admin_token="another-admin-token-" + "z" * 30) as rotated:
        assert _goes_to_sign_in(rotated, cookie=cookie)
        assert rotated.post("/console/accounts", data={"name": "x"}, follow_redirects=False).status_code == 303
    with _client(ctx) as same:  # the same token on another process: still signed in
        same.cookies.set(sessions.COOKIE_NAME, cookie)
        assert same.get("/console", follow_redirects=False).status_code == 200


def test_a_cookie_stops_working_when_the_server_secret_changes(ctx: Context, console: TestClient) -> None:
    sign_in(console)
    cookie = _cookie(console)
    other = Context(db=ctx.db, settings=ctx.settings, clock=ctx.clock, secret=b"another-secret-" + b"q" * 30)
    with TestClient(create_app(ctx.settings, context=other, run_worker=False)) as client:
        assert _goes_to_sign_in(client, cookie=cookie)


def _payload(cookie: str) -> dict[str, Any]:
    payload = cookie.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _with_payload(cookie: str, payload: dict[str, Any]) -> str:
    version, _old, signature = cookie.split(".")
    encoded = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{version}.{encoded}.{signature}"


def test_tampered_cookies_are_refused(console: TestClient) -> None:
    form = console.get("/console/login")
    pre = _cookie(console)
    assert _payload(pre)["auth"] is False
    assert _goes_to_sign_in(console, cookie=_with_payload(pre, {**_payload(pre), "auth": True}))
    console.cookies.clear()
    sign_in(console)
    good = _cookie(console)
    payload = _payload(good)
    version, body, signature = good.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    for bad in [
        _with_payload(good, {**payload, "exp": payload["exp"] + 3600}),
        _with_payload(good, {**payload, "sid": "0" * 32}),
        f"{version}.{body}.{flipped}",
        f"{version}.{body}.",
        f"v2.{body}.{signature}",
        f"{body}.{signature}",
        good + "x",
        "x" * 5000,
        "",
    ]:
        assert _goes_to_sign_in(console, cookie=bad), bad
    assert form.status_code == 200
    assert not _goes_to_sign_in(console, cookie=good)


def test_expired_cookies_are_refused(console: TestClient, clock) -> None:
    sign_in(console)
    clock.advance(hours=8, seconds=-1)
    assert not _goes_to_sign_in(console)
    clock.advance(seconds=1)
    assert _goes_to_sign_in(console)


def test_sign_out_ends_the_session(console: TestClient) -> None:
    csrf = sign_in(console)
    cookie = _cookie(console)
    r = console.post("/console/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
    assert 'Max-Age=0' in r.headers["set-cookie"] or "expires=" in r.headers["set-cookie"].lower()
    assert _goes_to_sign_in(console)
    assert _goes_to_sign_in(console, cookie=cookie)  # a copy of the cookie is dead too
    assert "You are signed out" in console.get("/console/login?done=signed-out").text


# -- signing in ---------------------------------------------------------------------------------


def test_a_wrong_token_answers_the_form_with_an_error(console: TestClient) -> None:
    form = console.get("/console/login")
    for wrong in ["", "nope", ADMIN_TOKEN[:-1], ADMIN_TOKEN + "x", f"Bearer {ADMIN_TOKEN}"]:
        r = console.post("/console/login", data={"csrf": csrf_of(form.text), "token": wrong},
                         follow_redirects=False)
        assert r.status_code == 401
        assert "That is not the admin token" in r.text and 'type="password"' in r.text
    assert _goes_to_sign_in(console)


def test_sign_in_failures_are_throttled_per_address(console: TestClient) -> None:
    form = console.get("/console/login")
    csrf = csrf_of(form.text)
    for _ in range(10):
        assert console.post("/console/login", data={"csrf": csrf, "token": "wrong"}).status_code == 401
    r = console.post("/console/login", data={"csrf": csrf, "token": ADMIN_TOKEN}, follow_redirects=False)
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 600
    assert "Too many failed sign-ins" in r.text
    assert _goes_to_sign_in(console)


@pytest.mark.unit
def test_the_throttle_forgets_after_its_window() -> None:
    throttle = sessions.SignInThrottle(max_failures=3, window_seconds=60)
    for t in (0, 1, 2):
        assert throttle.retry_after("1.2.3.4", now=t) == 0
        throttle.failed("1.2.3.4", now=t)
    assert throttle.retry_after("1.2.3.4", now=3) == 58
    assert throttle.retry_after("5.6.7.8", now=3) == 0
    assert throttle.retry_after("1.2.3.4", now=61) == 0
    throttle.failed("1.2.3.4", now=61)
    throttle.succeeded("1.2.3.4")
    assert throttle.retry_after("1.2.3.4", now=62) == 0


@pytest.mark.unit
def test_the_throttle_stays_small() -> None:
    throttle = sessions.SignInThrottle(max_failures=3, window_seconds=60, max_clients=100)
    for i in range(1000):
        throttle.failed(f"10.0.{i // 256}.{i % 256}", now=i / 1000)
    assert len(throttle._failures) <= 100


@pytest.mark.unit
def test_session_cookies_round_trip() -> None:
    key = sessions.derive_key(b"s" * 40, "t" * 40)
    cookie, issued = sessions.issue(key, now=1000, authenticated=True)
    read = sessions.read(key, cookie, now=1000 + sessions.SESSION_SECONDS - 1)
    assert read == issued and read.authenticated
    assert sessions.read(key, cookie, now=1000 + sessions.SESSION_SECONDS) is None
    assert sessions.read(sessions.derive_key(b"s" * 40, "u" * 40), cookie, now=1000) is None
    assert sessions.csrf_ok(issued, issued.csrf)
    assert not sessions.csrf_ok(issued, None) and not sessions.csrf_ok(issued, issued.csrf[:-1])
    _other_cookie, other = sessions.issue(key, now=1000, authenticated=True)
    assert other.sid != issued.sid and other.csrf != issued.csrf


# -- off without a token ------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/console"), ("GET", "/console/login"), ("POST", "/console/login"), ("GET", "/console/accounts"),
    ("POST", "/console/logout"), ("GET", "/console/audit"),
])
def test_the_console_is_off_without_an_admin_token(ctx: Context, method: str, path: str) -> None:
    with _client(ctx, admin_token=None) as off:
        r = off.request(method, path, data={"token": ADMIN_TOKEN}, follow_redirects=False)
        assert r.status_code == 404
    with TestClient(off.app, client=LOOPBACK) as local:
        assert local.get("/dev/inbox").status_code == 200  # the developer inbox does not need it


# -- escaping -----------------------------------------------------------------------------------


def test_every_page_escapes_what_it_shows(console: TestClient, ctx: Context, app_client: TestClient) -> None:
    evil = accounts.create_account(ctx, XSS, otp_required=False, actor=CLI)
    _record, key = accounts.create_key(ctx, evil.id, actor=CLI)
    headers = {"Authorization": f"Bearer {key}"}
    r = app_client.post("/api/v1/customNumber/add", json={"name": XSS, "number": NUMBER}, headers=headers)
    assert r.status_code == 200, r.text
    request = app_client.post("/api/v1/business/add", json={"businessname": "Evil Co"}, headers=headers)
    name_id = request.json()["data"]["_id"]
    business_names.reject(ctx, name_id, reason=XSS, actor=CLI)
    again = app_client.post("/api/v1/business/add", json={"businessname": "Evil Co"}, headers=headers)
    assert again.status_code == 200
    sent = app_client.post("/api/v1/gateway", json={"message": f"{XSS} 123456", "contacts": [NUMBER]},
                           headers=headers)
    assert sent.status_code == 200, sent.text
    [sent_id] = [m["MessageId"] for m in sent.json()["data"]["queueResponse"]]
    deliver_all(ctx)
    registration_id = app_client.get("/api/v1/customNumber/list", headers=headers).json()["data"]["items"][0]["_id"]
    dead_message(ctx, account_id=evil.id, sender="Evil")

    sign_in(console)
    pages = [
        "/console", "/console/accounts", f"/console/accounts/{evil.id}",
        f"/console/numbers?number={NUMBER}", f"/console/numbers?account_id={evil.id}",
        f"/console/accounts/{evil.id}/numbers/{registration_id}",
        "/console/business-names", "/console/business-names?status=REJECTED",
        f"/console/business-names?status=&account_id={evil.id}",
        f"/console/messages?account_id={evil.id}", "/console/audit", f"/console/audit?account_id={evil.id}",
        "/console/audit?action=%3Cscript%3Ealert(1)%3C/script%3E", "/console/numbers?number=%3Cscript%3E",
        f"/console/messages/{sent_id}", "/console/messages?custom_string=%3Cscript%3E",
        "/console/messages?to=%3Cscript%3Ealert(1)%3C/script%3E",
    ]
    shown = 0
    for path in pages:
        r = console.get(path)
        assert r.status_code in (200, 400), (path, r.status_code)
        assert "<script>alert" not in r.text, path
        shown += "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
        assert r.headers["content-security-policy"].startswith("default-src 'none'; script-src 'self'")
    assert shown >= 10
    inbox = TestClient(app_client.app, client=LOOPBACK).get("/dev/inbox")  # it answers only loopback
    assert "<script>alert" not in inbox.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in inbox.text


# -- actions are the domain's -------------------------------------------------------------------


def test_console_actions_are_audited_as_the_console(console: TestClient, ctx: Context, world: dict[str, str]) -> None:
    csrf = sign_in(console)
    r = console.post(f"/console/business-names/{world['name']}/approve", data={"csrf": csrf},
                     follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/business-names?done=approved"
    r = console.post(f"/console/keys/{world['key']}/revoke", data={"csrf": csrf})
    assert r.status_code == 200 and "Key revoked" in r.text
    r = console.post(f"/console/messages/{world['message']}/retry", data={"csrf": csrf})
    assert r.status_code == 200 and "queued again" in r.text
    for action in ("business_name.approved", "key.revoked", "outbox.retried"):
        [event] = _audit(ctx, action)
        assert (event.actor, event.ip) == ("console", "testclient"), action
    assert business_names.get(ctx, world["name"]).status == "APPROVED"
    assert outbox.get_message(ctx, world["message"]).status == outbox.QUEUED


def test_refusals_are_pages_that_change_nothing(console: TestClient, ctx: Context, world: dict[str, str]) -> None:
    csrf = sign_in(console)
    before = _audit_count(ctx)
    r = console.post(f"/console/business-names/{world['name']}/reject", data={"csrf": csrf, "reason": "  "})
    assert r.status_code == 400 and "needs a reason" in r.text
    r = console.post("/console/accounts", data={"csrf": csrf, "name": " "})
    assert r.status_code == 400 and "account name" in r.text
    r = console.post(f"/console/accounts/{world['account']}/keys", data={"csrf": csrf, "expires_in_days": "-1"})
    assert r.status_code == 400
    r = console.post(f"/console/accounts/{world['account']}/webhook", data={"csrf": csrf, "webhook_url": "ftp://x"})
    assert r.status_code == 400
    r = console.post(f"/console/keys/{'0' * 24}/revoke", data={"csrf": csrf})
    assert r.status_code == 404 and "No such key" in r.text
    r = console.post("/console/accounts", data={"csrf": csrf, "name": "a\x00b"})
    assert r.status_code == 400
    assert _audit_count(ctx) == before
    console.post(f"/console/business-names/{world['name']}/approve", data={"csrf": csrf})
    r = console.post(f"/console/business-names/{world['name']}/approve", data={"csrf": csrf})
    assert r.status_code == 409 and "this one is APPROVED" in r.text


# -- every control has a label ------------------------------------------------------------------


class _Controls(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.labelled: set[str] = set()
        self.buttons: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("input", "select", "textarea") and found.get("type") != "hidden":
            self.controls.append(found)
        elif tag == "label" and found.get("for"):
            self.labelled.add(found["for"] or "")
        elif tag == "button":
            self.buttons.append(found)


def test_every_control_has_a_label(
    console: TestClient, ctx: Context, world: dict[str, str], app_client: TestClient
) -> None:
    sign_in(console)
    pages = [
        "/console", "/console/accounts", f"/console/accounts/{world['account']}", "/console/numbers",
        "/console/business-names", "/console/messages?status=dead", "/console/audit",
        f"/console/messages/{world['message']}",
    ]
    business_names.request(ctx, accounts.get_account(ctx, world["account"]), businessname="Acme Two", actor=CLI)
    for path in pages:
        parsed = _Controls()
        parsed.feed(console.get(path).text)
        for control in parsed.controls:
            assert control.get("id") in parsed.labelled, (path, control)
        assert all(b.get("type") in ("submit", "button") for b in parsed.buttons), path
    for path in ("/console/login", "/dev/inbox"):
        parsed = _Controls()
        parsed.feed(TestClient(app_client.app, client=LOOPBACK).get(path).text)
        assert all(c.get("id") in parsed.labelled for c in parsed.controls), path
