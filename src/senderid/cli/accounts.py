"""``senderid account`` and ``senderid key``: accounts and their API keys.

Values meant for scripts (``account create``, ``key create``, ``account
webhook-secret``, and ``account set`` when it creates a webhook's signing secret) are
printed alone on stdout; ``--json`` prints them as a JSON object instead. Lists print a
table (:mod:`senderid.cli.output`) or, with ``--json``, a JSON array.
"""

from __future__ import annotations

from typing import Annotated

import typer

from senderid.cli.common import context, fail, refusals
from senderid.cli.output import JSON_HELP, emit_json, table, when
from senderid.domain import accounts, credits, registrant
from senderid.domain.types import CLI, Account

account_app = typer.Typer(rich_markup_mode=None, help="Accounts.", no_args_is_help=True)
key_app = typer.Typer(rich_markup_mode=None, help="API keys.", no_args_is_help=True)

AsJson = Annotated[bool, typer.Option("--json", help=JSON_HELP)]
_PAGE = 200


def _account_json(account: Account) -> dict[str, object]:
    return {"id": account.id, "name": account.name, "otp_required": account.otp_required,
            "created_at": account.created_at, "suspended_at": account.suspended_at}


@account_app.command("create")
def account_create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The account's name, e.g. the customer's.")],
    no_otp: Annotated[bool, typer.Option("--no-otp", help="Numbers become active without an OTP.")] = False,
    as_json: AsJson = False,
) -> None:
    """Create an account; prints its id alone on stdout."""
    with refusals():
        account = accounts.create_account(context(), name, otp_required=not no_otp, actor=CLI)
    if as_json:
        emit_json(_account_json(account))
    else:
        typer.echo(account.id)


@account_app.command("list")
def account_list(as_json: AsJson = False) -> None:
    """List every account, oldest first."""
    ctx = context()
    found: list[Account] = []
    while True:
        page, total = accounts.list_accounts(ctx, limit=_PAGE, offset=len(found))
        found.extend(page)
        if not page or len(found) >= total:
            break
    if as_json:
        emit_json([_account_json(account) for account in found])
        return
    table(["ID", "NAME", "OTP", "STATUS", "CREATED"],
          [[a.id, a.name, "required" if a.otp_required else "off", "suspended" if a.suspended_at else "active",
            when(a.created_at)] for a in found],
          empty="no accounts yet (`senderid account create NAME` makes one)")


@account_app.command("set")
def account_set(
    account_id: Annotated[str, typer.Argument(metavar="ACCOUNT_ID")],
    otp_required: Annotated[
        bool | None,
        typer.Option("--otp-required/--no-otp-required", "--otp/--no-otp",
                     help="Whether adding a number sends an OTP. Turning it off needs --reason."),
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option("--reason", metavar="TEXT", help="Why the account's numbers may be activated without OTP "
                     "(kept in the audit log; needed to turn OTP off)."),
    ] = None,
    reverify_after_days: Annotated[
        str | None,
        typer.Option("--reverify-after-days", metavar="N", help="Days after which the account's numbers must be "
                     "proven again (0: never; 'default': the server's setting)."),
    ] = None,
    webhook_url: Annotated[
        str | None,
        typer.Option("--webhook-url", metavar="URL", help="Where the account's events are POSTed; '' stops them."),
    ] = None,
    credits_: Annotated[
        str | None,
        typer.Option("--credits", metavar="N", help="Prepaid balance in credits (gateway sends stop when it "
                     "runs out), or 'unlimited' (the default of an account)."),
    ] = None,
    abn: Annotated[
        str | None,
        typer.Option("--abn", metavar="ABN", help="Default ABN of the account's business-name requests ('' clears)."),
    ] = None,
    entity_name: Annotated[
        str | None,
        typer.Option("--entity-name", metavar="NAME",
                     help="Default registrant entity name of those requests ('' clears)."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Change an account's settings. Setting the first webhook URL prints its signing secret
    (``--json``: an object of what is now set, with ``webhook_secret`` when one was made)."""
    if (otp_required is None and webhook_url is None and credits_ is None and abn is None and entity_name is None
            and reverify_after_days is None):
        fail("nothing to change: give --otp-required, --no-otp, --webhook-url, --credits, --reverify-after-days, "
             "--abn or --entity-name", code=2)
    if otp_required is False and not (reason or "").strip():
        fail("--no-otp needs --reason TEXT: why the account's numbers may be activated without OTP", code=2)
    days: float | None = None
    if reverify_after_days is not None and reverify_after_days.strip().lower() != "default":
        try:
            days = float(reverify_after_days)
        except ValueError:
            fail(f"--reverify-after-days must be a number of days or 'default', not {reverify_after_days!r}", code=2)
        if not 0 <= days <= accounts.MAX_REVERIFY_DAYS:
            fail(f"--reverify-after-days must be between 0 and {accounts.MAX_REVERIFY_DAYS:,} (0: never)", code=2)
    amount: float | None = None
    if credits_ is not None and credits_.strip().lower() != "unlimited":
        try:
            amount = float(credits_)
        except ValueError:
            fail(f"--credits must be a number of credits or 'unlimited', not {credits_!r}", code=2)
    ctx = context()
    now_set: dict[str, object] = {"id": account_id}
    with refusals():
        if credits_ is not None:  # checked before anything changes
            credits.check_balance(amount)
        if abn is not None or entity_name is not None:  # checked before anything changes
            registrant.clean_abn(abn, "--abn")
            registrant.clean_entity_name(entity_name, "--entity-name")
        if webhook_url is not None:  # first: a refused URL leaves everything unchanged
            change = accounts.set_webhook_url(ctx, account_id, webhook_url, actor=CLI)
            typer.echo(f"account {account_id}: webhook_url={change.url or '(none)'}", err=True)
            now_set["webhook_url"] = change.url
            if change.new_secret:
                now_set["webhook_secret"] = change.new_secret
                if not as_json:
                    typer.echo(change.new_secret)
                typer.echo("the webhook signing secret above is shown only this once "
                           "(`senderid account webhook-secret` makes a new one)", err=True)
        if reverify_after_days is not None:
            account = accounts.set_reverify_after_days(ctx, account_id, days, actor=CLI)
            shown = "default" if account.reverify_after_days is None else f"{account.reverify_after_days:g}"
            typer.echo(f"account {account.id}: reverify_after_days={shown}", err=True)
        if otp_required is not None:
            account = accounts.set_otp_required(ctx, account_id, otp_required, reason=reason, actor=CLI)
            typer.echo(f"account {account.id}: otp_required={str(account.otp_required).lower()}", err=True)
            now_set["otp_required"] = account.otp_required
        if credits_ is not None:
            balance = credits.set_balance(ctx, account_id, amount, actor=CLI)
            typer.echo(f"account {account_id}: credits={'unlimited' if balance is None else balance}", err=True)
            now_set["credits"] = "unlimited" if balance is None else balance
        if abn is not None or entity_name is not None:
            changes = {k: v for k, v in (("abn", abn), ("entity_name", entity_name)) if v is not None}
            defaults = registrant.set_defaults(ctx, account_id, **changes, actor=CLI)
            typer.echo(f"account {account_id}: abn={defaults.abn or '(none)'} "
                       f"entity_name={defaults.entity_name or '(none)'}", err=True)
            now_set.update(abn=defaults.abn, entity_name=defaults.entity_name)
    if as_json:
        emit_json(now_set)


@account_app.command("rename")
def account_rename(
    account_id: Annotated[str, typer.Argument(metavar="ACCOUNT_ID")],
    name: Annotated[str, typer.Argument(metavar="NAME", help="The account's new name.")],
    as_json: AsJson = False,
) -> None:
    """Give an account a new name."""
    with refusals():
        account = accounts.rename(context(), account_id, name, actor=CLI)
    if as_json:
        emit_json(_account_json(account))
    typer.echo(f"account {account.id} is now named {account.name!r}", err=True)


def _suspension(account_id: str, suspended: bool, as_json: bool) -> None:
    with refusals():
        account, changed = accounts.set_suspended(context(), account_id, suspended, actor=CLI)
    if as_json:
        emit_json({**_account_json(account), "changed": changed})
    state = "suspended" if suspended else "in use"
    typer.echo(f"account {account.id} ({account.name}) is {state}{'' if changed else ' already'}", err=True)


@account_app.command("suspend")
def account_suspend(account_id: Annotated[str, typer.Argument(metavar="ACCOUNT_ID")], as_json: AsJson = False) -> None:
    """Suspend an account: its keys answer 401 (as a revoked key does) and its queued messages
    wait, unsent, until `senderid account resume`."""
    _suspension(account_id, True, as_json)


@account_app.command("resume")
def account_resume(account_id: Annotated[str, typer.Argument(metavar="ACCOUNT_ID")], as_json: AsJson = False) -> None:
    """Resume a suspended account: its keys work again and its queued messages are sent."""
    _suspension(account_id, False, as_json)


@account_app.command("webhook-secret")
def account_webhook_secret(account_id: Annotated[str, typer.Argument(metavar="ACCOUNT_ID")],
                           as_json: AsJson = False) -> None:
    """Make a new webhook signing secret; prints it alone on stdout, only this once."""
    with refusals():
        secret = accounts.rotate_webhook_secret(context(), account_id, actor=CLI)
    if as_json:
        emit_json({"account_id": account_id, "webhook_secret": secret})
    else:
        typer.echo(secret)
    typer.echo("events are signed with this secret from now on; the old one no longer verifies", err=True)


@key_app.command("create")
def key_create(
    account_id: Annotated[str, typer.Argument(metavar="ACCOUNT_ID")],
    expires_in_days: Annotated[
        int | None, typer.Option(metavar="DAYS", min=1, max=accounts.MAX_KEY_DAYS,
                                    help="Days until the key stops working (1 to 36500).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Create an API key; prints the key alone on stdout. It is shown only this once."""
    with refusals():
        record, key = accounts.create_key(context(), account_id, expires_in_days=expires_in_days, actor=CLI)
    if as_json:
        emit_json({"id": record.id, "key": key, "prefix": record.prefix, "account_id": record.account_id,
                   "created_at": record.created_at, "expires_at": record.expires_at})
    else:
        typer.echo(key)


@key_app.command("revoke")
def key_revoke(key_or_key_id: Annotated[str, typer.Argument(metavar="KEY_OR_KEY_ID")]) -> None:
    """Revoke a key, given the key itself or its id."""
    with refusals():
        key = accounts.revoke_key(context(), key_or_key_id, actor=CLI)
    typer.echo(f"revoked key {key.id} ({key.prefix}...)", err=True)


@key_app.command("list")
def key_list(account_id: Annotated[str, typer.Argument(metavar="ACCOUNT_ID")], as_json: AsJson = False) -> None:
    """List an account's keys, oldest first (never the keys themselves)."""
    ctx = context()
    with refusals():
        account = accounts.get_account(ctx, account_id)
        keys = accounts.list_keys(ctx, account_id)
    now = ctx.clock.now()

    if as_json:
        emit_json([{"id": k.id, "prefix": k.prefix, "account_id": k.account_id, "account": account.name,
                    "status": k.status(now), "created_at": k.created_at, "expires_at": k.expires_at,
                    "revoked_at": k.revoked_at} for k in keys])
        return
    typer.echo(f"keys of account {account.id} ({account.name})", err=True)
    table(["ID", "PREFIX", "STATUS", "CREATED", "EXPIRES", "REVOKED"],
          [[k.id, k.prefix + "...", k.status(now), when(k.created_at), when(k.expires_at), when(k.revoked_at)]
           for k in keys],
          empty=f"no keys (`senderid key create {account.id}` makes one)")
