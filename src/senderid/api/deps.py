"""FastAPI dependencies shared by the routes."""

from __future__ import annotations

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
