"""``senderid``: run the server and the worker, manage the database, accounts and keys.

Commands that print a value for scripts (``account create``, ``key create``,
``account webhook-secret``, and ``account set`` when it creates a webhook's
signing secret) print it alone on stdout; everything else a person reads goes to stderr.
Exit codes: 0 done, 1 refused (not found, invalid), 2 usage.
"""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from senderid.cli import api_gateway as _api_gateway  # noqa: F401  (registers send, cancel, optouts, usage)
from senderid.cli.api import api_app
from senderid.cli.business import business_app
from senderid.cli.common import context, fail, refusals
from senderid.cli.outbox import outbox_app
from senderid.domain import accounts, credits, registrant
from senderid.domain.types import CLI

app = typer.Typer(
    name="senderid",
    help="senderid: a self-hostable Sender ID service for SMS platforms.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
account_app = typer.Typer(help="Accounts.", no_args_is_help=True)
key_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(account_app, name="account")
app.add_typer(key_app, name="key")
app.add_typer(business_app, name="business")
app.add_typer(api_app, name="api")
app.add_typer(outbox_app, name="outbox")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    demo: Annotated[bool, typer.Option("--demo", help="Create a demo account and key, and print them.")] = False,
) -> None:
    """Run the API (and, unless SENDERID_WORKER_IN_PROCESS=false, the delivery worker)."""
    from senderid.cli.serve import run_server

    run_server(host=host, port=port, demo=demo)


@app.command()
def worker(
    metrics_port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Serve Prometheus /metrics on this port.")
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(help="Address for --metrics-port (0.0.0.0 to be scraped from elsewhere).")
    ] = "127.0.0.1",
) -> None:
    """Run a delivery worker on its own (several may share one PostgreSQL database)."""
    from senderid.cli.serve import run_worker

    run_worker(metrics_port=metrics_port, metrics_host=metrics_host)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every database migration."""
    from senderid.store.migrate import upgrade

    ctx = context()
    upgrade(ctx.db)
    typer.echo("database is up to date", err=True)


@account_app.command("create")
def account_create(
    name: str,
    no_otp: Annotated[bool, typer.Option("--no-otp", help="Numbers become active without an OTP.")] = False,
) -> None:
    """Create an account; prints its id alone on stdout."""
    with refusals():
        account = accounts.create_account(context(), name, otp_required=not no_otp, actor=CLI)
    typer.echo(account.id)


@account_app.command("set")
def account_set(
    account_id: str,
    otp_required: Annotated[
        Optional[bool],
        typer.Option("--otp-required/--no-otp-required", help="Whether adding a number sends an OTP."),
    ] = None,
    webhook_url: Annotated[
        Optional[str],
        typer.Option("--webhook-url", help="Where the account's events are POSTed; '' stops them."),
    ] = None,
    credits_: Annotated[
        Optional[str],
        typer.Option("--credits", help="Prepaid balance in credits (gateway sends stop when it runs "
                     "out), or 'unlimited' (the default of an account)."),
    ] = None,
    abn: Annotated[
        Optional[str],
        typer.Option("--abn", help="Default ABN of the account's business-name requests ('' clears)."),
    ] = None,
    entity_name: Annotated[
        Optional[str],
        typer.Option("--entity-name", help="Default registrant entity name of those requests ('' clears)."),
    ] = None,
) -> None:
    """Change an account's settings. Setting the first webhook URL prints its signing secret."""
    if otp_required is None and webhook_url is None and credits_ is None and abn is None and entity_name is None:
        fail("nothing to change: give --otp-required, --no-otp-required, --webhook-url, --credits, --abn or "
             "--entity-name", code=2)
    amount: float | None = None
    if credits_ is not None and credits_.strip().lower() != "unlimited":
        try:
            amount = float(credits_)
        except ValueError:
            fail(f"--credits must be a number of credits or 'unlimited', not {credits_!r}", code=2)
    ctx = context()
    with refusals():
        if abn is not None or entity_name is not None:  # checked before anything changes
            registrant.clean_abn(abn, "--abn")
            registrant.clean_entity_name(entity_name, "--entity-name")
        if webhook_url is not None:  # first: a refused URL leaves everything unchanged
            change = accounts.set_webhook_url(ctx, account_id, webhook_url, actor=CLI)
            typer.echo(f"account {account_id}: webhook_url={change.url or '(none)'}", err=True)
            if change.new_secret:
                typer.echo(change.new_secret)
                typer.echo("the webhook signing secret above is shown only this once "
                           "(`senderid account webhook-secret` makes a new one)", err=True)
        if otp_required is not None:
            account = accounts.set_otp_required(ctx, account_id, otp_required, actor=CLI)
            typer.echo(f"account {account.id}: otp_required={str(account.otp_required).lower()}", err=True)
        if credits_ is not None:
            balance = credits.set_balance(ctx, account_id, amount, actor=CLI)
            typer.echo(f"account {account_id}: credits={'unlimited' if balance is None else balance}", err=True)
        if abn is not None or entity_name is not None:
            changes = {k: v for k, v in (("abn", abn), ("entity_name", entity_name)) if v is not None}
            defaults = registrant.set_defaults(ctx, account_id, **changes, actor=CLI)
            typer.echo(f"account {account_id}: abn={defaults.abn or '(none)'} "
                       f"entity_name={defaults.entity_name or '(none)'}", err=True)


@account_app.command("webhook-secret")
def account_webhook_secret(account_id: str) -> None:
    """Make a new webhook signing secret; prints it alone on stdout, only this once."""
    with refusals():
        secret = accounts.rotate_webhook_secret(context(), account_id, actor=CLI)
    typer.echo(secret)
    typer.echo("events are signed with this secret from now on; the old one no longer verifies", err=True)


@key_app.command("create")
def key_create(
    account_id: str,
    expires_in_days: Annotated[Optional[int], typer.Option(
        min=1, max=accounts.MAX_KEY_DAYS, help="Days until the key stops working (1 to 36500).")] = None,
) -> None:
    """Create an API key; prints the key alone on stdout. It is shown only this once."""
    with refusals():
        _record, key = accounts.create_key(context(), account_id, expires_in_days=expires_in_days, actor=CLI)
    typer.echo(key)


@key_app.command("revoke")
def key_revoke(key_or_key_id: str) -> None:
    """Revoke a key, given the key itself or its id."""
    with refusals():
        key = accounts.revoke_key(context(), key_or_key_id, actor=CLI)
    typer.echo(f"revoked key {key.id} ({key.prefix}...)", err=True)


@key_app.command("list")
def key_list(account_id: str) -> None:
    """List an account's keys (never the keys themselves)."""
    ctx = context()
    with refusals():
        accounts.get_account(ctx, account_id)
        keys = accounts.list_keys(ctx, account_id)
    now = ctx.clock.now()
    typer.echo(f"{'ID':<24}  {'PREFIX':<12}  {'STATUS':<8}  {'CREATED':<20}  EXPIRES")
    for key in keys:
        status = key.status(now)
        typer.echo(
            f"{key.id:<24}  {key.prefix:<12}  {status:<8}  {key.created_at:%Y-%m-%d %H:%M:%S}  "
            f"{key.expires_at.strftime('%Y-%m-%d %H:%M:%S') if key.expires_at else '-'}"
        )



if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
