"""``senderid db`` (the schema: ``upgrade``, ``current``, ``history``) and ``senderid purge``
(the message and audit retentions, at once).

What each prints for scripts goes to stdout (``--json``: one JSON value); what a person
reads goes to stderr.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from senderid.cli.common import context, fail
from senderid.cli.output import JSON_HELP, emit_json, table

if TYPE_CHECKING:
    from senderid.domain.context import Context
    from senderid.store.migrate import Migration

db_app = typer.Typer(rich_markup_mode=None, help="Database schema.", no_args_is_help=True)

AsJson = Annotated[bool, typer.Option("--json", help=JSON_HELP)]


T = TypeVar("T")


def _reachable(call: Callable[[Context], T]) -> T:
    """``call()``, or one line naming the database when it cannot be reached (exit 1)."""
    from sqlalchemy.exc import OperationalError

    from senderid.store.migrate import where

    ctx = context(migrated=False)
    try:
        return call(ctx)
    except OperationalError as error:  # one line, as every other command says it
        reason = str(error.orig or error).strip().splitlines()[0]
        fail(f"cannot reach the database {where(ctx.settings.database_url)}: {reason}")


def _migration_json(m: Migration) -> dict[str, object]:
    return {"revision": m.revision, "down_revision": m.down_revision, "description": m.description}


@db_app.command("upgrade")
def db_upgrade(as_json: AsJson = False) -> None:
    """Apply every database migration not applied yet; prints each one applied."""
    from senderid.store import migrate

    applied = _reachable(lambda ctx: migrate.upgrade(ctx.db))
    if as_json:
        emit_json([_migration_json(m) for m in applied])
    else:
        for m in applied:
            typer.echo(f"applied {m.revision}: {m.description}")
    heads = ", ".join(sorted(migrate.heads()))
    typer.echo(f"applied {len(applied)} migration(s); the database is at {heads}" if applied
               else f"nothing to apply: the database is at {heads} already", err=True)


@db_app.command("current")
def db_current(as_json: AsJson = False) -> None:
    """Print the migration the database is at, and whether it is the newest."""
    from senderid.store import migrate

    at = sorted(_reachable(lambda ctx: migrate.current(ctx.db)))
    newest = sorted(migrate.heads())
    if as_json:
        emit_json({"current": at, "head": newest, "up_to_date": at == newest})
        return
    typer.echo(", ".join(at) if at else "(none)")
    if at == newest:
        typer.echo("the database is at the newest migration", err=True)
    elif not at:
        typer.echo("the database has no senderid tables yet: run `senderid db upgrade`", err=True)
    else:
        typer.echo(f"the newest migration is {', '.join(newest)}: run `senderid db upgrade`", err=True)


@db_app.command("history")
def db_history(as_json: AsJson = False) -> None:
    """List every migration, oldest first, and whether the database has it."""
    from senderid.store import migrate

    applied = _reachable(lambda ctx: migrate.applied(ctx.db))
    rows = migrate.history()
    if as_json:
        emit_json([{**_migration_json(m), "applied": m.revision in applied} for m in rows])
        return
    table(["REVISION", "APPLIED", "DESCRIPTION"],
          [[m.revision, "yes" if m.revision in applied else "no", m.description] for m in rows],
          empty="no migrations")


def purge(
    messages: Annotated[int | None, typer.Option(
        "--messages-older-than", metavar="DAYS", min=1, max=36_500,
        help="Delete messages that ended more than DAYS days ago "
             "(default: the message retention setting; unset: none).")] = None,
    audit: Annotated[int | None, typer.Option(
        "--audit-older-than", metavar="DAYS", min=1, max=36_500,
        help="Delete audit events older than DAYS days "
             "(default: the audit retention setting; unset: none).")] = None,
    as_json: AsJson = False,
) -> None:
    """Delete ended messages and audit events past their retention; prints how many.

    The retentions are the settings SENDERID_MESSAGE_RETENTION_DAYS and
    SENDERID_AUDIT_RETENTION_DAYS unless given here. A message still queued or being sent
    is never deleted. The worker's housekeeping does the same every 5 minutes when the
    settings are set."""
    from senderid.domain import retention

    ctx = context()
    message_days = messages if messages is not None else ctx.settings.message_retention_days
    audit_days = audit if audit is not None else ctx.settings.audit_retention_days
    if message_days is None and audit_days is None:
        fail("nothing to purge: set SENDERID_MESSAGE_RETENTION_DAYS or SENDERID_AUDIT_RETENTION_DAYS, or give "
             "--messages-older-than DAYS or --audit-older-than DAYS", code=2)
    purged = retention.purge(ctx.db, ctx.clock.now(), message_days=message_days, audit_days=audit_days)
    if as_json:
        emit_json({"messages": purged.messages, "audit_events": purged.audit_events,
                   "message_retention_days": message_days, "audit_retention_days": audit_days})
    else:
        typer.echo(f"messages\t{purged.messages}\naudit_events\t{purged.audit_events}")
    kept = [f"ended messages older than {message_days} day(s)" if message_days else "",
            f"audit events older than {audit_days} day(s)" if audit_days else ""]
    typer.echo(f"deleted {purged.messages} message(s) and {purged.audit_events} audit event(s): "
               f"{' and '.join(k for k in kept if k)}", err=True)
