"""GET /api/v1/user/token/verify."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from senderid.api import envelope
from senderid.api.auth import bearer_key
from senderid.api.deps import as_caller

router = APIRouter(prefix="/api/v1/user", tags=["token"])

VERIFIED = "Token verified successfully!"


@router.get("/token/verify")
async def verify_token(request: Request) -> Response:
    await as_caller(request, lambda who: who, from_memory=lambda who: who, short=True)
    return envelope.ok(VERIFIED, {"token": bearer_key(request)})
