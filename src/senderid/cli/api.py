"""``senderid api``: the Sender ID API from the command line, through :mod:`senderid.client`.

A client, not the server: it needs a key and a URL, never a database, so it works
against any senderid server (or Cellcast, for the endpoints Cellcast has). This module
imports nothing of the server's, so a missing or broken server configuration never
stops it.

    senderid api [--api-key KEY] [--base-url URL] [--json] COMMAND ...

``--api-key`` falls back to ``SENDERID_API_KEY``, then ``CELLCAST_API_KEY``;
``--base-url`` to ``SENDERID_BASE_URL``, then ``http://127.0.0.1:8080`` (the local
``senderid serve`` / ``make run``; the library's own default stays Cellcast's URL).

Output: results on stdout (a short line, or an aligned table); hints, page counts and
errors on stderr. ``--json`` (on the group or on any command) prints the response
envelope instead, exactly as the server sent it, also for an API error.

Exit codes: 0 done; 1 the API refused (any error answer, including the "already exist"
answer and a 200 with ``status: false``); 2 usage (bad arguments, no key, bad URL);
3 no answer (connection refused or failed, timeout).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from senderid.client import (
    APIConnectionError,
    APIStatusError,
    BusinessNamePage,
    BusinessNameRequest,
    Client,
    CustomNumber,
    CustomNumberPage,
    MissingAPIKeyError,
    Page,
    RateLimitError,
)

R = TypeVar("R")

#: Where ``senderid api`` goes without ``--base-url`` or ``SENDERID_BASE_URL``: the local
#: server of ``make run`` / ``senderid serve``. (``senderid.client`` defaults to Cellcast.)
DEFAULT_BASE_URL = "http://127.0.0.1:8080"

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_NO_ANSWER = 3

api_app = typer.Typer(rich_markup_mode=None,
    help="Call the Sender ID API (a client: any senderid server, no database needed).",
    no_args_is_help=True,
)
numbers_app = typer.Typer(rich_markup_mode=None,
    help="Your custom numbers (mobile numbers as senders).", no_args_is_help=True
)
business_app = typer.Typer(rich_markup_mode=None, help="Your business names (alpha sender IDs).", no_args_is_help=True)
api_app.add_typer(numbers_app, name="numbers")
api_app.add_typer(business_app, name="business")


# The wire's statuses, as choices. The server's are senderid.domain.types.CustomNumberStatus
# and BusinessNameStatus; this client imports nothing of the server's, so it names them
# again here, and tests/cli/test_cli_api.py checks that the two stay the same.
class NumberStatus(StrEnum):
    pending = "pending"
    expired = "expired"
    active = "active"
    cancelled = "cancelled"
    deleted = "deleted"
    lapsed = "lapsed"
    released = "released"
    claiming = "claiming"
    reclaimed = "reclaimed"


class NameStatus(StrEnum):
    REQUESTED = "REQUESTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"


@dataclass(frozen=True)
class Options:
    api_key: str | None
    base_url: str
    json: bool


JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print the response envelope as JSON (for scripts).")
]
Limit = Annotated[int, typer.Option("--limit", min=1, max=200, help="Items per page (1 to 200).")]
Offset = Annotated[int, typer.Option("--offset", min=0, max=1_000_000_000, help="Items to skip.")]
RecordId = Annotated[str, typer.Argument(metavar="ID", help="The record's 24-hex _id.")]


@api_app.callback()
def api(
    ctx: typer.Context,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar=["SENDERID_API_KEY", "CELLCAST_API_KEY"],
            show_default=False,
            help="API key (sid_...).",
        ),
    ] = None,
    base_url: Annotated[
        str,
        typer.Option(
            "--base-url",
            envvar="SENDERID_BASE_URL",
            help="The server, with or without /api/v1. Default: the local `senderid serve`.",
        ),
    ] = DEFAULT_BASE_URL,
    json_output: JsonFlag = False,
) -> None:
    """Call the Sender ID API of a senderid server (or Cellcast's)."""
    ctx.obj = Options(api_key=api_key, base_url=base_url, json=json_output)


# -- plumbing --------------------------------------------------------------------------


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _options(ctx: typer.Context) -> Options:
    options = ctx.find_object(Options)
    if options is None:  # pragma: no cover - the group callback always sets it
        return Options(api_key=None, base_url=DEFAULT_BASE_URL, json=False)
    return options


def _print_json(envelope: Any) -> None:
    typer.echo(json.dumps(envelope, indent=2, ensure_ascii=False))


@contextmanager
def _client(options: Options) -> Iterator[Client]:
    try:
        client = Client(api_key=options.api_key, base_url=options.base_url)
    except MissingAPIKeyError:
        _fail(
            "no API key: pass --api-key or set SENDERID_API_KEY (or CELLCAST_API_KEY)", EXIT_USAGE
        )
    except ValueError as exc:
        _fail(f"--base-url: {exc}", EXIT_USAGE)
    with client:
        yield client


def _call(ctx: typer.Context, op: Callable[[Client], R], json_output: bool) -> tuple[R, bool]:
    """Run ``op`` on a client; on an error, say why on stderr and exit with its code.

    Returns the result and whether to print it as JSON (already printed when so)."""
    options = _options(ctx)
    as_json = options.json or json_output
    with _client(options) as client:
        try:
            result = op(client)
        except APIConnectionError as exc:
            _fail(f"no answer: {exc.message}", EXIT_NO_ANSWER)
        except APIStatusError as exc:
            if as_json and exc.envelope:
                _print_json(exc.envelope)
            detail = f" (HTTP {exc.status_code})"
            if isinstance(exc, RateLimitError) and exc.retry_after is not None:
                detail = f" (HTTP 429; retry after {exc.retry_after:g} s)"
            _fail(exc.message + detail, EXIT_REFUSED)
        except ValueError as exc:  # an argument the client refuses before sending
            _fail(str(exc), EXIT_USAGE)
    if as_json:
        _print_json(getattr(result, "envelope", {}))
    return result, as_json


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns as wide as their widest cell; the last column is not padded."""
    widths = [max([len(header[i])] + [len(row[i]) for row in rows]) for i in range(len(header))]
    for line in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(line[:-1], widths, strict=False)] + [line[-1]]
        typer.echo("  ".join(cells).rstrip())


def _numbers_table(items: Sequence[CustomNumber]) -> None:
    _table(
        ("ID", "NUMBER", "STATUS", "CREATED", "VERIFIED", "NAME"),
        [
            (n.id, n.number, n.status, _when(n.created_at), _when(n.verified_at), n.name or "-")
            for n in items
        ],
    )


def _names_table(items: Sequence[BusinessNameRequest]) -> None:
    _table(
        ("ID", "STATUS", "NAME", "CONTACT", "REQUESTED", "REASON"),
        [
            (
                b.id,
                b.status,
                b.businessname,
                b.customer_contact or "-",
                _when(b.requested_at),
                b.reason or "",
            )
            for b in items
        ],
    )


def _page_note(page: Page[Any]) -> None:
    shown = len(page.items)
    note = f"{shown} of {page.total}" if shown else f"none of {page.total}"
    if page.next_offset is not None:
        note += f"; the next page: --offset {page.next_offset}"
    elif shown == 0 and page.offset:
        note += f" at offset {page.offset}"
    typer.echo(note, err=True)


def _list(
    ctx: typer.Context,
    op: Callable[[Client], CustomNumberPage | BusinessNamePage],
    json_output: bool,
    table: Callable[[Sequence[Any]], None],
) -> None:
    """A ``list`` command: the page's items as a table on stdout, the page note on stderr."""
    page, as_json = _call(ctx, op, json_output)
    if not as_json:
        table(page.items)
        _page_note(page)


def _show(
    ctx: typer.Context,
    op: Callable[[Client], R],
    json_output: bool,
    table: Callable[[Sequence[R]], None],
) -> None:
    """A ``get`` command: the one record as a table."""
    record, as_json = _call(ctx, op, json_output)
    if not as_json:
        table([record])


# -- commands --------------------------------------------------------------------------


@api_app.command("token")
def token(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """Check that the API key is accepted."""
    result, as_json = _call(ctx, lambda c: c.verify_token(), json_output)
    if not as_json:
        message = result.envelope.get("message") or "Token verified"
        typer.echo(f"{message} ({_options(ctx).base_url})")


@numbers_app.command("add")
def numbers_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name for the number, e.g. 'Support line'.")],
    number: Annotated[str, typer.Argument(help="The mobile number, e.g. 0491570156.")],
    json_output: JsonFlag = False,
) -> None:
    """Register a number you own; an OTP goes to it (unless the account needs none)."""
    result, as_json = _call(
        ctx, lambda c: c.add_custom_number(name=name, number=number), json_output
    )
    if as_json:
        return
    typer.echo(result.message)
    if result.otp_sent:
        typer.echo(
            "then: senderid api numbers verify "
            f"{shlex.quote(name)} {shlex.quote(number)} CODE",
            err=True,
        )


@numbers_app.command("verify")
def numbers_verify(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The name given to add.")],
    number: Annotated[str, typer.Argument(help="The number given to add.")],
    otp: Annotated[str, typer.Argument(help="The code the SMS brought.")],
    json_output: JsonFlag = False,
) -> None:
    """Confirm a number with the code sent to it; it becomes usable as a sender."""
    result, as_json = _call(
        ctx, lambda c: c.verify_custom_number(name=name, number=number, otp=otp), json_output
    )
    if not as_json:
        typer.echo(result.message)


@numbers_app.command("list")
def numbers_list(
    ctx: typer.Context,
    status: Annotated[
        NumberStatus | None,
        typer.Option("--status", metavar="STATUS", case_sensitive=False,
                     help="Only numbers in this status: " + ", ".join(s.value for s in NumberStatus) + "."),
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
    json_output: JsonFlag = False,
) -> None:
    """List your numbers, newest first."""
    _list(
        ctx,
        lambda c: c.list_custom_numbers(
            status=status.value if status else None, limit=limit, offset=offset
        ),
        json_output,
        _numbers_table,
    )


@numbers_app.command("get")
def numbers_get(ctx: typer.Context, id: RecordId, json_output: JsonFlag = False) -> None:
    """Show one of your numbers."""
    _show(ctx, lambda c: c.get_custom_number(id=id), json_output, _numbers_table)


@numbers_app.command("delete")
def numbers_delete(ctx: typer.Context, id: RecordId, json_output: JsonFlag = False) -> None:
    """Stop using a number (pending or active); it stays listed as deleted."""
    number, as_json = _call(ctx, lambda c: c.delete_custom_number(id=id), json_output)
    if not as_json:
        typer.echo(f"deleted {number.number} ({number.id})")


@numbers_app.command("resend")
def numbers_resend(ctx: typer.Context, id: RecordId, json_output: JsonFlag = False) -> None:
    """Send a fresh OTP for a pending number (the previous code stops working)."""
    number, as_json = _call(ctx, lambda c: c.resend_otp(id=id), json_output)
    if not as_json:
        expires = number.otp_expires_at
        until = f"; it expires at {_when(expires)} UTC" if expires else ""
        typer.echo(f"OTP sent to {number.number}{until}")


@business_app.command("add")
def business_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="3 to 11 letters, digits, spaces or dashes.")],
    contact: Annotated[
        str | None, typer.Option("--contact", help="A number to reach you about the request.")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Ask for a business name as a sender; an operator approves or rejects it."""
    request, as_json = _call(
        ctx, lambda c: c.add_business_name(name=name, contact=contact), json_output
    )
    if not as_json:
        typer.echo(f"requested {request.businessname!r} ({request.id}): {request.status}")


@business_app.command("list")
def business_list(
    ctx: typer.Context,
    status: Annotated[
        NameStatus | None,
        typer.Option("--status", case_sensitive=False, help="Only names in this status."),
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
    json_output: JsonFlag = False,
) -> None:
    """List your business names, oldest first."""
    _list(
        ctx,
        lambda c: c.list_business_names(
            status=status.value if status else None, limit=limit, offset=offset
        ),
        json_output,
        _names_table,
    )


@business_app.command("get")
def business_get(ctx: typer.Context, id: RecordId, json_output: JsonFlag = False) -> None:
    """Show one of your business names (with the reason, when rejected)."""
    _show(ctx, lambda c: c.get_business_name(id=id), json_output, _names_table)


@business_app.command("withdraw")
def business_withdraw(ctx: typer.Context, id: RecordId, json_output: JsonFlag = False) -> None:
    """Withdraw a request still awaiting a decision."""
    request, as_json = _call(ctx, lambda c: c.withdraw_business_name(id=id), json_output)
    if not as_json:
        typer.echo(f"withdrew {request.businessname!r} ({request.id}): {request.status}")
