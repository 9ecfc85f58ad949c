"""Running a route's work: authentication, the Idempotency-Key, one worker-thread hop.

A request costs at most one hand-off to a worker thread: the caller is looked up in
memory on the event loop (a key seen recently and not revoked since), and when it
is not there, the database lookup runs in the same thread call as the route's work.
A POST's Idempotency-Key is claimed and its answer stored in the work's own
transaction (:func:`senderid.domain.idempotency.run`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from senderid.api import envelope
from senderid.api.auth import authenticate, cached_caller
from senderid.api.body import parse_object
from senderid.domain import idempotency
from senderid.domain.senders import MISS, Miss
from senderid.domain.types import Caller
from senderid.edge import context as context  # the routes take it from here
from senderid.errors import IdempotencyKeyInvalid

REPLAYED_HEADER = "Idempotent-Replayed"
STORED_HEADERS = ("content-type", "retry-after")

T = TypeVar("T")


def caller(request: Request) -> Caller:
    """The authenticated caller (a FastAPI dependency: it runs in a worker thread)."""
    return authenticate(context(request), request)


async def as_caller(
    request: Request,
    work: Callable[[Caller], T],
    *,
    from_memory: Callable[[Caller], T | Miss] | None = None,
) -> T:
    """Authenticate the request and run ``work(caller)``: one worker-thread call at most.

    When the caller is in memory and ``from_memory(caller)`` can answer without the
    database (it returns :data:`MISS` when it cannot), no thread is used at all.
    """
    ctx = context(request)
    who = cached_caller(ctx, request)
    if who is not None and from_memory is not None:
        answer = from_memory(who)
        if answer is not MISS:
            return answer  # type: ignore[return-value]  # MISS, the only other value, is ruled out above
    return await run_in_threadpool(lambda: work(who or authenticate(ctx, request)))


async def posted(request: Request, work: Callable[[Caller, dict[str, Any]], Response]) -> Response:
    """A JSON POST: ``work(caller, body)`` in one worker-thread call, honouring Idempotency-Key.

    Order of answers: 401 (a stored answer is never a 401), then a bad Idempotency-Key
    (400), then the route's own; with a key, the route's 2xx and 4xx (but 429) answers
    are stored with it and replayed byte for byte, with ``Idempotent-Replayed: true``.
    """
    ctx = context(request)
    who = cached_caller(ctx, request)
    values = request.headers.getlist(idempotency.HEADER)
    raw = await request.body()
    content_type = request.headers.get("content-type")

    def act(caller: Caller) -> Response:
        return work(caller, parse_object(content_type, raw))

    if not values:
        return await run_in_threadpool(lambda: act(who or authenticate(ctx, request)))

    def once() -> idempotency.Fresh[Response] | idempotency.StoredResponse:
        caller = who or authenticate(ctx, request)
        if len(values) > 1:
            raise IdempotencyKeyInvalid(f"Send one {idempotency.HEADER} header, not {len(values)}")
        keyed = idempotency.Keyed(
            caller.account.id,
            idempotency.check_key(values[0]),
            idempotency.request_hash(request.method, request.url.path, raw),
        )
        return idempotency.run(ctx, keyed, lambda: act(caller), _describe, envelope.from_error)

    outcome = await run_in_threadpool(once)
    if isinstance(outcome, idempotency.Fresh):
        return outcome.response
    return replay(outcome)


def _describe(response: Response) -> idempotency.StoredResponse:
    body = getattr(response, "body", None)
    if not isinstance(body, bytes):  # a streamed answer cannot be replayed: not stored
        return idempotency.StoredResponse(0, b"", {})
    return idempotency.StoredResponse(
        response.status_code,
        bytes(body),
        {name: response.headers[name] for name in STORED_HEADERS if name in response.headers},
    )


def replay(stored: idempotency.StoredResponse) -> Response:
    return Response(
        content=stored.body,
        status_code=stored.status_code,
        headers={**stored.headers, REPLAYED_HEADER: "true"},
    )
