"""List, get, delete and resend custom numbers; ended registrations stay readable."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support.helpers import latest_code

ADD = "/api/v1/customNumber/add"
VERIFY = "/api/v1/customNumber/verifyCustomNumber"
LIST = "/api/v1/customNumber/list"


def _add(client: TestClient, customer, number: str, name: str = "n") -> None:
    r = client.post(ADD, json={"name": name, "number": number}, headers=customer.headers)
    assert r.status_code == 200, r.text


def _items(client: TestClient, customer, **params) -> list[dict]:
    r = client.get(LIST, params=params, headers=customer.headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]["items"]


def test_statuses_stay_readable(app_client: TestClient, customer, make_customer, ctx, clock) -> None:
    rival = make_customer("Rival")
    _add(app_client, customer, "+61491570156")
    _add(app_client, rival, "+61491570156")
    code = latest_code(ctx, "+61491570156")  # the rival's code is the newest
    assert (
        app_client.post(
            VERIFY, json={"name": "r", "number": "+61491570156", "otp": code}, headers=rival.headers
        ).status_code
        == 200
    )
    _add(app_client, customer, "+61491570157")
    clock.advance(seconds=601)  # that code expires
    _add(app_client, customer, "+61491570158")

    statuses = {i["number"]: i["status"] for i in _items(app_client, customer)}
    assert statuses == {"+61491570156": "cancelled", "+61491570157": "expired", "+61491570158": "pending"}
    assert {i["status"] for i in _items(app_client, rival)} == {"active"}
    assert [i["number"] for i in _items(app_client, customer, status="expired")] == ["+61491570157"]
    assert [i["number"] for i in _items(app_client, customer, status="pending")] == ["+61491570158"]

    cancelled = _items(app_client, customer, status="cancelled")[0]
    r = app_client.get(f"/api/v1/customNumber/{cancelled['_id']}", headers=customer.headers)
    assert r.status_code == 200 and r.json()["data"]["status"] == "cancelled"
    assert r.json()["data"]["endedAt"].endswith("Z")
    assert app_client.get(f"/api/v1/customNumber/{cancelled['_id']}", headers=rival.headers).status_code == 404
    assert app_client.get(LIST, params={"status": "bogus"}, headers=customer.headers).status_code == 400


def test_pagination_is_stable(app_client: TestClient, no_otp_customer, clock) -> None:
    for i in range(7):
        _add(app_client, no_otp_customer, f"+6149157016{i}")
        if i % 2:
            clock.advance(seconds=1)  # some share a creation time: the id breaks the tie
    pages = [_items(app_client, no_otp_customer, limit=3, offset=o) for o in (0, 3, 6)]
    numbers = [i["number"] for page in pages for i in page]
    assert sorted(numbers) == sorted(f"+6149157016{i}" for i in range(7))
    assert len(numbers) == len(set(numbers)) == 7
    assert app_client.get(LIST, params={"limit": 3}, headers=no_otp_customer.headers).json()["data"]["total"] == 7
    assert app_client.get(LIST, params={"limit": 0}, headers=no_otp_customer.headers).status_code == 400


def test_delete_frees_the_number(app_client: TestClient, no_otp_customer, make_customer) -> None:
    other = make_customer("Other", otp_required=False)
    _add(app_client, no_otp_customer, "+61491570156")
    assert (
        app_client.post(ADD, json={"name": "x", "number": "+61491570156"}, headers=other.headers).json()["status"]
        is True
    )  # sic: "already exist"
    registration = _items(app_client, no_otp_customer)[0]
    r = app_client.delete(f"/api/v1/customNumber/{registration['_id']}", headers=no_otp_customer.headers)
    assert r.status_code == 200 and r.json()["data"]["status"] == "deleted"
    again = app_client.delete(f"/api/v1/customNumber/{registration['_id']}", headers=no_otp_customer.headers)
    assert again.status_code == 200 and again.json()["data"]["status"] == "deleted"
    r = app_client.post(ADD, json={"name": "x", "number": "0491 570 156"}, headers=other.headers)
    assert r.json()["message"] == "Custom number created"
    assert _items(app_client, no_otp_customer)[0]["status"] == "deleted"
    assert app_client.delete("/api/v1/customNumber/" + "0" * 24, headers=no_otp_customer.headers).status_code == 404


def test_resend(app_client: TestClient, customer, ctx, clock) -> None:
    _add(app_client, customer, "+61491570156")
    first = latest_code(ctx, "+61491570156")
    registration = _items(app_client, customer)[0]
    url = f"/api/v1/customNumber/{registration['_id']}/resend"
    r = app_client.post(url, headers=customer.headers)
    assert r.status_code == 429 and int(r.headers["retry-after"]) == 60
    clock.advance(seconds=61)
    r = app_client.post(url, headers=customer.headers)
    assert r.status_code == 200 and r.json()["message"] == "OTP sent to your number successfully"
    second = latest_code(ctx, "+61491570156")
    if second != first:  # the old code stopped working
        bad = app_client.post(
            VERIFY, json={"name": "n", "number": "+61491570156", "otp": first}, headers=customer.headers
        )
        assert bad.status_code == 400
    ok = app_client.post(VERIFY, json={"name": "n", "number": "+61491570156", "otp": second}, headers=customer.headers)
    assert ok.status_code == 200
    r = app_client.post(url, headers=customer.headers)
    assert r.status_code == 409 and "pending" in r.json()["message"]


def test_add_path_is_not_an_id(app_client: TestClient, customer) -> None:
    assert app_client.get(ADD, headers=customer.headers).status_code == 405
    assert app_client.get("/api/v1/customNumber/xyz", headers=customer.headers).status_code == 404
