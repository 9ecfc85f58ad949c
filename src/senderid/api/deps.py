"""Running a route's work: authentication, the Idempotency-Key, one worker-thread hop.

A request costs at most one hand-off to a worker thread: the caller is looked up in
memory on the event loop (a key seen recently and not revoked since), and when it
is not there, the database lookup runs in the same thread call as the route's work.
A POST's Idempotency-Key is claimed and its answer stored in the work's own
transaction (:func:`senderid.domain.idempotency.run`).

On SQLite the hot routes cost no hop at all. Their work is a few indexed statements, and
a worker thread would only contend for the GIL with the event loop while it holds the
file's one write turn: each statement gives the GIL up and waits to get it back, which
made a write cost twice its CPU (docs/architecture.md, "How a write reaches the disk").
So:

* short reads (``as_caller(..., short=True)``: an unknown key, a sender not in memory)
  run on the event loop: a SQLite read in WAL mode never waits for a writer;
* short writes (``posted(..., short=True)``: add, verify, resend, reverify, reclaim) are
  taken one at a time from the event loop. When the write turn is free the loop takes it
  without waiting and runs the work itself
  (:meth:`senderid.store.db.Database.turn_if_free`); when another thread or process
  holds it, the work waits in one worker thread while the loop serves everything else.
  The loop never waits for a lock.

On PostgreSQL, whose statements wait on the network, the work always goes to a worker
thread.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from senderid.api import envelope
from senderid.api.auth import authenticate, cached_caller
from senderid.api.body import parse_object
from senderid.domain import idempotency
from senderid.domain.context import Context
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


async def short_read(ctx: Context, work: Callable[[], T]) -> T:
    """``work()``, reads only: on the event loop on SQLite (it refuses to write there),
    in a worker thread on PostgreSQL."""
    if ctx.db.is_sqlite:
        with ctx.db.reads_only():
            return work()
    return await run_in_threadpool(work)


async def short_write(request: Request, work: Callable[[], T]) -> T:
    """``work()``, one short write transaction: on SQLite taken one at a time from the
    event loop and run there when the write turn is free (see the module); in a worker
    thread on PostgreSQL."""
    db = context(request).db
    if not db.is_sqlite:
        return await run_in_threadpool(work)
    state = request.app.state
    queue = getattr(state, "short_writes", None)
    if queue is None:
        queue = state.short_writes = asyncio.Lock()
    async with queue:
        with db.turn_if_free() as held:
            if held:
                return work()
        return await run_in_threadpool(work)


async def as_caller(
    request: Request,
    work: Callable[[Caller], T],
    *,
    from_memory: Callable[[Caller], T | Miss] | None = None,
    short: bool = False,
) -> T:
    """Authenticate the request and run ``work(caller)``: one worker-thread call at most.

    When the caller is in memory and ``from_memory(caller)`` can answer without the
    database (it returns :data:`MISS` when it cannot), no thread is used at all.
    ``short``: ``work`` only reads, a statement or two (:func:`short_read`).
    """
    ctx = context(request)
    who = cached_caller(ctx, request)
    if who is not None and from_memory is not None:
        answer = from_memory(who)
        if answer is not MISS:
            return answer  # type: ignore[return-value]  # MISS, the only other value, is ruled out above
    if short:
        return await short_read(ctx, lambda: work(who or authenticate(ctx, request)))
    return await run_in_threadpool(lambda: work(who or authenticate(ctx, request)))


async def posted(
    request: Request, work: Callable[[Caller, dict[str, Any]], Response], *, short: bool = False,
) -> Response:
    """A JSON POST: ``work(caller, body)`` in one worker-thread call, honouring Idempotency-Key.
    ``short``: the work is one short write transaction (:func:`short_write`).

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

    run = functools.partial(short_write, request) if short else run_in_threadpool
    if not values:
        return await run(lambda: act(who or authenticate(ctx, request)))

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

    outcome = await run(once)
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
