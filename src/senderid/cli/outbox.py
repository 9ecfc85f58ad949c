"""``senderid outbox``: the operator's view of the SMS outbox.

``list`` and ``stats`` print tables on stdout, or JSON with ``--json`` (numbers masked,
never a body; see :mod:`senderid.cli.output`);
``retry`` says what it did on stderr; ``purge`` prints how many it deleted alone on
stdout. Exit codes: 0 done, 1 refused (unknown id, a message that cannot be
retried), 2 usage. They call the domain functions of
:mod:`senderid.domain.outbox` (its ``admin`` module), which an admin API can share.
"""

from __future__ import annotations

from typing import Annotated

import typer

import senderid.domain.outbox.views  # noqa: F401  (outbox.views)
from senderid import numbers
from senderid.cli.common import context, fail, refusals
from senderid.cli.output import JSON_HELP, emit_json, table, when
from senderid.domain import accounts, outbox
from senderid.domain.types import CLI, OutboxStatus

outbox_app = typer.Typer(
    rich_markup_mode=None, help="The SMS outbox: list, retry and purge messages.", no_args_is_help=True
)


AsJson = Annotated[bool, typer.Option("--json", help=JSON_HELP)]


@outbox_app.command("list")
def list_messages(
    status: Annotated[
        list[OutboxStatus] | None,
        typer.Option("--status", metavar="STATUS", case_sensitive=False,
                     help="Only messages in this status (repeatable): "
                          + ", ".join(s.value for s in OutboxStatus) + "."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", metavar="N", min=1, max=outbox.MAX_LIST,
                                       help="At most this many, most recently changed first.")] = 50,
    as_json: AsJson = False,
) -> None:
    """List messages, most recently changed first (never their text)."""
    ctx = context()
    with refusals():
        rows = outbox.list_messages(
            ctx, statuses=[s.value for s in status] if status else None, limit=limit
        )
    names = accounts.names(ctx, {row.account_id for row in rows if row.account_id})
    if as_json:
        emit_json([{"id": r.id, "kind": r.kind, "account_id": r.account_id,
                    "account": names.get(r.account_id) if r.account_id else None, "to": r.masked_to,
                    "status": r.status, "attempts": r.attempts, "provider": r.provider,
                    "provider_message_id": r.provider_message_id, "last_error": r.last_error,
                    "created_at": r.created_at, "updated_at": r.updated_at, "sent_at": r.sent_at,
                    "next_attempt_at": r.next_attempt_at} for r in rows])
        return
    which = " " + "/".join(s.value for s in status) if status else ""
    table(["ID", "KIND", "ACCOUNT", "TO", "STATUS", "ATTEMPTS", "PROVIDER", "PROVIDER MESSAGE ID",
           "UPDATED", "LAST ERROR"],
          [[r.id, r.kind, names.get(r.account_id, "?") if r.account_id else "-", r.masked_to, r.status,
            r.attempts, r.provider, r.provider_message_id, when(r.updated_at), r.last_error or ""]
           for r in rows],
          empty=f"no{which} messages in the outbox")


@outbox_app.command("show")
def show(message_id: Annotated[str, typer.Argument(metavar="ID", help="The message's 24-hex id.")],
         as_json: AsJson = False) -> None:
    """One message (never its text) and its timeline: each change of status, when, and why."""
    ctx = context()
    with refusals():
        m = outbox.views.operator_view(ctx, message_id)
    events = [{"status": e.status, "at": e.at, "detail": e.describe()} for e in m.events]
    rows = [[when(e.at), e.status, e.describe() or ""] for e in m.events]
    if as_json:
        emit_json({"id": m.id, "kind": m.kind, "account_id": m.account_id, "to": numbers.mask(m.to),
                   "sender": m.sender, "status": m.status, "attempts": m.attempts, "provider": m.provider,
                   "provider_message_id": m.provider_message_id, "error": m.error,
                   "scheduled_at": m.scheduled_at, "queued_at": m.queued_at, "sent_at": m.sent_at,
                   "delivered_at": m.delivered_at, "events": events})
        return
    table(["ID", "KIND", "TO", "SENDER", "STATUS", "ATTEMPTS", "PROVIDER", "PROVIDER MESSAGE ID"],
          [[m.id, m.kind, numbers.mask(m.to), m.sender or "-", m.status, m.attempts, m.provider,
            m.provider_message_id]], empty="")
    typer.echo("")
    table(["AT", "STATUS", "DETAIL"], rows,
          empty="no history")


@outbox_app.command("stats")
def stats(as_json: AsJson = False) -> None:
    """How many messages are in each status."""
    with refusals():
        found = outbox.counts(context())
    if as_json:
        emit_json({str(status): count for status, count in found.items()})
        return
    table(["STATUS", "MESSAGES"], [[status, count] for status, count in found.items()], empty="")
    if not any(found.values()):
        typer.echo("the outbox is empty", err=True)


@outbox_app.command("retry")
def retry(message_id: Annotated[str, typer.Argument(metavar="ID", help="The message's 24-hex id.")]) -> None:
    """Queue a dead or failed message again, now, with its attempts reset (an OTP gets a fresh code)."""
    with refusals():
        message = outbox.retry(context(), message_id, actor=CLI)
    fresh = " with a fresh code" if message.kind == "otp" else ""
    typer.echo(f"queued {message.id} ({message.kind} to {message.masked_to}) again{fresh}", err=True)


@outbox_app.command("purge")
def purge(
    dead: Annotated[bool, typer.Option("--dead", help="Purge dead messages (required: says what goes).")] = False,
    older_than: Annotated[
        int | None, typer.Option("--older-than", metavar="DAYS", min=0, max=36_500,
                                    help="Only those that ended more than DAYS days ago.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Delete dead messages that ended more than DAYS days ago; prints how many."""
    if not dead:
        fail("say what to purge: --dead", code=2)
    if older_than is None:
        fail("give --older-than DAYS", code=2)
    with refusals():
        deleted = outbox.purge_dead(context(), older_than_days=older_than, actor=CLI)
    if as_json:
        emit_json({"deleted": deleted, "older_than_days": older_than})
    else:
        typer.echo(str(deleted))
    typer.echo(f"purged {deleted} dead message(s) older than {older_than} day(s)", err=True)
