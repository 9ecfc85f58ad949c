"""``senderid routes check [FILE]``: read a routes file (:mod:`senderid.routing`) as the
server would at start, and print its providers, its routes in order and which provider a
sample message of each sender kind would take.

FILE defaults to ``SENDERID_ROUTES_FILE``; with neither, the single-provider setup
(``SENDERID_SMS_PROVIDER``) is what is shown. No database is needed. A file that cannot be
used is one line on stderr and exit 2, as at start. No secret of the file is printed:
providers are shown by name, kind, rate cap and callback paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import phonenumbers
import typer

from senderid.cli.common import fail, settings_or_exit
from senderid.cli.output import JSON_HELP, emit_json, masked, table
from senderid.numbers import InvalidNumber, parse_contact
from senderid.provider_names import CALLBACKS
from senderid.routing import Route, Routes, RoutesFileError, load_routes
from senderid.settings import Settings

routes_app = typer.Typer(rich_markup_mode=None, help="Named providers and the routes among them.",
                         no_args_is_help=True)

SAMPLE_SENDERS = ("alpha", "number", "shared")


def _routes(file: Path | None, settings: Settings) -> tuple[str | None, Routes]:
    path = str(file) if file is not None else settings.routes_file
    if not path:
        return None, Routes.single(settings)
    try:
        return path, load_routes(path, settings)
    except RoutesFileError as exc:
        fail(str(exc), code=2)


def _sample_to(to: str | None, settings: Settings) -> str:
    """The sample's recipient in E.164: ``--to``, or an example mobile of the default region."""
    if to is None:
        example = phonenumbers.example_number_for_type(settings.default_region, phonenumbers.PhoneNumberType.MOBILE)
        if example is None:  # every region phonenumbers knows has one; a sample nonetheless
            return "+61412345678"
        return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    try:
        return parse_contact(to, settings.allowed_regions)
    except InvalidNumber as exc:
        fail(f"--to: {exc}", code=2)


def _rate(value: float) -> str:
    return f"{value:g}/s" if value else "no cap"


def _taken(route: Route) -> str:
    """Who takes a message of the route, when every provider is healthy, and after."""
    first, *rest = route.providers
    if route.mode == "round_robin" and rest:
        return f"{', '.join(route.providers)} in turn (round robin among the healthy)"
    return first + (f" (while its breaker is open: {', then '.join(rest)})" if rest else "")


def _unused(routes: Routes) -> list[str]:
    """Routes no message reaches (an earlier route takes all of theirs) and providers no
    route names: worth a word, not a refusal."""
    notes = []
    for i, route in enumerate(routes.routes):
        shadow = next((j for j, earlier in enumerate(routes.routes[:i])
                       if earlier.catch_all and earlier.sender in ("any", route.sender)), None)
        if shadow is not None:
            notes.append(f"route {i + 1} is never used: route {shadow + 1} takes every message it matches")
    named = {name for route in routes.routes for name in route.providers}
    notes += [f"provider {name} is in no route" for name in routes.providers if name not in named]
    return notes


@routes_app.command("check")
def routes_check(
    file: Annotated[Path | None, typer.Argument(
        metavar="[FILE]", help="The routes file (default: SENDERID_ROUTES_FILE).")] = None,
    sender: Annotated[str | None, typer.Option(
        "--sender", metavar="alpha|number|shared", help="The sample's sender kind (default: each of them).")] = None,
    to: Annotated[str | None, typer.Option(
        "--to", metavar="NUMBER", help="The sample's recipient (default: an example mobile number).")] = None,
    account: Annotated[str | None, typer.Option("--account", metavar="ID", help="The sample's account.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Check a routes file and show which provider a sample message would take."""
    if sender is not None and sender not in SAMPLE_SENDERS:
        fail(f"--sender {sender!r} is not one of {', '.join(SAMPLE_SENDERS)}", code=2)
    settings = settings_or_exit()
    path, routes = _routes(file, settings)
    recipient = _sample_to(to, settings)
    samples = []
    for kind in (sender,) if sender else SAMPLE_SENDERS:
        route = routes.route_for(kind, recipient, account)
        samples.append((kind, routes.routes.index(route) + 1, route))
    if as_json:
        emit_json({
            "file": path,
            "providers": [{"name": p.name, "kind": p.kind, "max_per_second": p.max_per_second,
                           "callbacks": [f"/providers/{p.name}/{c}" for c in CALLBACKS.get(p.kind, ())]}
                          for p in routes.providers.values()],
            "routes": [{"sender": r.sender, "to": f"{r.to}*" if r.to else None,
                        "accounts": sorted(r.accounts) if r.accounts is not None else None,
                        "providers": list(r.providers), "mode": r.mode} for r in routes.routes],
            "samples": [{"sender": kind, "to": masked(recipient), "account": account, "route": number,
                         "providers": list(route.providers), "mode": route.mode}
                        for kind, number, route in samples],
            "notes": _unused(routes),
        })
        return
    if path is None:
        typer.echo(f"no routes file (SENDERID_ROUTES_FILE is unset): every SMS goes through the single "
                   f"provider, SENDERID_SMS_PROVIDER={settings.sms_provider}", err=True)
    else:
        typer.echo(f"{path}: {len(routes.providers)} provider(s), {len(routes.routes)} route(s)", err=True)
    table(["PROVIDER", "KIND", "RATE CAP", "CALLBACKS"],
          [(p.name, p.kind, _rate(p.max_per_second),
            ", ".join(f"/providers/{p.name}/{c}" for c in CALLBACKS.get(p.kind, ())) or "-")
           for p in routes.providers.values()], empty="no providers")
    typer.echo("")
    table(["ROUTE", "SENDER", "TO", "ACCOUNTS", "PROVIDERS", "MODE"],
          [(i, r.sender, f"{r.to}*" if r.to else "any",
            ", ".join(sorted(r.accounts)) if r.accounts is not None else "any", ", ".join(r.providers), r.mode)
           for i, r in enumerate(routes.routes, 1)], empty="no routes")
    typer.echo("")
    table(["SAMPLE", "TO", "ACCOUNT", "ROUTE", "TAKEN BY"],
          [(kind, masked(recipient), account or "-", number, _taken(route)) for kind, number, route in samples],
          empty="no samples")
    for note in _unused(routes):
        typer.echo(f"note: {note}", err=True)
