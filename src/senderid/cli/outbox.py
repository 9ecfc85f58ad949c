"""``senderid outbox``: the operator's view of the SMS outbox.

``list`` and ``stats`` print tables on stdout (numbers masked, never a body);
``retry`` says what it did on stderr; ``purge`` prints how many it deleted alone on
stdout. Exit codes: 0 done, 1 refused (unknown id, a message that cannot be
retried), 2 usage. They call the domain functions of
:mod:`senderid.domain.outbox_admin`, which an admin API can share.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Optional

import typer

from senderid.cli.common import context, fail, refusals
from senderid.domain import outbox_admin
from senderid.domain.types import CLI, OutboxStatus

outbox_app = typer.Typer(help="The SMS outbox: list, retry and purge messages.", no_args_is_help=True)



def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


@outbox_app.command("list")
def list_messages(
    status: Annotated[
        Optional[list[OutboxStatus]],
        typer.Option("--status", case_sensitive=False, help="Only messages in this status (repeatable)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=outbox_admin.MAX_LIST,
                                       help="At most this many, most recently changed first.")] = 50,
) -> None:
    """List messages, most recently changed first (never their text)."""
    with refusals():
        rows = outbox_admin.list_messages(
            context(), statuses=[s.value for s in status] if status else None, limit=limit
        )
    typer.echo(f"{'ID':<24}  {'KIND':<4}  {'TO':<16}  {'STATUS':<9}  {'ATTEMPTS':>8}  {'PROVIDER':<8}  "
               f"{'PROVIDER MESSAGE ID':<34}  {'UPDATED':<19}  LAST ERROR")
    for row in rows:
        typer.echo(
            f"{row.id:<24}  {row.kind:<4}  {row.masked_to:<16}  {row.status:<9}  {row.attempts:>8}  "
            f"{row.provider or '-':<8}  {row.provider_message_id or '-':<34}  {_when(row.updated_at):<19}  "
            f"{row.last_error or ''}".rstrip()
        )


@outbox_app.command("stats")
def stats() -> None:
    """How many messages are in each status."""
    with refusals():
        found = outbox_admin.counts(context())
    for status, count in found.items():
        typer.echo(f"{status:<9}  {count}")


@outbox_app.command("retry")
def retry(message_id: Annotated[str, typer.Argument(metavar="ID", help="The message's 24-hex id.")]) -> None:
    """Queue a dead or failed message again, now, with its attempts reset (an OTP gets a fresh code)."""
    with refusals():
        message = outbox_admin.retry(context(), message_id, actor=CLI)
    fresh = " with a fresh code" if message.kind == "otp" else ""
    typer.echo(f"queued {message.id} ({message.kind} to {message.masked_to}) again{fresh}", err=True)


@outbox_app.command("purge")
def purge(
    dead: Annotated[bool, typer.Option("--dead", help="Purge dead messages (required: says what goes).")] = False,
    older_than: Annotated[
        Optional[int], typer.Option("--older-than", metavar="DAYS", min=0, max=36_500,
                                    help="Only those that ended more than DAYS days ago.")
    ] = None,
) -> None:
    """Delete dead messages that ended more than DAYS days ago; prints how many."""
    if not dead:
        fail("say what to purge: --dead", code=2)
    if older_than is None:
        fail("give --older-than DAYS", code=2)
    with refusals():
        deleted = outbox_admin.purge_dead(context(), older_than_days=older_than, actor=CLI)
    typer.echo(str(deleted))
    typer.echo(f"purged {deleted} dead message(s) older than {older_than} day(s)", err=True)
