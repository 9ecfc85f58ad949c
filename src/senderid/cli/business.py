"""``senderid business``: the operator's review of business names (alpha sender IDs), and
their status on ACMA's SMS Sender ID Register.

``list`` prints a table on stdout (or JSON with ``--json``; contacts masked, see
:mod:`senderid.cli.output`) and ``export --acma`` the register's CSV; ``approve``, ``reject``
and ``acma`` say what they did on stderr (``approve`` also what the register still needs).
Exit codes: 0 done, 1 refused (unknown id, not REQUESTED, no reason), 2 usage. They call the
same domain functions as the admin API.
"""

from __future__ import annotations

from typing import Annotated

import typer

from senderid.cli.common import context, fail, refusals
from senderid.cli.output import JSON_HELP, emit_json, masked, table, when
from senderid.domain import accounts, acma, business_names
from senderid.domain.types import CLI, AcmaStatus, BusinessNameStatus

business_app = typer.Typer(
    rich_markup_mode=None,
    help="Business names (alpha sender IDs): review requests, ACMA's SMS Sender ID Register.",
    no_args_is_help=True,
)

_PAGE = 200


@business_app.command("list")
def list_names(
    status: Annotated[
        BusinessNameStatus | None, typer.Option("--status", metavar="STATUS", case_sensitive=False,
                                                   help="Only names in this status: REQUESTED, APPROVED, "
                                                        "REJECTED or WITHDRAWN.")
    ] = None,
    account: Annotated[str | None, typer.Option("--account", metavar="ACCOUNT_ID",
                                                   help="Only this account's names.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """List business names, oldest first (all of them, or those in one status)."""
    ctx = context()
    rows: list[business_names.BusinessName] = []
    with refusals():
        while True:
            page, total = business_names.list_(
                ctx, account_id=account, status=status.value if status else None,
                limit=_PAGE, offset=len(rows),
            )
            rows.extend(page)
            if not page or len(rows) >= total:
                break
    names = accounts.names(ctx, {row.account_id for row in rows})
    if as_json:
        emit_json([{"id": r.id, "account_id": r.account_id, "account": names.get(r.account_id),
                    "businessname": r.businessname, "status": r.status,
                    "customer_contact": masked(r.customer_contact), "acma_status": r.acma_status,
                    "acma_authorised_providers": list(r.acma_providers),
                    "reason": r.reason, "requested_at": r.requested_at, "decided_at": r.decided_at,
                    "decided_by": r.decided_by} for r in rows])
        return
    which = f" {status.value}" if status else ""
    table(["ID", "ACCOUNT", "ACCOUNT NAME", "STATUS", "NAME", "CONTACT", "ACMA", "AUTHORISED BY", "REQUESTED",
           "REASON"],
          [[r.id, r.account_id, names.get(r.account_id, "?"), r.status, r.businessname,
            masked(r.customer_contact), r.acma_status, ",".join(r.acma_providers) or "every provider",
            when(r.requested_at), r.reason or ""] for r in rows],
          empty=f"no{which} business names")


@business_app.command("approve")
def approve(name_id: Annotated[str, typer.Argument(metavar="ID", help="The request's 24-hex _id.")]) -> None:
    """Approve a REQUESTED business name: it becomes usable as the account's sender."""
    with refusals():
        name = business_names.approve(context(), name_id, actor=CLI)
    typer.echo(f"approved {name.businessname!r} ({name.id}) for account {name.account_id}", err=True)
    _say_missing(name)


def _say_missing(name: business_names.BusinessName) -> None:
    missing = name.missing_for_register()
    if missing:
        typer.echo(f"for {acma.REGISTER} it still lacks: {', '.join(missing)}", err=True)


@business_app.command("reject")
def reject(
    name_id: Annotated[str, typer.Argument(metavar="ID", help="The request's 24-hex _id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why, in words the customer can act on.")],
) -> None:
    """Reject a REQUESTED business name, with a reason."""
    with refusals():
        name = business_names.reject(context(), name_id, reason=reason, actor=CLI)
    typer.echo(f"rejected {name.businessname!r} ({name.id}) for account {name.account_id}", err=True)


@business_app.command("acma")
def acma_status(
    name_id: Annotated[str, typer.Argument(metavar="ID", help="The business name's 24-hex _id.")],
    status: Annotated[
        AcmaStatus, typer.Option("--status", case_sensitive=False, help="Its status on ACMA's register.")
    ],
    reference: Annotated[
        str | None, typer.Option("--reference", help="ACMA's reference ('' clears; omitted: kept).")
    ] = None,
    provider: Annotated[
        list[str] | None, typer.Option("--provider", metavar="NAME",
                                       help="A provider (carrier) that has authorised the name on the register, "
                                            "as the routes file names it; repeat for each (the list replaces the "
                                            "recorded one; omitted: kept).")
    ] = None,
    every_provider: Annotated[
        bool, typer.Option("--every-provider", help="Record that every provider may carry the name "
                                                    "(clears the list of providers).")
    ] = False,
) -> None:
    """Record a business name's status on ACMA's SMS Sender ID Register, and the providers
    that have authorised it there.

    Audited, and the account's webhook hears business_name.acma_updated."""
    if provider and every_provider:
        fail("give --provider NAME (repeatable) or --every-provider, not both", code=2)
    providers = [] if every_provider else provider or None
    with refusals():
        name = acma.set_status(context(), name_id, status=status.value, reference=reference, providers=providers,
                               actor=CLI)
    shown = f", reference {name.acma_reference}" if name.acma_reference else ""
    carriers = ", ".join(name.acma_providers) if name.acma_providers else "every provider"
    typer.echo(f"{name.businessname!r} ({name.id}) is {name.acma_status} on the register{shown}; "
               f"authorised for {carriers}", err=True)
    _say_missing(name)


@business_app.command("export")
def export(
    acma_format: Annotated[
        bool, typer.Option("--acma", help="The CSV for ACMA's SMS Sender ID Register (the only format).")
    ] = False,
    status: Annotated[
        BusinessNameStatus | None,
        typer.Option("--status", case_sensitive=False, help="Only names in this status "
                     "(default: REQUESTED and APPROVED)."),
    ] = None,
) -> None:
    """Write the CSV for ACMA's SMS Sender ID Register on stdout, one row per sender ID.

    Columns: sender ID, entity name, ABN, use case, reference, customer contact, account."""
    if not acma_format:
        fail("give --acma: the export is the CSV for ACMA's SMS Sender ID Register", code=2)
    with refusals():
        rows = acma.export_rows(context(), status=status.value if status else None)
    typer.echo(acma.to_csv(rows), nl=False)
