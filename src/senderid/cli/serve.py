"""``senderid serve`` and ``senderid worker``."""

from __future__ import annotations

import gc
import shlex
import signal
import threading
from contextlib import ExitStack

import typer

from senderid import logs, runtime
from senderid.cli.common import context, fail
from senderid.domain import accounts
from senderid.domain.context import Context
from senderid.domain.types import CLI
from senderid.settings import Settings
from senderid.store import migrate

DEMO_ACCOUNT = "demo"
DEMO_NUMBER = "+61491570156"  # ACMA's range for fiction and examples


def _prepare(ctx: Context) -> None:
    logs.configure(ctx.settings.log_level)
    runtime.warn_about_settings(ctx.settings)
    if ctx.db.is_sqlite:
        migrate.upgrade(ctx.db)
    elif not migrate.is_current(ctx.db):
        fail("the database schema is not up to date: run `senderid db upgrade` first", code=1)


def run_server(*, host: str, port: int, demo: bool) -> None:
    import uvicorn

    from senderid.api.app import create_app

    ctx = context()
    _prepare(ctx)
    if demo:
        _print_demo(ctx, host, port)
    app = create_app(ctx.settings, context=ctx)
    gc.freeze()  # what start-up built lives for good: keep it out of every collection
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, server_header=False,
                **proxy_options(ctx.settings))


def proxy_options(settings: Settings) -> dict[str, object]:
    """uvicorn's proxy-header trust, from ``SENDERID_TRUSTED_PROXIES``: by default none, so
    the client address is always the socket peer (uvicorn's own default would believe
    ``X-Forwarded-For`` from 127.0.0.1, which anyone on the machine, or any local proxy
    passing the header through, can forge)."""
    if not settings.trusted_proxies:
        return {"proxy_headers": False, "forwarded_allow_ips": ""}
    return {"proxy_headers": True, "forwarded_allow_ips": ",".join(settings.trusted_proxies)}


def run_worker(*, metrics_port: int | None = None, metrics_host: str = "127.0.0.1") -> None:
    ctx = context()
    _prepare(ctx)
    with ExitStack() as process:
        process.enter_context(runtime.listening(ctx))
        worker = process.enter_context(runtime.working(ctx))
        if metrics_port is not None:
            from senderid import metrics

            process.enter_context(runtime.watching_queue(ctx))
            metrics.serve(metrics_port, metrics_host)
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: (stop.set(), worker.wake()))
        worker.run(stop)


def _proxy_note(settings: Settings) -> str:
    """What ``make run`` says about client addresses and reverse proxies."""
    if settings.trusted_proxies:
        return ("Client addresses (audit records, the console's sign-in throttle) come from the\n"
                f"X-Forwarded-For of {', '.join(settings.trusted_proxies)} (SENDERID_TRUSTED_PROXIES).")
    return ("Client addresses (audit records, the console's sign-in throttle) are the socket peer's.\n"
            "Behind a reverse proxy, start the server with\n"
            "  SENDERID_TRUSTED_PROXIES=<the proxy's address>   (127.0.0.1 for one on this machine)\n"
            "so they are the clients' addresses from its X-Forwarded-For.")


def _print_demo(ctx: Context, host: str, port: int) -> None:
    """A demo account (OTP required) and a fresh key for it, printed with commands that work."""
    account = accounts.find_account_by_name(ctx, DEMO_ACCOUNT)
    if account is None:
        account = accounts.create_account(ctx, DEMO_ACCOUNT, otp_required=True, actor=CLI)
    _record, key = accounts.create_key(ctx, account.id, actor=CLI)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown_host}:{port}"
    auth = shlex.quote(f"Authorization: Bearer {key}")
    add_body = shlex.quote(f'{{"name": "Demo", "number": "{DEMO_NUMBER}"}}')
    verify_body = shlex.quote(f'{{"name": "Demo", "number": "{DEMO_NUMBER}", "otp": "CODE"}}')
    typer.echo(
        f"""
senderid demo
  account  {account.id} ({DEMO_ACCOUNT}, OTP required)
  API key  {key}

Check the key:
  curl -s {base}/api/v1/user/token/verify -H {auth}

Register a number (an OTP goes to the developer inbox, {base}/dev/inbox):
  curl -s {base}/api/v1/customNumber/add -H {auth} -H 'Content-Type: application/json' -d {add_body}

Verify it with the code from {base}/dev/inbox.json:
  curl -s {base}/api/v1/customNumber/verifyCustomNumber -H {auth} -H 'Content-Type: application/json' -d {verify_body}

{_proxy_note(ctx.settings)}
""",
        err=False,
    )
