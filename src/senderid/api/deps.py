"""FastAPI dependencies shared by the routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from senderid.api.auth import authenticate
from senderid.domain.accounts import Caller
from senderid.domain.context import Context


def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def caller(request: Request) -> Caller:
    """The authenticated caller (FastAPI runs this in a worker thread: it reads the database)."""
    return authenticate(context(request), request)


T = TypeVar("T")


async def as_caller(request: Request, work: Callable[[Caller], T]) -> T:
    """Authenticate the request and run ``work(caller)`` in one worker-thread call.

    For the read-only hot paths (token/verify, senderId/check): a dependency plus a
    sync endpoint would cost two thread hand-offs per request instead of one.
    """
    ctx = context(request)
    return await run_in_threadpool(lambda: work(authenticate(ctx, request)))
