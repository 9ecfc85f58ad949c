"""``senderid protect``: the protected numbers, prefixes and names
(:mod:`senderid.domain.protected`).

``add`` and ``import`` print the holders of each value among the accounts not allowed it;
``--end-holders`` ends their registrations and requests (a number's queued messages are
cancelled). ``list`` prints a table, or with ``--json`` a JSON array.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from senderid.cli.common import context, fail, refusals
from senderid.cli.output import JSON_HELP, emit_json, masked, table, when
from senderid.domain import protected
from senderid.domain.types import CLI

protect_app = typer.Typer(rich_markup_mode=None, help="Protected numbers, prefixes and names.",
                          no_args_is_help=True)

AsJson = Annotated[bool, typer.Option("--json", help=JSON_HELP)]
EndHolders = Annotated[bool, typer.Option("--end-holders", help="End the registrations and requests of the "
                                          "accounts not allowed (their queued messages are cancelled).")]


def _entry(entry: protected.Protected) -> dict[str, object]:
    return {"id": entry.id, "kind": entry.kind, "value": entry.shown, "accounts": list(entry.accounts),
            "note": entry.note, "created_at": entry.created_at}


def _as_json(done: protected.Protection) -> dict[str, object]:
    return {**_entry(done.entry), "ended": done.ended,
            "holders": [{"account_id": h.account_id, "kind": h.kind, "id": h.id, "sender": h.sender,
                         "status": h.status} for h in done.holders]}


def _report(done: protected.Protection) -> None:
    entry = done.entry
    allowed = ", ".join(entry.accounts) or "no account"
    typer.echo(f"protected {entry.shown} ({entry.kind}; allowed: {allowed})", err=True)
    for holder in done.holders:
        sender = masked(holder.sender) if holder.kind == "custom_number" else holder.sender
        typer.echo(f"  {'ended' if done.ended else 'held by'}: account {holder.account_id} "
                   f"{holder.kind} {holder.id} {sender} ({holder.status})", err=True)
    if done.holders and not done.ended:
        typer.echo(f"  {len(done.holders)} holder(s) keep it; --end-holders ends them", err=True)


@protect_app.command("add")
def protect_add(
    value: Annotated[str, typer.Argument(metavar="VALUE", help="A number (any accepted form), a prefix "
                                         "ending in * (+6149157*) or a name (ANZ).")],
    account: Annotated[list[str] | None, typer.Option("--account", metavar="ID",
                                                         help="An account allowed to use it (repeatable).")] = None,
    note: Annotated[str | None, typer.Option("--note", metavar="TEXT", help="Why it is protected.")] = None,
    end_holders: EndHolders = False,
    as_json: AsJson = False,
) -> None:
    """Protect a number, a prefix or a name; lists who holds it already."""
    with refusals():
        done = protected.add(context(), value, accounts_allowed=account or [], note=note,
                             end_holders=end_holders, actor=CLI)
    if as_json:
        emit_json(_as_json(done))
    _report(done)


@protect_app.command("list")
def protect_list(as_json: AsJson = False) -> None:
    """List protected numbers, prefixes and names."""
    entries = protected.list_protected(context())
    if as_json:
        emit_json([_entry(e) for e in entries])
        return
    table(["VALUE", "KIND", "ACCOUNTS ALLOWED", "NOTE", "CREATED"],
          [[e.shown, e.kind, " ".join(e.accounts) or "-", e.note or "", when(e.created_at)] for e in entries],
          empty="nothing is protected (`senderid protect add VALUE` protects a number, prefix or name)")


@protect_app.command("remove")
def protect_remove(value: Annotated[str, typer.Argument(metavar="VALUE")], as_json: AsJson = False) -> None:
    """Stop protecting a number, a prefix or a name."""
    with refusals():
        entry = protected.remove(context(), value, actor=CLI)
    if as_json:
        emit_json(_entry(entry))
    typer.echo(f"no longer protected: {entry.shown}", err=True)


@protect_app.command("import")
def protect_import(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="CSV with columns value,accounts,note "
                                         "(accounts separated by spaces).")],
    end_holders: EndHolders = False,
    as_json: AsJson = False,
) -> None:
    """Protect every value of a CSV file (each row added or replaced)."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}", code=2)
    with refusals():
        rows = protected.read_csv(text)
        done = protected.import_rows(context(), rows, end_holders=end_holders, actor=CLI)
    if as_json:
        emit_json([_as_json(one) for one in done])
    for one in done:
        _report(one)
    typer.echo(f"{len(done)} value(s) protected", err=True)
