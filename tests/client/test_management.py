"""The management calls (list/get/delete/resend custom numbers; list/get/withdraw business
names) against scripted live servers: what goes on the wire, how answers are read
(leniently), and which of them are retried. ``tests/client/test_client_live.py`` runs the same
calls against the real server."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from senderid.client import (
    BusinessNamePage,
    BusinessNameRequest,
    CustomNumber,
    CustomNumberPage,
    NotFoundError,
    OptOut,
    OptOutPage,
    Page,
    ServerError,
)

from . import _wire
from ._server import LiveServer, Reply, script
from .conftest import Twin

Serve = Callable[..., LiveServer]
MakeTwin = Callable[..., Twin]

ID = "65f1c0ffee0123456789abcd"
UNAVAILABLE = Reply(503, _wire.failure("Service unavailable"))

REGISTRATION = {
    "_id": ID,
    "name": "Support line",
    "number": "+61491570156",
    "status": "pending",
    "otpExpiresAt": "2026-01-01T00:10:00.000Z",
    "createdAt": "2026-01-01T00:00:00.000Z",
    "updatedAt": "2026-01-01T00:00:00.000Z",
    "verifiedAt": None,
    "endedAt": None,
}
REJECTED = {
    "isDeleted": False,
    "isDefault": False,
    "_id": ID,
    "businessname": "Acme Co",
    "customerContact": "+61491570158",
    "user": "65f1c0ffee0123456789abce",
    "requestedAt": "2026-01-01T00:00:00.000Z",
    "status": "REJECTED",
    "createdBy": "65f1c0ffee0123456789abce",
    "createdAt": "2026-01-01T00:00:00.000Z",
    "updatedAt": "2026-01-02T00:00:00.000Z",
    "__v": 0,
    "reason": "Not a registered business name",
}


def ok(message: str, data: Any) -> Reply:
    return Reply(
        200, _wire.envelope(status=True, show_message=0, message=message, data=data, error={})
    )


def page(items: list[dict[str, Any]], total: int, limit: int = 50, offset: int = 0) -> Reply:
    return ok("Page", {"items": items, "total": total, "limit": limit, "offset": offset})


def test_list_custom_numbers_sends_the_query_and_reads_the_page(
    make_twin: MakeTwin, serve: Serve
) -> None:
    server = serve(script(page([REGISTRATION], total=3, limit=1, offset=1)))
    twin = make_twin(base_url=server.url)
    result = twin.call("list_custom_numbers", status="pending", limit=1, offset=1)
    twin.call("list_custom_numbers")
    first, default = server.requests
    assert (first.method, first.path) == ("GET", "/api/v1/customNumber/list")
    assert first.query == {"status": ["pending"], "limit": ["1"], "offset": ["1"]}
    assert default.query == {"limit": ["50"], "offset": ["0"]}  # no status: every status

    assert isinstance(result, CustomNumberPage)
    assert (result.total, result.limit, result.offset, result.next_offset) == (3, 1, 1, 2)
    (number,) = result.items
    assert number == CustomNumber(
        id=ID,
        name="Support line",
        number="+61491570156",
        status="pending",
        otp_expires_at=datetime(2026, 1, 1, 0, 10, tzinfo=UTC),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
        verified_at=None,
        ended_at=None,
        message="Page",
        envelope={},
    )
    assert number.envelope is result.envelope  # an item keeps its page's envelope


def test_get_delete_resend_paths_methods_and_retries(make_twin: MakeTwin, serve: Serve) -> None:
    server = serve(script(ok("Custom number", REGISTRATION)))
    twin = make_twin(base_url=server.url, max_retries=2)
    assert twin.call("get_custom_number", id=ID).number == "+61491570156"
    assert twin.call("resend_otp", id=ID).status == "pending"
    assert twin.call("resend_otp", id=ID, idempotency_key="order-42").id == ID
    calls = [(seen.method, seen.path, seen.json) for seen in server.requests]
    assert calls == [
        ("GET", f"/api/v1/customNumber/{ID}", None),
        ("POST", f"/api/v1/customNumber/{ID}/resend", None),
        ("POST", f"/api/v1/customNumber/{ID}/resend", None),
    ]
    assert uuid.UUID(server.requests[1].headers["idempotency-key"]).version == 4
    assert server.requests[2].headers["idempotency-key"] == "order-42"

    # DELETE is idempotent (RFC 9110): retried after a 503, without an Idempotency-Key
    gone = ok("Custom number deleted", {**REGISTRATION, "status": "deleted"})
    deleting = serve(script(UNAVAILABLE, gone))
    deleted = make_twin(base_url=deleting.url).call("delete_custom_number", id=ID)
    assert deleted.status == "deleted" and deleted.message == "Custom number deleted"
    assert [(s.method, s.path) for s in deleting.requests] == [
        ("DELETE", f"/api/v1/customNumber/{ID}")
    ] * 2
    assert "idempotency-key" not in deleting.requests[0].headers

    # resend without a key is sent once, never retried
    once = serve(script(UNAVAILABLE))
    with pytest.raises(ServerError):
        make_twin(base_url=once.url).call("resend_otp", id=ID, idempotency_key=False)
    assert len(once.requests) == 1


def test_an_id_is_one_path_segment(make_twin: MakeTwin, serve: Serve) -> None:
    server = serve(script(Reply(404, _wire.failure("No custom number with id a/b?c"))))
    with pytest.raises(NotFoundError):
        make_twin(base_url=server.url).call("get_custom_number", id="a/b?c")
    assert server.requests[0].path == "/api/v1/customNumber/a%2Fb%3Fc"
    for bad in ("", "  ", ".", ".."):
        with pytest.raises(ValueError):
            make_twin(base_url=server.url).call("withdraw_business_name", id=bad)
    assert len(server.requests) == 1  # refused before sending


def test_business_names_list_get_withdraw(make_twin: MakeTwin, serve: Serve) -> None:
    withdrawn = {**REJECTED, "status": "WITHDRAWN", "isDeleted": True}
    withdrawn.pop("reason")
    withdrawn.pop("customerContact")
    server = serve(
        script(page([REJECTED], total=1), ok("Business name", REJECTED), ok("Withdrawn", withdrawn))
    )
    twin = make_twin(base_url=server.url)
    listed = twin.call("list_business_names", status="REJECTED")
    got = twin.call("get_business_name", id=ID)
    gone = twin.call("withdraw_business_name", id=ID)
    assert [(s.method, s.path) for s in server.requests] == [
        ("GET", "/api/v1/business/list"),
        ("GET", f"/api/v1/business/{ID}"),
        ("DELETE", f"/api/v1/business/{ID}"),
    ]
    assert server.requests[0].query == {"status": ["REJECTED"], "limit": ["50"], "offset": ["0"]}
    assert isinstance(listed, BusinessNamePage) and listed.next_offset is None
    assert listed.items[0].id == got.id == ID
    assert isinstance(got, BusinessNameRequest)
    assert (got.status, got.reason, got.customer_contact) == (
        "REJECTED",
        "Not a registered business name",
        "+61491570158",
    )
    assert got.updated_at == datetime(2026, 1, 2, tzinfo=UTC)
    assert (gone.status, gone.is_deleted, gone.reason, gone.customer_contact) == (
        "WITHDRAWN",
        True,
        None,
        None,
    )


@pytest.mark.unit
@pytest.mark.parametrize(
    "data",
    [None, 400, "text", [], {}, {"items": "nope", "total": "x"}, {"items": [None, 3, "s"]}],
)
def test_pages_are_read_leniently(data: Any) -> None:
    envelope = {"status": True, "message": "m", "data": data}
    numbers = CustomNumberPage.from_envelope(envelope)
    names = BusinessNamePage.from_envelope(envelope)
    for result in (numbers, names):
        assert (result.total, result.limit, result.offset, result.next_offset) == (0, 0, 0, None)
        assert all(item.id == "" for item in result.items)
    hash(numbers)
    odd = CustomNumber.from_envelope({"data": {"_id": 7, "createdAt": "yesterday", "name": None}})
    assert (odd.id, odd.created_at, odd.name) == ("7", None, "")


@pytest.mark.unit
@pytest.mark.parametrize(
    ("page", "record"),
    [(CustomNumberPage, CustomNumber), (BusinessNamePage, BusinessNameRequest), (OptOutPage, OptOut)],
)
def test_every_list_is_one_generic_page(page: type[Page[Any]], record: type) -> None:
    envelope = {"status": True, "message": "m",
                "data": {"items": [{}, {}], "total": 7, "limit": 2, "offset": 4, "optoutId": "list-1"}}
    result = page.from_envelope(envelope)
    assert isinstance(result, Page) and page.__orig_bases__ == (Page[record],)
    assert [type(item) for item in result.items] == [record, record]
    assert all(item.envelope is envelope for item in result.items)
    assert (result.total, result.limit, result.offset, result.next_offset, result.message) == (7, 2, 4, 6, "m")
    assert result == page.from_envelope({**envelope, "extra": 1}) and hash(result)
    if page is OptOutPage:
        assert result.optout_id == "list-1"
