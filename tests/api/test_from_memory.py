"""Answers from memory before the framework (senderid.api.from_memory): token/verify and
senderId/check answer exactly as their routes do (status, body and headers), and only when
memory settles the request; anything else goes to the route."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from senderid.api.app import create_app
from tests.api.test_query_budget import settle
from tests.api.test_sender_check_scale import fill

CHECK = "/api/v1/senderId/check"
TOKEN = "/api/v1/user/token/verify"
REQUEST_ID = {"X-Request-ID": "same-for-both"}

SENDERS = [
    "+61400000001", "0400 000 002", "+61400000009",  # active, active, never registered
    "+61490000001",  # deleted
    "Brand1", "brand2", "Pending1", "Nobody",  # approved, approved (any case), requested, unknown
    "#SharedNum#", "", " +61400000001 ",
    "x" * 33, "a\x1bb", "+61 4",  # too long, a control character, not a number
]


@pytest.fixture
def clients(ctx) -> Iterator[tuple[TestClient, TestClient]]:
    """The app as it serves (memory answers on), and the same app with every request taking its
    route, on one context: one memory for both."""
    served = create_app(ctx.settings, context=ctx, run_worker=False)
    routed = create_app(ctx.settings, context=ctx, run_worker=False, answer_from_memory=False)
    # One lifespan for the context (its change listener is what lets memory be trusted).
    with TestClient(served, raise_server_exceptions=False) as a:
        yield a, TestClient(routed, raise_server_exceptions=False)


def _same(served: TestClient, routed: TestClient, url: str, headers: dict[str, str]) -> int:
    """Ask the routed app twice (the second from memory where it can), then the served one;
    their answers must be the same to the byte."""
    routed.get(url, headers={**headers, **REQUEST_ID})
    expected = routed.get(url, headers={**headers, **REQUEST_ID})
    got = served.get(url, headers={**headers, **REQUEST_ID})
    assert (got.status_code, got.content) == (expected.status_code, expected.content), url
    assert got.headers.items() == expected.headers.items(), url
    return got.status_code


def test_the_answers_are_the_routes_to_the_byte(clients, customer, ctx) -> None:
    served, routed = clients
    fill(ctx, customer.account.id, 3)
    settle(ctx)  # the fill's change signal heard: it empties no answer kept from here on
    key = {"Authorization": f"Bearer {customer.key}"}
    statuses = set()
    for sender in SENDERS:
        statuses.add(_same(served, routed, f"{CHECK}?sender={quote(sender)}", key))
    statuses.add(_same(served, routed, CHECK, key))  # no sender at all
    statuses.add(_same(served, routed, f"{CHECK}?sender=Nobody&sender=Brand1", key))  # the last one counts
    statuses.add(_same(served, routed, f"{CHECK}?sender=Brand1&other=1", key))
    for headers in (key, {"Authorization": f"  bearer   {customer.key} "}, {},
                    {"Authorization": f"Bearer {customer.key}x"}, {"Authorization": "Basic abc"}):
        statuses.add(_same(served, routed, TOKEN, headers))
        statuses.add(_same(served, routed, f"{CHECK}?sender=Brand1", headers))
    assert statuses == {200, 400, 401}  # answers, and refusals, were compared


async def _teapot(request: Request) -> Response:
    return Response(status_code=418)


def test_only_what_memory_settles_is_answered_before_the_router(clients, customer, make_customer, ctx) -> None:
    """With a route put first in the served app's router for each path, answering 418, what
    memory holds is still answered (by Edge, before the router), and everything else reaches
    the router: a 418."""
    served, routed = clients
    fill(ctx, customer.account.id, 3)
    other = make_customer("Other")
    settle(ctx)
    key = {"Authorization": f"Bearer {customer.key}"}
    other_key = {"Authorization": f"Bearer {other.key}"}
    for url in (TOKEN, f"{CHECK}?sender=Brand1", f"{CHECK}?sender=Nobody"):
        assert routed.get(url, headers=key).status_code == 200  # now in memory, "may not" included
    assert routed.get(TOKEN, headers=other_key).status_code == 200  # the other's key, not its senders
    for path in (CHECK, TOKEN):
        served.app.router.routes.insert(0, Route(path, _teapot))  # type: ignore[attr-defined]
    assert served.get(TOKEN, headers=key).json()["data"] == {"token": customer.key}
    assert served.get(f"{CHECK}?sender=Brand1", headers=key).json()["data"]["allowed"] is True
    assert served.get(f"{CHECK}?sender=Nobody", headers=key).json()["data"]["allowed"] is False
    # Not settled by memory: senders memory does not hold yet, an unknown key, a refused sender,
    # another method.
    assert served.get(TOKEN, headers=other_key).status_code == 200
    assert served.get(f"{CHECK}?sender=Brand1", headers=other_key).status_code == 418
    assert served.get(TOKEN, headers={"Authorization": f"Bearer {customer.key}x"}).status_code == 418
    assert served.get(f"{CHECK}?sender={'x' * 33}", headers=key).status_code == 418
    assert served.head(TOKEN, headers=key).status_code == 418
