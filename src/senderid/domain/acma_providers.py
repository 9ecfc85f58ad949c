"""A business name's per-carrier authorisations on ACMA's SMS Sender ID Register.

Since 1 July 2026 each carrier authorises a business name on the register separately: a
name sent through a carrier that has not authorised it reaches the phone labelled
"Unverified". A name records the providers (as the routes file names them,
``SENDERID_ROUTES_FILE``; the single provider's kind without one) that have authorised it,
``acmaAuthorisedProviders``: an empty list means every provider, as before per-carrier
records. An operator sets it with the name's ACMA status (:func:`senderid.domain.acma.set_status`).

What the list does depends on ``SENDERID_UNREGISTERED_ALPHA``:

* ``refuse``: a message from a business name goes only through the providers of its route
  that authorised it (:func:`providers_for`, what the worker asks); a request with a
  contact whose route has none of them is refused whole, with the 403 that names the
  register (:func:`refused_contact`, what the gateway asks);
* ``warn``: a message goes by its route, and ``message.sent`` says ``acmaRegistered: false``
  when the provider that sent it had not authorised the name (:func:`registered_through`);
* ``allow``: the list is recorded and shown, nothing more.

Pure rules over names; no web framework, nothing from ``delivery/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from senderid.domain.types import UnregisteredAlpha
from senderid.errors import InvalidRequest

if TYPE_CHECKING:
    from senderid.domain.context import Context
    from senderid.routing import Route

FIELD = "authorisedProviders"  # the admin route's field
MAX_PROVIDERS = 32


def clean(ctx: Context, value: object) -> tuple[str, ...]:
    """The provider names of an authorisation, sorted, each once: every one must be a provider
    of this deployment (``ctx.routes.providers``); an empty list means every provider."""
    known = ctx.routes.providers
    if not isinstance(value, list | tuple) or not all(isinstance(n, str) for n in value):
        raise InvalidRequest(f"{FIELD} must be a list of provider names ([] for every provider)")
    if len(value) > MAX_PROVIDERS:
        raise InvalidRequest(f"{FIELD} names at most {MAX_PROVIDERS} providers")
    names = sorted({n.strip() for n in value})
    unknown = [n for n in names if n not in known]
    if unknown:
        shown = ", ".join(repr(n) for n in unknown)
        raise InvalidRequest(
            f"{FIELD}: {shown} {'is not a provider' if len(unknown) == 1 else 'are not providers'} of this "
            f"deployment; the providers are {', '.join(sorted(known))}"
        )
    return tuple(names)


def encode(names: Sequence[str]) -> str | None:
    """The column's value: a JSON list, or NULL for every provider."""
    return json.dumps(list(names)) if names else None


def decode(value: str | None) -> tuple[str, ...]:
    """The column's names (empty: every provider)."""
    if not value:
        return ()
    names = json.loads(value)
    return tuple(str(n) for n in names) if isinstance(names, list) else ()


def authorised_by(provider: str | None, authorised: Sequence[str]) -> bool:
    """Whether ``provider`` has authorised a name whose authorisations are ``authorised``
    (empty: every provider has). An unknown provider (None) has not, unless every one has."""
    return not authorised or (provider is not None and provider in authorised)


def _refuses(ctx: Context) -> bool:
    return UnregisteredAlpha(ctx.settings.unregistered_alpha) == UnregisteredAlpha.REFUSE


def providers_for(ctx: Context, route: Route, authorised: Sequence[str]) -> tuple[str, ...]:
    """The providers of ``route`` that may carry a message from a business name whose
    authorisations are ``authorised``: under ``refuse`` only those that authorised it (maybe
    none: then the message must not be sent), otherwise every provider of the route. For a
    message from a number or the shared sender pass ``()``: every provider of the route."""
    if _refuses(ctx):
        return ctx.routes.authorised(route, tuple(authorised))
    return route.providers


def refused_contact(ctx: Context, account_id: str, authorised: Sequence[str], numbers: Iterable[str]) -> str | None:
    """Under ``refuse``, the first of ``numbers`` (E.164) whose route has no provider that
    authorised the business name; None when every one has one (or the policy is not refuse,
    or the name is authorised everywhere)."""
    if not authorised or not _refuses(ctx):
        return None
    routes = ctx.routes
    for number in numbers:
        route = routes.route_for("business_name", number, account_id)
        if not routes.authorised(route, tuple(authorised)):
            return number
    return None


def not_authorised_message(name: str, number: str) -> str:
    """The refusal's words: they name the register, not the deployment's providers."""
    return (
        f"You may not send as {name!r} to {number}: this platform sends a business name only through "
        "carriers that have authorised it on ACMA's SMS Sender ID Register, and none of those that carry "
        "this message has authorised this one yet; ask your provider to have it authorised"
    )


def registered_through(registered: bool | None, provider: str | None, authorised: Sequence[str]) -> bool | None:
    """What ``message.sent`` says as ``acmaRegistered``: None (not told), or whether the name is
    registered and the provider that sent it had authorised it."""
    if registered is None:
        return None
    return registered and authorised_by(provider, authorised)
