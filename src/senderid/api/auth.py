"""Bearer key -> caller. One answer for unknown, revoked and expired keys (SPEC §1.2)."""

from __future__ import annotations

import re

from starlette.requests import Request

from senderid import edge
from senderid.api.envelope import TOKEN_EXPIRED, TOKEN_REQUIRED
from senderid.domain import accounts
from senderid.domain.context import Context
from senderid.domain.types import Actor, Caller

_BEARER = re.compile(r"^\s*bearer\s+(\S+)\s*$", re.IGNORECASE)


class AuthError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def bearer_key(request: Request) -> str:
    match = _BEARER.match(request.headers.get("authorization", ""))
    if match is None:
        raise AuthError(TOKEN_REQUIRED)
    return match.group(1)


def authenticate(ctx: Context, request: Request) -> Caller:
    """Runs in a worker thread (it may read the database)."""
    caller = accounts.authenticate(ctx, bearer_key(request))
    if caller is None:
        raise AuthError(TOKEN_EXPIRED)
    request.state.account_id = caller.account.id
    return caller


def cached_caller(ctx: Context, request: Request) -> Caller | None:
    """The caller when its key is in memory (no database work: safe on the event loop);
    None when it must be looked up. A missing or malformed header raises AuthError."""
    caller = accounts.cached_caller(ctx, bearer_key(request))
    if caller is not None:
        request.state.account_id = caller.account.id
    return caller


def actor(request: Request, caller: Caller) -> Actor:
    return edge.actor(request, f"key:{caller.key_id}")
