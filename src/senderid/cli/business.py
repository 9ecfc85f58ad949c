"""``senderid business``: the operator's review of business names (alpha sender IDs).

``list`` prints a table on stdout; ``approve`` and ``reject`` say what they did
on stderr. Exit codes: 0 done, 1 refused (unknown id, not REQUESTED, no
reason), 2 usage. They call the same domain functions as the admin API.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from senderid.cli.common import context, refusals
from senderid.domain import business_names
from senderid.domain.types import CLI, BusinessNameStatus

business_app = typer.Typer(help="Business names (alpha sender IDs): review requests.", no_args_is_help=True)

_PAGE = 200


@business_app.command("list")
def list_names(
    status: Annotated[
        Optional[BusinessNameStatus], typer.Option("--status", case_sensitive=False, help="Only names in this status.")
    ] = None,
    account: Annotated[Optional[str], typer.Option("--account", help="Only this account's names.")] = None,
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
    typer.echo(f"{'ID':<24}  {'ACCOUNT':<24}  {'STATUS':<9}  {'NAME':<11}  {'CONTACT':<13}  {'REQUESTED':<19}  REASON")
    for row in rows:
        typer.echo(
            f"{row.id:<24}  {row.account_id:<24}  {row.status:<9}  {row.businessname:<11}  "
            f"{row.customer_contact or '-':<13}  {row.requested_at:%Y-%m-%d %H:%M:%S}  {row.reason or ''}".rstrip()
        )


@business_app.command("approve")
def approve(name_id: Annotated[str, typer.Argument(metavar="ID", help="The request's 24-hex _id.")]) -> None:
    """Approve a REQUESTED business name: it becomes usable as the account's sender."""
    with refusals():
        name = business_names.approve(context(), name_id, actor=CLI)
    typer.echo(f"approved {name.businessname!r} ({name.id}) for account {name.account_id}", err=True)


@business_app.command("reject")
def reject(
    name_id: Annotated[str, typer.Argument(metavar="ID", help="The request's 24-hex _id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why, in words the customer can act on.")],
) -> None:
    """Reject a REQUESTED business name, with a reason."""
    with refusals():
        name = business_names.reject(context(), name_id, reason=reason, actor=CLI)
    typer.echo(f"rejected {name.businessname!r} ({name.id}) for account {name.account_id}", err=True)
