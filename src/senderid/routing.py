"""Named providers and the routes that choose among them: ``SENDERID_ROUTES_FILE``.

The file is TOML (the format is a contract: docs/providers.md)::

    [providers.primary]          # a name of the operator's choosing
    kind = "smpp"                # devinbox | cellcast | twilio | smpp | webhook
    host = "10.0.0.5"            # that kind's settings: the SENDERID_<KIND>_* names,
    system_id = "acme"           # lower case, without the prefix
    password = "..."
    max_per_second = 50          # this provider's rate cap (SMS parts per second; 0: none)

    [[routes]]                   # the first route that matches a message decides
    sender = "alpha"             # alpha | number | shared | any (default any)
    to = "+614*"                 # optional prefix of the recipient
    accounts = ["<account id>"]  # optional
    providers = ["primary", "backup"]
    mode = "failover"            # failover (in order, default) | round_robin

Without the file the deployment has one provider, named after its kind
(``SENDERID_SMS_PROVIDER``), and one route that sends everything through it:
:meth:`Routes.single`. Pure data and rules: this module imports no web framework and
nothing from ``delivery/``; the worker (which provider sends a message) and the gateway
(whether any provider may carry a business name) both ask :meth:`Routes.route_for`.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from senderid.ids import is_id
from senderid.provider_names import PROVIDERS, REQUIRED_SETTINGS

if TYPE_CHECKING:
    from senderid.settings import Settings

__all__ = [
    "KIND_OPTIONS",
    "MODES",
    "SENDER_KINDS",
    "ProviderSpec",
    "Route",
    "Routes",
    "RoutesFileError",
    "SECRET_OPTIONS",
    "load_routes",
    "parse_routes",
    "route_sender_kind",
]

SENDER_KINDS = ("alpha", "number", "shared", "any")
MODES = ("failover", "round_robin")
# A provider's name: what its callback paths (/providers/<name>/status) and metrics say.
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_TO_PREFIX = re.compile(r"^\+?[0-9]*\*?$")

# The settings each kind takes in the file: key in the file -> field of Settings
# (SENDERID_<KIND>_<KEY>, lower case, without the prefix).
KIND_OPTIONS: dict[str, dict[str, str]] = {
    "devinbox": {"allow_remote": "devinbox_allow_remote"},
    "cellcast": {"base_url": "cellcast_base_url", "api_key": "cellcast_api_key",
                 "inbound_secret": "cellcast_inbound_secret"},
    "twilio": {"base_url": "twilio_base_url", "account_sid": "twilio_account_sid",
               "auth_token": "twilio_auth_token", "from": "twilio_from",
               "status_callback_url": "twilio_status_callback_url", "inbound_url": "twilio_inbound_url"},
    "smpp": {"host": "smpp_host", "port": "smpp_port", "system_id": "smpp_system_id",
             "password": "smpp_password", "system_type": "smpp_system_type", "window": "smpp_window",
             "binds": "smpp_binds"},
    "webhook": {"provider_url": "webhook_provider_url", "provider_secret": "webhook_provider_secret"},
}
# The options that are secrets: never in an error line, a repr or `senderid routes check`.
SECRET_OPTIONS = frozenset({"password", "auth_token", "api_key", "provider_secret", "inbound_secret"})
_OPTION_FIELDS = frozenset(name for options in KIND_OPTIONS.values() for name in options.values())
_COMMON_KEYS = ("kind", "max_per_second")
_ROUTE_KEYS = ("sender", "to", "accounts", "providers", "mode")

# The gateway's sender kinds (domain.senders.Sender.kind) as a route names them.
_ROUTE_KIND = {"business_name": "alpha", "custom_number": "number", "shared": "shared"}


def route_sender_kind(sender_kind: str) -> str:
    """The route's word for a sender kind: ``business_name`` -> ``alpha``,
    ``custom_number`` -> ``number``, ``shared`` -> ``shared``."""
    return _ROUTE_KIND.get(sender_kind, sender_kind)


class RoutesFileError(ValueError):
    """The routes file cannot be used; the text is one line saying where and why."""


@dataclass(frozen=True)
class ProviderSpec:
    """One named provider: its kind, its settings (as Settings field names) and its rate cap."""

    name: str
    kind: str
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)  # secrets among them
    max_per_second: float = 0.0  # SMS parts per second; 0: no cap

    def settings_for(self, settings: Settings) -> Settings:
        """The deployment's settings with this provider's in place of the single provider's:
        what :func:`senderid.delivery.providers.build_provider` builds it from. Every
        provider setting (``SENDERID_<KIND>_*``) is the file's or its default, never the
        environment's: a named provider shares no secret, URL or callback address with the
        single-provider settings."""
        from senderid.settings import Settings as _Settings

        values = settings.model_dump()
        for field_name in _OPTION_FIELDS:
            values[field_name] = _Settings.model_fields[field_name].default
        values.update(self.options)
        values["sms_provider"] = self.kind
        values["provider_max_per_second"] = self.max_per_second
        values["routes_file"] = None  # the file is read once, by the deployment's settings
        return _Settings.model_validate(values)


@dataclass(frozen=True)
class Route:
    """Which providers carry the messages it matches, and how they share them."""

    providers: tuple[str, ...]
    sender: str = "any"  # alpha | number | shared | any
    to: str = ""  # a prefix of the recipient ("+614"); empty: any recipient
    accounts: frozenset[str] | None = None  # None: any account
    mode: str = "failover"  # failover | round_robin

    def matches(self, sender_kind: str, to: str, account_id: str | None) -> bool:
        """``sender_kind`` in the route's words (alpha | number | shared), ``to`` in E.164."""
        if self.sender != "any" and self.sender != sender_kind:
            return False
        if self.to and not _plus(to).startswith(self.to):
            return False
        return self.accounts is None or account_id in self.accounts

    @property
    def catch_all(self) -> bool:
        """Matches every message of its sender kind (no recipient or account filter)."""
        return not self.to and self.accounts is None

    def describe(self) -> str:
        parts = [f"sender={self.sender}"]
        if self.to:
            parts.append(f"to={self.to}*")
        if self.accounts is not None:
            parts.append(f"accounts={','.join(sorted(self.accounts))}")
        parts.append(f"providers={','.join(self.providers)}")
        parts.append(f"mode={self.mode}")
        return " ".join(parts)


def _plus(number: str) -> str:
    return number if number.startswith("+") else f"+{number}"


@dataclass(frozen=True)
class Routes:
    """The deployment's providers by name and its routes, first match decides."""

    providers: Mapping[str, ProviderSpec]
    routes: tuple[Route, ...]
    # True: read from SENDERID_ROUTES_FILE; False: today's single provider (Routes.single).
    from_file: bool = False

    @classmethod
    def single(cls, settings: Settings) -> Routes:
        """One provider, named after its kind (``SENDERID_SMS_PROVIDER``) and configured by the
        ``SENDERID_<KIND>_*`` settings, and one route that sends everything through it."""
        kind = settings.sms_provider
        spec = ProviderSpec(kind, kind, {}, settings.provider_max_per_second)
        return cls({kind: spec}, (Route((kind,)),), from_file=False)

    def settings_of(self, name: str, settings: Settings) -> Settings:
        """What the provider ``name`` is built and its callbacks checked with: the deployment's
        own settings for the single provider, its :meth:`ProviderSpec.settings_for` for a
        provider of the file."""
        return self.providers[name].settings_for(settings) if self.from_file else settings

    def route_for(self, sender_kind: str, to: str, account_id: str | None) -> Route:
        """The first route matching a message. ``sender_kind`` is the gateway's
        (``business_name``, ``custom_number``, ``shared``) or the route's word."""
        kind = route_sender_kind(sender_kind)
        for route in self.routes:
            if route.matches(kind, to, account_id):
                return route
        # load_routes refuses a file where some message matches no route.
        raise LookupError(f"no route matches a {kind} message to {to}")

    def authorised(self, route: Route, authorised_providers: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        """The route's providers a business name may go through: those among
        ``authorised_providers`` (its ACMA per-carrier authorisations), or all of them when
        that is empty (authorised everywhere, as before per-carrier records)."""
        if not authorised_providers:
            return route.providers
        allowed = set(authorised_providers)
        return tuple(name for name in route.providers if name in allowed)


def load_routes(path: str | Path, settings: Settings) -> Routes:
    """Read and check a routes file; raises :class:`RoutesFileError` (one line) when it
    cannot be used: unreadable, not TOML, an unknown key or kind, a provider's setting that
    its kind refuses or lacks, a route naming an unknown provider, or some message that no
    route matches."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RoutesFileError(f"routes file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise RoutesFileError(f"routes file {path}: not UTF-8 text") from None
    return parse_routes(text, settings, source=str(path))


def parse_routes(text: str, settings: Settings, *, source: str = "routes file") -> Routes:
    """The routes of a file's text (see :func:`load_routes`)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RoutesFileError(f"{source}: not TOML: {exc}") from None
    unknown = sorted(set(data) - {"providers", "routes"})
    if unknown:
        raise RoutesFileError(f"{source}: unknown key {unknown[0]!r} (the file has [providers.<name>] and [[routes]])")
    raw_providers = data.get("providers")
    if raw_providers is not None and not isinstance(raw_providers, dict):
        raise RoutesFileError(f"{source}: providers must be tables, one per provider: [providers.<name>]")
    if not raw_providers:
        raise RoutesFileError(f"{source}: no providers: name at least one as [providers.<name>]")
    providers = {name: _provider(source, name, table, settings) for name, table in raw_providers.items()}
    raw_routes = data.get("routes")
    if raw_routes is not None and not isinstance(raw_routes, list):
        raise RoutesFileError(f"{source}: routes must be a list of tables: write [[routes]], not [routes]")
    if not raw_routes:
        raise RoutesFileError(f"{source}: no routes: add at least one [[routes]] with providers = [...]")
    routes = tuple(_route(source, i, table, providers) for i, table in enumerate(raw_routes, 1))
    for kind in ("alpha", "number", "shared"):
        if not any(route.catch_all and route.sender in (kind, "any") for route in routes):
            raise RoutesFileError(
                f"{source}: no route matches every {kind} message: end with a route without to or "
                f'accounts whose sender is "{kind}" or "any"'
            )
    return Routes(providers, routes, from_file=True)


def _provider(source: str, name: str, table: object, settings: Settings) -> ProviderSpec:
    where = f"{source}: [providers.{name}]"
    if not _NAME.match(name):
        raise RoutesFileError(f"{where}: a provider's name is lower-case letters, digits, - and _ "
                              "(at most 32, starting with a letter)")
    if not isinstance(table, dict):
        raise RoutesFileError(f"{where}: must be a table of settings")
    kind = table.get("kind")
    if kind is None:
        raise RoutesFileError(f'{where}: no kind: add kind = "<{" | ".join(PROVIDERS)}>"')
    if kind not in PROVIDERS:
        raise RoutesFileError(f"{where}: kind {kind!r} is not one of {', '.join(PROVIDERS)}")
    options = KIND_OPTIONS[kind]
    unknown = sorted(set(table) - set(options) - set(_COMMON_KEYS))
    if unknown:
        raise RoutesFileError(
            f"{where}: unknown key {unknown[0]!r} for a {kind} provider "
            f"(it takes {', '.join([*_COMMON_KEYS, *options])})"
        )
    missing = [key for key, field_name in options.items()
               if field_name in REQUIRED_SETTINGS[kind] and table.get(key) in (None, "")]
    if missing:
        raise RoutesFileError(f"{where}: a {kind} provider needs {', '.join(missing)}")
    rate = table.get("max_per_second", 0)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate) or rate < 0:
        raise RoutesFileError(f"{where}: max_per_second must be a number of SMS parts per second, 0 or more")
    spec = ProviderSpec(name, kind, {options[key]: value for key, value in table.items() if key in options},
                        float(rate))
    try:
        spec.settings_for(settings)
    except ValidationError as exc:
        error = exc.errors()[0]
        field_name = str(error["loc"][0]) if error["loc"] else ""
        key = next((k for k, v in options.items() if v == field_name), None)
        reason = error["msg"].removeprefix("Value error, ")
        raise RoutesFileError(_masked(f"{where}: {key}: {reason}" if key else f"{where}: {reason}", table)) from None
    return spec


def _masked(line: str, table: Mapping[str, Any]) -> str:
    """``line`` with any secret of the provider's table in it replaced by ``***`` (pydantic's
    messages do not quote the value, but a validator's own words might)."""
    for key in SECRET_OPTIONS:
        value = table.get(key)
        if isinstance(value, str) and len(value) >= 4:
            line = line.replace(value, "***")
    return line


def _route(source: str, index: int, table: object, providers: Mapping[str, ProviderSpec]) -> Route:
    where = f"{source}: route {index}"
    if not isinstance(table, dict):
        raise RoutesFileError(f"{where}: must be a table")
    unknown = sorted(set(table) - set(_ROUTE_KEYS))
    if unknown:
        raise RoutesFileError(f"{where}: unknown key {unknown[0]!r} (a route takes {', '.join(_ROUTE_KEYS)})")
    sender = table.get("sender", "any")
    if sender not in SENDER_KINDS:
        raise RoutesFileError(f"{where}: sender {sender!r} is not one of {', '.join(SENDER_KINDS)}")
    to = table.get("to", "")
    if not isinstance(to, str) or not _TO_PREFIX.match(to):
        raise RoutesFileError(f'{where}: to {to!r} is not a number prefix such as "+614*"')
    digits = to.rstrip("*").lstrip("+")
    prefix = f"+{digits}" if digits else ""  # "", "*", "+" and "+*": any recipient
    accounts = table.get("accounts")
    if accounts is not None and (not isinstance(accounts, list) or not accounts
                                 or not all(isinstance(a, str) and a for a in accounts)):
        raise RoutesFileError(f"{where}: accounts must be a list of at least one account id")
    bad_id = next((a for a in accounts or () if not is_id(a)), None)
    if bad_id is not None:
        raise RoutesFileError(f"{where}: accounts: {bad_id!r} is not an account id (24 hex digits, "
                              "as `senderid account list` shows)")
    names = table.get("providers")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise RoutesFileError(f"{where}: providers must be a list of at least one provider name")
    for name in names:
        if name not in providers:
            raise RoutesFileError(f"{where}: unknown provider {name!r} (the file names {', '.join(providers)})")
    if len(set(names)) != len(names):
        raise RoutesFileError(f"{where}: a provider is named twice")
    mode = table.get("mode", "failover")
    if mode not in MODES:
        raise RoutesFileError(f"{where}: mode {mode!r} is not one of {', '.join(MODES)}")
    return Route(tuple(names), sender, prefix, frozenset(accounts) if accounts is not None else None, mode)
