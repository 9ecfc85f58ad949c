"""``senderid``: run the server and the worker, manage the database, accounts and keys.

Commands that print a value for scripts (``account create``, ``key create``,
``account webhook-secret``, and ``account set`` when it creates a webhook's
signing secret) print it alone on stdout; everything else a person reads goes to stderr.
Exit codes: 0 done, 1 refused (not found, invalid, a database that is missing or not
migrated), 2 usage or a setting that cannot be used.
"""

from __future__ import annotations

from typing import Annotated

import typer
import typer.main
from typer import _click as click  # the click that typer vendors and runs (not the click package)

from senderid import __version__
from senderid.cli import api_gateway as _api_gateway  # noqa: F401  (registers send, cancel, optouts, usage)
from senderid.cli.accounts import account_app, key_app
from senderid.cli.api import api_app
from senderid.cli.business import business_app
from senderid.cli.database import db_app
from senderid.cli.database import purge as _purge
from senderid.cli.help import tidy
from senderid.cli.outbox import outbox_app
from senderid.cli.protect import protect_app
from senderid.cli.routes import routes_app

app = typer.Typer(rich_markup_mode=None,
    name="senderid",
    help="senderid: a self-hostable Sender ID service for SMS platforms.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(db_app, name="db")
app.add_typer(account_app, name="account")
app.add_typer(key_app, name="key")
app.add_typer(business_app, name="business")
app.add_typer(api_app, name="api")
app.add_typer(outbox_app, name="outbox")
app.add_typer(protect_app, name="protect")
app.add_typer(routes_app, name="routes")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"senderid {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                          help="Print the version and exit.")] = False,
) -> None:
    """senderid: a self-hostable Sender ID service for SMS platforms."""


@app.command()
def serve(
    host: Annotated[str, typer.Option(metavar="ADDRESS", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", min=1, max=65535, help="Port to listen on.")] = 8080,
    workers: Annotated[int, typer.Option(
        metavar="N", min=1, max=64,
        help="Server processes sharing the port (each with its own delivery worker unless "
             "SENDERID_WORKER_IN_PROCESS=false).")] = 1,
    demo: Annotated[bool, typer.Option(
        "--demo", help="Create a demo account and key (the same ones on every start), and print them with "
        "the console's address and, unless SENDERID_ADMIN_TOKEN is set, a development admin token.")] = False,
) -> None:
    """Run the API (and, unless SENDERID_WORKER_IN_PROCESS=false, the delivery worker)."""
    from senderid.cli.serve import run_server

    run_server(host=host, port=port, workers=workers, demo=demo)


app.command("purge")(_purge)


@app.command()
def worker(
    metrics_port: Annotated[
        int | None, typer.Option(metavar="PORT", min=1, max=65535, help="Serve Prometheus /metrics on this port.")
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(metavar="ADDRESS",
                          help="Address for --metrics-port (0.0.0.0 to be scraped from elsewhere).")
    ] = "127.0.0.1",
) -> None:
    """Run a delivery worker on its own (several may share one PostgreSQL database)."""
    from senderid.cli.serve import run_worker

    run_worker(metrics_port=metrics_port, metrics_host=metrics_host)


def command() -> click.Command:
    """The ``senderid`` command as click runs it, with plain help (:mod:`senderid.cli.help`)."""
    return tidy(typer.main.get_command(app))


def main() -> None:
    """The ``senderid`` console script."""
    command()(prog_name="senderid")


if __name__ == "__main__":  # pragma: no cover
    main()
