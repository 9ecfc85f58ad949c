"""``senderid api`` commands of the gateway: ``send`` (every documented field), ``cancel``,
``optouts list|add|remove`` and ``usage``. Registered on :data:`senderid.cli.api.api_app`
when this module is imported (``senderid.cli.main`` does)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from senderid.cli.api import EXIT_USAGE, JsonFlag, _call, _fail, _table, api_app
from senderid.client import MessageEvent

optouts_app = typer.Typer(help="The account's opt-out list (numbers never sent to).", no_args_is_help=True)
api_app.add_typer(optouts_app, name="optouts")


def _links(values: list[str] | None) -> dict[str, str] | None:
    if not values:
        return None
    links: dict[str, str] = {}
    for value in values:
        short, sep, long_url = value.partition("=")
        if not sep or not short or not long_url:
            _fail(f"--long-url takes SHORT=URL (gosite.au/SHORT in the text), not {value!r}", EXIT_USAGE)
        links[short] = long_url
    return links


@api_app.command("send")
def send(
    ctx: typer.Context,
    message: Annotated[str, typer.Argument(help="The text of the SMS.")],
    contacts: Annotated[list[str], typer.Argument(metavar="CONTACT...", help="Mobile numbers.")],
    sender: Annotated[str | None, typer.Option(
        "--sender", help="Your active custom number, your approved business name, or #SharedNum# "
        "(the default: the platform's shared number).")] = None,
    schedule_at: Annotated[str | None, typer.Option(
        "--schedule-at", help="Send at this time (UTC): 2026-08-14T14:58:00Z or '2026-08-14 14:58:00'.")] = None,
    delay: Annotated[int | None, typer.Option(
        "--delay", help="Send this many milliseconds from now (1 to 86400000).")] = None,
    custom_string: Annotated[str | None, typer.Option(
        "--custom-string", help="A tag for the usage report: letters, digits, dashes.")] = None,
    reply_stop: Annotated[bool, typer.Option(
        "--reply-stop", help="Add the line 'Reply STOP to opt out'.")] = False,
    optout_id: Annotated[str | None, typer.Option(
        "--optout-id", help="The opt-out list to honour (yours: `senderid api optouts list`).")] = None,
    long_url: Annotated[list[str] | None, typer.Option(
        "--long-url", metavar="SHORT=URL", help="Make gosite.au/SHORT in the text a short link to URL "
        "(repeatable).")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Send an SMS to one or more contacts; prints each queued message's id."""
    links = _links(long_url)
    result, as_json = _call(ctx, lambda c: c.send_sms(
        message=message, contacts=contacts, sender=sender, schedule_at=schedule_at, delay=delay,
        custom_string=custom_string, reply_stop_to_opt_out=reply_stop or None,
        optout=True if optout_id else None, optout_id=optout_id, long_url=links), json_output)
    if as_json:
        return
    _table(("NUMBER", "MESSAGE_ID"), [(q.number, q.message_id) for q in result.queued])
    note = f"{result.total_valid} queued"
    if result.encoding and result.message_parts:
        note += f" ({result.encoding}, {result.message_parts} part(s) each)"
    if result.scheduled_at is not None:
        note += f", due {result.scheduled_at.isoformat().replace('+00:00', 'Z')}"
    if result.unsubscribed_contacts:
        note += f"; opted out, not sent: {', '.join(result.unsubscribed_contacts)}"
    if result.invalid_contacts:
        note += f"; not valid, not sent: {', '.join(result.invalid_contacts)}"
    typer.echo(note, err=True)


@api_app.command("cancel")
def cancel(
    ctx: typer.Context,
    message_id: Annotated[str, typer.Argument(help="The MESSAGE_ID that send printed.")],
    json_output: JsonFlag = False,
) -> None:
    """Cancel a message that has not been handed to the provider yet (a scheduled one)."""
    result, as_json = _call(ctx, lambda c: c.cancel_message(id=message_id), json_output)
    if not as_json:
        typer.echo(f"cancelled {result.message_id}")


@optouts_app.command("list")
def optouts_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=200, help="Numbers per page.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Numbers to skip.")] = 0,
    json_output: JsonFlag = False,
) -> None:
    """The account's opt-out list, newest first."""
    result, as_json = _call(ctx, lambda c: c.list_optouts(limit=limit, offset=offset), json_output)
    if as_json:
        return
    _table(("NUMBER", "SOURCE", "SINCE"), [
        (o.number, o.source, o.created_at.isoformat().replace("+00:00", "Z") if o.created_at else "")
        for o in result.items])
    typer.echo(f"{len(result.items)} of {result.total}; list id {result.optout_id}", err=True)


@optouts_app.command("add")
def optouts_add(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The mobile number.")],
    json_output: JsonFlag = False,
) -> None:
    """Never send to this number again (from this account)."""
    result, as_json = _call(ctx, lambda c: c.add_optout(number=number), json_output)
    if not as_json:
        typer.echo(f"{result.number} is on the opt-out list")


@optouts_app.command("remove")
def optouts_remove(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The mobile number.")],
    json_output: JsonFlag = False,
) -> None:
    """Take a number off the opt-out list."""
    result, as_json = _call(ctx, lambda c: c.remove_optout(number=number), json_output)
    if not as_json:
        typer.echo(f"{result.number} is off the opt-out list")


@api_app.command("usage")
def usage(
    ctx: typer.Context,
    page: Annotated[int, typer.Option(min=1, help="Page, from 1.")] = 1,
    limit: Annotated[int, typer.Option(min=1, max=200, help="Lines per page.")] = 10,
    json_output: JsonFlag = False,
) -> None:
    """SMS parts sent and credits used, per customString ('api': none)."""
    result, as_json = _call(ctx, lambda c: c.credit_usage(page=page, limit=limit), json_output)
    if as_json:
        return
    _table(("CUSTOM_STRING", "PARTS", "CREDITS"),
           [(line.custom_string, str(line.parts), f"{line.credits:g}") for line in result.items])
    typer.echo(f"page {result.page} of {result.total_pages}", err=True)


def _timeline(events: Sequence[MessageEvent]) -> None:
    """A message's history, oldest first: time, status, what happened."""
    from senderid.cli.api import _when

    _table(("AT", "STATUS", "DETAIL"), [(_when(e.at), e.status, e.detail or "") for e in events])


@api_app.command("message")
def message(ctx: typer.Context, id: Annotated[str, typer.Argument(metavar="ID", help="The MessageId.")],
            json_output: JsonFlag = False) -> None:
    """One message: its status and fields, then its timeline."""
    from senderid.cli.api import _when

    m, as_json = _call(ctx, lambda c: c.get_message(id=id), json_output)
    if as_json:
        return
    _table(("ID", "TO", "SENDER", "STATUS", "PARTS", "CREDITS", "QUEUED", "SENT", "DELIVERED", "CUSTOM STRING"),
           [(m.id, m.to, m.sender or "-", m.status, str(m.parts), f"{m.credits:g}", _when(m.queued_at),
             _when(m.sent_at), _when(m.delivered_at), m.custom_string or "-")])
    typer.echo("")
    _timeline(m.events)


@api_app.command("messages")
def messages(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(
        "--status", help="scheduled, queued, sending, sent, delivered, failed, dead or cancelled.")] = None,
    to: Annotated[str | None, typer.Option("--to", help="The recipient, in any accepted form.")] = None,
    custom_string: Annotated[str | None, typer.Option("--custom-string", help="The customString.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Queued at or after (ISO-8601).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Queued at or before (ISO-8601).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=200, help="Items per page (1 to 200).")] = 50,
    offset: Annotated[int, typer.Option("--offset", min=0, max=1_000_000_000, help="Items to skip.")] = 0,
    json_output: JsonFlag = False,
) -> None:
    """The account's messages, newest first (a page; the note on stderr says where the next starts)."""
    from senderid.cli.api import _page_note, _when

    page, as_json = _call(ctx, lambda c: c.list_messages(
        status=status, to=to, custom_string=custom_string, since=since, until=until, limit=limit, offset=offset),
        json_output)
    if as_json:
        return
    _table(("ID", "TO", "SENDER", "STATUS", "QUEUED", "SENT", "DELIVERED", "ERROR"),
           [(m.id, m.to, m.sender or "-", m.status, _when(m.queued_at), _when(m.sent_at), _when(m.delivered_at),
             m.error or "") for m in page.items])
    _page_note(page)
