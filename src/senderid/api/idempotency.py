"""``Idempotency-Key`` on POST routes: the HTTP half of :mod:`senderid.domain.idempotency`.

A POST route opts in with one line, ``@idempotent`` under its route decorator::

    @router.post("/add")
    @idempotent
    async def add(request: Request, who: Caller = Depends(caller)) -> Response:
        ...

The route needs a ``Request`` and a ``Caller`` parameter (keys are per account, so
the caller is authenticated first: a 401 is never stored) and must return a
``Response`` (every route here does: ``envelope.ok(...)``). Domain errors it raises
are rendered here, exactly as the app's handler renders them, so that a documented
4xx is replayed like a 2xx. A route that needs finer control can call
:func:`run_idempotent` itself with a zero-argument coroutine function.

Without the header nothing changes. With it:

* a key that is not 1-255 visible ASCII characters -> 400;
* first use -> the route runs; a 2xx or 4xx answer (except 429) is stored with
  ``Content-Type`` and ``Retry-After``;
* same key, same method, path and body -> the stored answer, byte for byte, plus
  ``Idempotent-Replayed: true``; the route does not run again;
* same key, anything else different -> 409;
* same key while the first is still running -> waits for it (up to 10 s), then
  replays it, or 409 "still in progress" with ``Retry-After: 1``.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from senderid.api import envelope
from senderid.api.deps import context
from senderid.domain import idempotency
from senderid.domain.context import Context
from senderid.domain.types import Caller
from senderid.errors import SenderIdError

log = logging.getLogger("senderid.api")

REPLAYED_HEADER = "Idempotent-Replayed"
STORED_HEADERS = ("content-type", "retry-after")

Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Any]])


def idempotent(endpoint: Endpoint) -> Endpoint:
    """Decorate an ``async`` POST route so that it honours ``Idempotency-Key``."""
    if not inspect.iscoroutinefunction(endpoint):
        raise TypeError(f"@idempotent needs an async route; {endpoint.__qualname__} is not")
    parameters = inspect.signature(endpoint, eval_str=True).parameters
    request_name = next((n for n, p in parameters.items() if p.annotation is Request), None)
    caller_name = next((n for n, p in parameters.items() if p.annotation is Caller), None)
    if request_name is None or caller_name is None:
        raise TypeError(
            f"@idempotent needs a `Request` and a `Caller` parameter; {endpoint.__qualname__} lacks one"
        )

    @functools.wraps(endpoint)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        return await run_idempotent(
            kwargs[request_name], kwargs[caller_name], lambda: endpoint(*args, **kwargs)
        )

    return wrapper  # type: ignore[return-value]


async def run_idempotent(
    request: Request, caller: Caller, handler: Callable[[], Awaitable[Response]]
) -> Response:
    """Run ``handler`` at most once per ``Idempotency-Key`` (when the request carries one)."""
    values = request.headers.getlist(idempotency.HEADER)
    if not values:
        return await handler()
    if len(values) > 1:
        raise idempotency.InvalidKey(f"Send one {idempotency.HEADER} header, not {len(values)}")
    key = idempotency.check_key(values[0])
    body = await request.body()  # cached on the request: the route reads it again for free
    req_hash = idempotency.request_hash(request.method, request.url.path, body)
    ctx = context(request)

    outcome = await _begin(ctx, caller.account.id, key, req_hash)
    if isinstance(outcome, idempotency.StoredResponse):
        return _replay(outcome)
    claim = outcome

    try:
        try:
            response = await handler()
        except SenderIdError as exc:
            response = envelope.from_error(exc)  # what the app's handler would answer
    except BaseException:
        # A crash (500) or a cancelled request: nothing final was said, so a retry may act.
        with anyio.CancelScope(shield=True):
            await _quietly(run_in_threadpool, idempotency.abandon, ctx, claim)
        raise

    if not isinstance(response, Response) or not isinstance(getattr(response, "body", None), bytes):
        log.warning("idempotent route returned something that cannot be replayed",
                    extra={"path": request.url.path})
        await _quietly(run_in_threadpool, idempotency.abandon, ctx, claim)
        return response
    stored = idempotency.StoredResponse(
        response.status_code,
        bytes(response.body),
        {name: response.headers[name] for name in STORED_HEADERS if name in response.headers},
    )
    # If this fails the caller still gets its answer; the key is freed once it looks abandoned.
    await _quietly(run_in_threadpool, idempotency.complete, ctx, claim, stored)
    return response


async def _begin(ctx: Context, account_id: str, key: str, req_hash: str) -> (
    idempotency.Claim | idempotency.StoredResponse
):
    """:func:`idempotency.begin`, but waiting in the event loop: a repeat that waits for the
    first request holds no worker thread, so many of them cannot starve the first one."""
    outcome = await run_in_threadpool(idempotency.try_begin, ctx, account_id, key, req_hash)
    if outcome is not None:
        return outcome
    for pause in idempotency.pauses():
        await anyio.sleep(pause)
        outcome = await run_in_threadpool(idempotency.try_begin, ctx, account_id, key, req_hash, peek=True)
        if outcome is not None:
            return outcome
    raise idempotency.StillInProgress()


def _replay(stored: idempotency.StoredResponse) -> Response:
    return Response(
        content=stored.body,
        status_code=stored.status_code,
        headers={**stored.headers, REPLAYED_HEADER: "true"},
    )


async def _quietly(call: Callable[..., Awaitable[Any]], *args: Any) -> None:
    try:
        await call(*args)
    except Exception:
        log.exception("could not record an idempotency key's outcome")
