"""The application factory: ``create_app(settings)``.

Settings, clock and database are passed in, never read from globals, so a
test builds its own app against its own database.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

import senderid
from senderid import runtime
from senderid.api import docs, envelope, from_memory, openapi
from senderid.api.auth import AuthError
from senderid.api.middleware import SERVER_ERROR, Edge
from senderid.api.routes import (
    admin,
    admin_protected,
    business,
    custom_numbers,
    devinbox,
    gateway,
    inbound,
    metrics,
    ops,
    optouts,
    receipts,
    short_links,
    token,
    usage,
)
from senderid.clock import Clock
from senderid.console import assets as console_assets
from senderid.console import inbox as console_inbox
from senderid.console import routes as console_routes
from senderid.domain.context import Context
from senderid.errors import SenderIdError
from senderid.settings import Settings, load_settings
from senderid.store.db import Database, DatabaseUnavailable, is_unavailable

log = logging.getLogger("senderid.api")

_HTTP_MESSAGES = {
    404: "No such endpoint: {method} {path}. The API lives under /api/v1; see /docs",
    405: "{method} is not allowed on {path}",
}


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    db: Database | None = None,
    context: Context | None = None,
    run_worker: bool | None = None,
    answer_from_memory: bool = True,
) -> FastAPI:
    """``answer_from_memory``: the per-message routes answer from memory before the framework
    routes the request (:mod:`senderid.api.from_memory`); off, every request takes its route
    (the tests compare the two)."""
    settings = settings or load_settings()
    ctx = context or runtime.build_context(settings, clock=clock, db=db)
    run_worker = settings.worker_in_process if run_worker is None else run_worker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Database work runs on this many threads: more would only contend for the GIL
        # and the connection pool.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        # The listener (keys and senders are served from memory while it hears changes),
        # the queue gauges and the worker thread: the runtime owns them.
        process = ExitStack()
        serving = runtime.serving(ctx, worker=run_worker, metrics=settings.metrics_enabled)
        await anyio.to_thread.run_sync(process.enter_context, serving)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(process.close)

    app = FastAPI(
        title="senderid",
        version=senderid.__version__,
        summary="Sender ID registration and verification, wire-compatible with Cellcast's v1 API",
        lifespan=lifespan,
        # No redirect for a trailing slash: it would be a bare 307 whose Location is built
        # from the Host header. The 404 in the envelope says what to call instead.
        redirect_slashes=False,
        docs_url=None,  # served by senderid.api.docs, with local assets
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.settings = settings

    # Routes are matched in the order they are included, and each route passed over costs
    # about as much as a cached sender check: the per-message and per-registration paths
    # (token, senderId/check, the gateway's send, customNumber) come first.
    app.include_router(token.router)
    app.include_router(gateway.router)
    app.include_router(custom_numbers.router)
    app.include_router(gateway.messages_router)
    app.include_router(business.router)
    if settings.admin_token:  # off (unknown routes) without a token
        app.include_router(admin.router)
        app.include_router(admin_protected.router)
        app.include_router(console_routes.router)
    if settings.admin_token or settings.sms_provider == "devinbox":
        app.include_router(console_assets.router)
    app.include_router(optouts.router)
    app.include_router(inbound.router)
    app.include_router(usage.router)
    app.include_router(short_links.router)
    app.include_router(ops.router)
    if settings.sms_provider == "devinbox":
        app.include_router(devinbox.router)
        app.include_router(console_inbox.router)
    # /providers/<name>/status and /inbound: each provider whose kind takes callbacks (the
    # single provider is named after its kind: /providers/twilio/..., /providers/cellcast/...).
    callbacks = receipts.router_for(ctx)
    if callbacks is not None:
        app.include_router(callbacks)
    if settings.metrics_enabled:
        app.include_router(metrics.router)

    openapi.install(app)
    docs.install(app)
    _install_error_handlers(app, retry_after=max(1, math.ceil(ctx.db.timeout)))
    app.add_middleware(Edge, max_bytes=settings.max_body_bytes, inbox=settings.sms_provider == "devinbox",
                       inbox_allow_remote=settings.devinbox_allow_remote,
                       shortcuts=from_memory.shortcuts(app.routes) if answer_from_memory else None)
    return app


DATABASE_UNAVAILABLE = "The database is not answering; please try again in {seconds} seconds"


def _install_error_handlers(app: FastAPI, *, retry_after: int) -> None:
    @app.exception_handler(SenderIdError)
    async def domain_error(request: Request, exc: SenderIdError) -> Response:
        return envelope.from_error(exc)

    @app.exception_handler(AuthError)
    async def auth_error(request: Request, exc: AuthError) -> Response:
        return envelope.unauthorized(exc.message)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        template = _HTTP_MESSAGES.get(exc.status_code)
        path = request.url.path
        message = template.format(method=request.method, path=path) if template else str(exc.detail)
        if exc.status_code == 404 and len(path) > 1 and path.endswith("/"):
            message += f" (paths take no trailing slash: {path.rstrip('/')})"
        return envelope.failure(message, exc.status_code, headers=dict(exc.headers or {}) or None)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'query')}: {e.get('msg', 'invalid')}"
            for e in exc.errors()
        )
        return envelope.failure(f"Invalid request: {problems}", 400)

    @app.exception_handler(SQLAlchemyError)
    @app.exception_handler(DatabaseUnavailable)
    async def database_error(request: Request, exc: Exception) -> Response:
        if not is_unavailable(exc):
            log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
            return envelope.failure(SERVER_ERROR, 500)
        log.warning("database unavailable: %s", exc.__class__.__name__, extra={"path": request.url.path})
        return envelope.failure(DATABASE_UNAVAILABLE.format(seconds=retry_after), 503,
                                headers={"Retry-After": str(retry_after)})

    # Any other exception: middleware.Edge (a 500 that keeps the connection open).
