"""The ceiling: what the framework alone can do for each benchmarked request.

    python -m benchmarks.ceiling [--host 127.0.0.1] [--port 8081] [--workers 1]

A minimal FastAPI app on the same server stack as ``senderid serve`` (uvicorn,
started with the same options, so the same loop and HTTP parser: uvloop and
httptools when installed) that parses the same requests as senderid (the bearer
header, the JSON body, the ``sender`` query parameter with the same length
limit) and answers the same JSON, rendered by senderid's own envelope module
(orjson), without a database, a threadpool or middleware. ``benchmarks.run``
checks before measuring that both servers answer each benchmarked request with
the same status and the same body.

Which answer ``customNumber/add`` gives (created at once, or OTP sent) depends on
the account in senderid; here the keys listed in ``BENCH_CEILING_OTP_KEYS``
(comma-separated) get "OTP sent", every other key "Custom number created".
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Annotated, Any

import orjson
import uvicorn
from fastapi import Depends, FastAPI, Query
from starlette.requests import Request
from starlette.responses import Response

from senderid.api import envelope

_BEARER = re.compile(r"^\s*bearer\s+(\S+)\s*$", re.IGNORECASE)  # as senderid.api.auth
MAX_SENDER_LENGTH = 32  # as senderid.domain.messages

CREATED = "Custom number created"
CREATED_DATA = {"success": True, "message": "Success create new custom number"}
OTP_SENT = "OTP sent to your number successfully"
VERIFIED = "OTP Verified Successfully!"


class Unauthorized(Exception):
    pass


async def bearer(request: Request) -> str:
    match = _BEARER.match(request.headers.get("authorization", ""))
    if match is None:
        raise Unauthorized()
    return match.group(1)


async def json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    value = orjson.loads(raw) if raw.strip() else {}
    if not isinstance(value, dict):
        raise ValueError("the body must be a JSON object")
    return value


def create_app(otp_keys: frozenset[str] = frozenset()) -> FastAPI:
    app = FastAPI(title="senderid ceiling")

    @app.exception_handler(Unauthorized)
    async def unauthorized(request: Request, exc: Unauthorized) -> Response:
        return envelope.unauthorized(envelope.TOKEN_REQUIRED)

    @app.get("/healthz")
    async def healthz() -> Response:
        return envelope.ok("OK")

    @app.get("/api/v1/user/token/verify")
    async def verify_token(key: str = Depends(bearer)) -> Response:
        return envelope.ok("Token verified successfully!", {"token": key})

    @app.post("/api/v1/customNumber/add")
    async def add(request: Request, key: str = Depends(bearer)) -> Response:
        body = await json_object(request)
        if not body.get("name") or not body.get("number"):
            return envelope.failure("name and number are required", 400)
        if key in otp_keys:
            return envelope.ok(OTP_SENT, {"success": True, "message": OTP_SENT}, show_message=1)
        return envelope.ok(CREATED, CREATED_DATA, show_message=1)

    @app.post("/api/v1/customNumber/verifyCustomNumber")
    async def verify(request: Request, key: str = Depends(bearer)) -> Response:
        body = await json_object(request)
        if not body.get("name") or not body.get("number") or not body.get("otp"):
            return envelope.failure("OTP verification failed", 400)
        return envelope.ok(VERIFIED)

    @app.get("/api/v1/senderId/check")
    async def check(
        sender: Annotated[str, Query(max_length=MAX_SENDER_LENGTH)] = "",
        key: str = Depends(bearer),
    ) -> Response:
        # senderid answers in E.164; the benchmark asks with a national AU number (0...).
        send_as = "+61" + sender[1:] if sender.startswith("0") else sender
        data = {"sender": sender, "allowed": True, "type": "custom_number", "sendAs": send_as}
        return envelope.ok("Sender allowed", data)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the port (as serve --workers)")
    args = parser.parse_args()
    # The same call as senderid.cli.serve.run_server: keep the two in step.
    options: dict[str, Any] = dict(host=args.host, port=args.port, log_config=None, access_log=False,
                                   server_header=False)
    if args.workers > 1:
        uvicorn.run("benchmarks.ceiling:app_from_env", factory=True, workers=args.workers, **options)
    else:
        uvicorn.run(app_from_env(), **options)


def app_from_env() -> FastAPI:
    """The app, with the OTP keys of ``BENCH_CEILING_OTP_KEYS`` (built in each process)."""
    return create_app(frozenset(filter(None, os.environ.get("BENCH_CEILING_OTP_KEYS", "").split(","))))


if __name__ == "__main__":
    main()
