"""GET /api/v1/user/token/verify."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from senderid.api import envelope
from senderid.api.auth import bearer_key
from senderid.api.deps import caller
from senderid.domain.accounts import Caller

router = APIRouter(prefix="/api/v1/user", tags=["token"])


@router.get("/token/verify")
def verify_token(request: Request, who: Caller = Depends(caller)) -> Response:
    return envelope.ok("Token verified successfully!", {"token": bearer_key(request)})
