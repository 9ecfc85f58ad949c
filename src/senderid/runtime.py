"""Build the pieces a process needs (database, context, listener, provider) from settings,
and run them for a process's lifetime (:func:`serving`, :func:`listening`, :func:`working`).

The server, the worker command and the CLI all start here, so they cannot
drift in how they read settings or connect, and the edge (``api/app.py``, the CLI)
never builds a worker or wires the context itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from senderid.clock import Clock
from senderid.delivery.providers import build_provider, inbound_recorder
from senderid.delivery.providers.base import Provider
from senderid.delivery.worker import Worker, WorkerThread
from senderid.domain.context import Context
from senderid.routing import Routes, RoutesFileError, load_routes
from senderid.settings import Settings, SettingsError
from senderid.store.db import Database
from senderid.store.listen import Listener

log = logging.getLogger("senderid")


def build_context(settings: Settings, *, clock: Clock | None = None, db: Database | None = None,
                  routes: Routes | None = None) -> Context:
    """The context of ``settings``; ``routes``: the providers and routes already read from them
    (:func:`routes_of`), when the caller checked them first."""
    database = db or Database(settings.database_url, pool_size=settings.api_threads + 2,
                              timeout=settings.database_timeout_seconds)
    path = settings.sqlite_path()
    if database.is_sqlite and path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return Context(db=database, settings=settings, clock=clock or Clock(), secret=settings.resolved_secret(),
                   routes=routes or routes_of(settings))


def routes_of(settings: Settings) -> Routes:
    """The deployment's providers and routes: ``SENDERID_ROUTES_FILE`` read and checked, or
    the single provider of ``SENDERID_SMS_PROVIDER``. A file that cannot be used is a
    :class:`SettingsError` (one line, exit 2 at start)."""
    if not settings.routes_file:
        return Routes.single(settings)
    try:
        return load_routes(settings.routes_file, settings)
    except RoutesFileError as exc:
        raise SettingsError(f"SENDERID_ROUTES_FILE: {exc}") from None


def start_listener(ctx: Context) -> Listener:
    """This process's listener for change signals, with the key and sender cache on it
    (other subscribers, e.g. a worker's wake-up, subscribe to the same one)."""
    listener = Listener(ctx.db)
    ctx.senders.attach(listener)
    listener.start()
    ctx.listener = listener
    return listener


@contextmanager
def listening(ctx: Context, *, wait_live: float | None = None) -> Iterator[Listener]:
    """This process's listener for the block: started (and stopped after) unless the
    context already has one. ``wait_live``: wait that long for it to hear the database,
    so that the caches serve from memory at once."""
    if ctx.listener is not None:
        yield ctx.listener
        return
    listener = start_listener(ctx)
    try:
        if wait_live:
            listener.wait_live(wait_live)
        yield listener
    finally:
        listener.stop()
        ctx.listener = None


OUTBOX_CHANNEL = "senderid_outbox"  # notified by a trigger on outbox inserts (PostgreSQL)


def build_worker(ctx: Context, name: str | None = None) -> Worker:
    """A worker for this process serving every provider of ``ctx.routes`` (each under its
    name, its replies recorded under it too), woken at once by a commit that queued
    something: in this process through ``ctx.on_enqueue``, in any process through the
    listener (PostgreSQL; on SQLite other processes' messages are found by the poll)."""
    worker = Worker(ctx.db, ctx.settings, build_providers(ctx), ctx.clock, name=name, routes=ctx.routes)
    worker.forget_senders = ctx.senders.forget_senders  # a lapse or reclaim it decides, at once here
    ctx.on_enqueue = worker.wake
    if ctx.listener is not None:
        ctx.listener.subscribe(OUTBOX_CHANNEL, lambda _channel, _payload: worker.wake())
    return worker


def build_providers(ctx: Context) -> dict[str, Provider]:
    """Every provider of ``ctx.routes`` by name: the single provider of the settings without
    a routes file; the named ones of the file, each with its own settings."""
    built: dict[str, Provider] = {}
    try:
        for spec in ctx.routes.providers.values():
            own = ctx.routes.settings_of(spec.name, ctx.settings)
            built[spec.name] = build_provider(own, ctx.db, ctx.clock, name=spec.name, on_inbound=inbound_recorder(
                ctx, spec.name, kind=spec.kind, settings=own))
    except Exception:
        for provider in built.values():
            provider.close()
        raise
    return built


@contextmanager
def working(ctx: Context, name: str | None = None) -> Iterator[Worker]:
    """A worker for the block (see :func:`build_worker`), its provider closed and the
    context's wake-up put back after it."""
    before = ctx.on_enqueue
    worker = build_worker(ctx, name)
    try:
        yield worker
    finally:
        ctx.on_enqueue = before
        worker.close()


@contextmanager
def watching_queue(ctx: Context) -> Iterator[None]:
    """This deployment's outbox queue in this process's metrics, for the block."""
    watch_queue(ctx)
    try:
        yield
    finally:
        unwatch_queue()


@contextmanager
def serving(ctx: Context, *, worker: bool, metrics: bool, wait_live: float = 2.0) -> Iterator[None]:
    """Everything a server process runs beside its requests, for its lifetime: the change
    listener (unless the context has one), the queue gauges, the worker thread. Left in
    reverse order: the worker stops before the listener it listens on."""
    with ExitStack() as stack:
        stack.enter_context(listening(ctx, wait_live=wait_live))
        if metrics:
            stack.enter_context(watching_queue(ctx))
        if worker:
            thread = WorkerThread(stack.enter_context(working(ctx)))
            thread.start()
            stack.callback(thread.stop)
        yield


def watch_queue(ctx: Context) -> None:
    """Show this deployment's outbox queue in this process's metrics."""
    from senderid import metrics
    from senderid.domain import outbox

    def read() -> list[tuple[str, str, int, float | None]]:
        with ctx.db.read() as conn:
            return outbox.queue_depth(conn, ctx.clock.now())

    metrics.watch_outbox(read)


def unwatch_queue() -> None:
    from senderid import metrics

    metrics.watch_outbox(None)


def warn_about_settings(settings: Settings) -> None:
    """Loud warnings for settings that must not reach production unnoticed."""
    if settings.test_otps:
        log.warning(
            "SENDERID_TEST_OTPS is set: %d test number pattern(s) get fixed codes and no SMS",
            len(settings.test_otps),
        )
    if settings.sms_provider == "devinbox":
        who = ("ANY client that can reach this server (SENDERID_DEVINBOX_ALLOW_REMOTE=true)"
               if settings.devinbox_allow_remote else "clients on this machine (loopback)")
        log.warning(
            "SENDERID_SMS_PROVIDER is devinbox: no SMS leaves this server; every SMS, OTP codes "
            "included, is shown in clear at /dev/inbox to %s", who,
        )
    share = settings.otp_max_per_account_number_per_hour
    if settings.otp_max_per_number_per_hour < 6 * share:
        log.warning(
            "SENDERID_OTP_MAX_PER_NUMBER_PER_HOUR (%d) is below 6 x SENDERID_OTP_MAX_PER_ACCOUNT_"
            "NUMBER_PER_HOUR (%d): %d other accounts using their whole allowance can keep a "
            "number's owner from getting a code", settings.otp_max_per_number_per_hour, share,
            max(1, -(-settings.otp_max_per_number_per_hour // share)),
        )
