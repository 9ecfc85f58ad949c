"""``senderid serve`` and ``senderid worker``."""

from __future__ import annotations

import gc
import os
import signal
import threading
from contextlib import ExitStack
from typing import Any

from senderid import logs, runtime
from senderid.cli.common import context, fail, settings_or_exit
from senderid.cli.demo import development_admin_token, print_demo
from senderid.domain.context import Context
from senderid.settings import Settings
from senderid.store import migrate


def _logged_context() -> Context:
    """The process's context, with logging set up first (so that what building it says,
    e.g. the development secret's warning, is in the configured format)."""
    settings = settings_or_exit()
    logs.configure(settings.log_format, settings.log_level)
    return context(migrated=False)


def _prepare() -> Context:
    """The context, once the database can be used: a PostgreSQL database that is not
    migrated is refused in one line; SQLite is migrated here (one machine: nobody races us)."""
    ctx = _logged_context()
    if not ctx.db.is_sqlite and (problem := migrate.schema_problem(ctx.settings.database_url)):
        fail(problem, code=1)
    runtime.warn_about_settings(ctx.settings)
    if ctx.db.is_sqlite:
        migrate.upgrade(ctx.db)
    return ctx


def run_server(*, host: str, port: int, demo: bool, workers: int = 1) -> None:
    """Serve the API. ``workers`` > 1: that many processes share the listening socket
    (uvicorn's supervisor restarts one that dies); each builds its own context from the
    same settings, logs the same way and, unless SENDERID_WORKER_IN_PROCESS=false, runs
    its own delivery worker (they share the outbox through leases). Their metrics are
    kept in a directory of files this process makes for them, so that ``/metrics`` adds
    up all of them whichever answers (:func:`senderid.metrics.multiprocess_directory`)."""
    import uvicorn

    from senderid.api.app import create_app

    ctx = _prepare()
    if demo:
        admin_token = None
        if not ctx.settings.admin_token:  # the console on, with a token of the development secret
            admin_token = development_admin_token(ctx)
            ctx.settings = ctx.settings.model_copy(update={"admin_token": admin_token})
            os.environ["SENDERID_ADMIN_TOKEN"] = admin_token  # for the processes of --workers N
        print_demo(ctx, host, port, admin_token=admin_token)
    options: dict[str, Any] = dict(host=host, port=port, log_config=None, access_log=False, server_header=False,
                   **proxy_options(ctx.settings))
    if workers > 1:
        ctx.db.dispose()  # the parent only supervises; each process opens its own pool
        with ExitStack() as stack:
            if ctx.settings.metrics_enabled:  # /metrics adds up every process's values
                from senderid import metrics

                stack.enter_context(metrics.multiprocess_directory())
            uvicorn.run("senderid.cli.serve:worker_process_app", factory=True, workers=workers, **options)
        return
    app = create_app(ctx.settings, context=ctx)
    gc.freeze()  # what start-up built lives for good: keep it out of every collection
    uvicorn.run(app, **options)



def proxy_options(settings: Settings) -> dict[str, object]:
    """uvicorn's proxy-header trust, from ``SENDERID_TRUSTED_PROXIES``: by default none, so
    the client address is always the socket peer (uvicorn's own default would believe
    ``X-Forwarded-For`` from 127.0.0.1, which anyone on the machine, or any local proxy
    passing the header through, can forge)."""
    if not settings.trusted_proxies:
        return {"proxy_headers": False, "forwarded_allow_ips": ""}
    return {"proxy_headers": True, "forwarded_allow_ips": ",".join(settings.trusted_proxies)}


def worker_process_app() -> object:
    """The app of one process of ``serve --workers N`` (called by uvicorn in each process)."""
    from senderid.api.app import create_app

    ctx = _logged_context()
    app = create_app(ctx.settings, context=ctx)
    gc.freeze()
    return app


def run_worker(*, metrics_port: int | None = None, metrics_host: str = "127.0.0.1") -> None:
    ctx = _prepare()
    with ExitStack() as process:
        process.enter_context(runtime.listening(ctx))
        worker = process.enter_context(runtime.working(ctx))
        if metrics_port is not None:
            from senderid import metrics

            process.enter_context(runtime.watching_queue(ctx))
            metrics.serve(metrics_port, metrics_host)
        stop = threading.Event()
        def stopping(*_: object) -> None:
            stop.set()
            worker.wake()

        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, stopping)
        worker.run(stop)
