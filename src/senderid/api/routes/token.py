"""GET /api/v1/user/token/verify."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from senderid.api import envelope, from_memory
from senderid.api.auth import bearer_key
from senderid.api.deps import as_caller

router = APIRouter(prefix="/api/v1/user", tags=["token"])

VERIFIED = "Token verified successfully!"


@router.get("/token/verify")
async def verify_token(request: Request) -> Response:
    await as_caller(request, lambda who: who, from_memory=lambda who: who, short=True)
    return _verified(request)


@from_memory.answers(verify_token)
def verify_token_from_memory(request: Request) -> Response | None:
    """The route's answer when the key is in memory, else None (see api/from_memory.py)."""
    return None if from_memory.caller(request) is None else _verified(request)


def _verified(request: Request) -> Response:
    return envelope.ok(VERIFIED, {"token": bearer_key(request)})
