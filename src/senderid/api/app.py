"""The application factory: ``create_app(settings)``.

Settings, clock and database are passed in, never read from globals, so a
test builds its own app against its own database.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

import senderid
from senderid.api import convertors as _convertors  # noqa: F401  (registers {id:objectid} for every router below, the console's too)
from senderid.api import docs, envelope, openapi
from senderid.api.auth import AuthError
from senderid.api.middleware import AccessLog, BodyLimit
from senderid.api.routes import (
    admin,
    business,
    custom_numbers,
    devinbox,
    gateway,
    metrics,
    ops,
    receipts,
    token,
)
from senderid.clock import Clock
from senderid.console import assets as console_assets
from senderid.console import inbox as console_inbox
from senderid.console import routes as console_routes
from senderid.delivery.worker import WorkerThread
from senderid.domain.context import Context
from senderid.errors import SenderIdError
from senderid.runtime import build_context, build_worker, start_listener, unwatch_queue, watch_queue
from senderid.settings import Settings, load_settings
from senderid.store.db import Database

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
) -> FastAPI:
    settings = settings or load_settings()
    ctx = context or build_context(settings, clock=clock, db=db)
    run_worker = settings.worker_in_process if run_worker is None else run_worker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Database work runs on this many threads: more would only contend for the GIL
        # and the connection pool.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        listener = None
        if ctx.listener is None:  # keys and senders are served from memory while it hears changes
            listener = start_listener(ctx)
            await anyio.to_thread.run_sync(listener.wait_live, 2.0)
        thread = None
        if settings.metrics_enabled:
            watch_queue(ctx)
        if run_worker:
            worker = build_worker(ctx)
            thread = WorkerThread(worker)
            thread.start()
        try:
            yield
        finally:
            if settings.metrics_enabled:
                unwatch_queue()
            if thread is not None:
                thread.stop()
                thread.worker.provider.close()
            if listener is not None:
                listener.stop()
                ctx.listener = None

    app = FastAPI(
        title="senderid",
        version=senderid.__version__,
        summary="Sender ID registration and verification, wire-compatible with Cellcast's v1 API",
        lifespan=lifespan,
        docs_url=None,  # served by senderid.api.docs, with local assets
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.settings = settings

    app.include_router(token.router)
    app.include_router(custom_numbers.router)
    app.include_router(business.router)
    if settings.admin_token:  # off (unknown routes) without a token
        app.include_router(admin.router)
        app.include_router(console_routes.router)
    if settings.admin_token or settings.sms_provider == "devinbox":
        app.include_router(console_assets.router)
    app.include_router(gateway.router)
    app.include_router(ops.router)
    if settings.sms_provider == "devinbox":
        app.include_router(devinbox.router)
        app.include_router(console_inbox.router)
    if settings.sms_provider == "twilio":
        app.include_router(receipts.router)
    if settings.metrics_enabled:
        app.include_router(metrics.router)

    openapi.install(app)
    docs.install(app)
    _install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(AccessLog)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SenderIdError)
    async def domain_error(request: Request, exc: SenderIdError) -> Response:
        return envelope.from_error(exc)

    @app.exception_handler(AuthError)
    async def auth_error(request: Request, exc: AuthError) -> Response:
        return envelope.unauthorized(exc.message)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        template = _HTTP_MESSAGES.get(exc.status_code)
        message = (
            template.format(method=request.method, path=request.url.path)
            if template
            else str(exc.detail)
        )
        return envelope.failure(message, exc.status_code, headers=dict(exc.headers or {}) or None)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'query')}: {e.get('msg', 'invalid')}"
            for e in exc.errors()
        )
        return envelope.failure(f"Invalid request: {problems}", 400)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
        return envelope.failure("Something went wrong on our side; please try again later", 500)
