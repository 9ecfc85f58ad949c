"""Every ``SENDERID_*`` setting, typed, documented and validated at start.

Settings are built once (:func:`load_settings` reads the environment and the
``.env`` file) and passed down explicitly; nothing reads the environment anywhere else. Each field's
description is the text of the configuration table in the README (a test
keeps the two in step). The fields are grouped by concern under ``# -- Title --``
comments, and the README's table has one section per group (:func:`sections`).

The groups live in the package's modules, each a class holding a few related groups'
fields and the validators of those fields alone: ``server`` (database, HTTP server,
secrets, admin API), ``messaging`` (numbers and OTP codes, limits, gateway messages,
ACMA's register), ``delivery`` (the worker, the SMS provider and each provider's
settings, account webhooks) and ``operations`` (retention, logging and metrics, the
settings file). :class:`Settings` is made of them, with the rules that span groups;
this module also reads the ``.env`` file and writes the README's table
(``python -m senderid.settings``).
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import secrets
import typing
from collections.abc import Mapping
from pathlib import Path

from pydantic import model_validator
from pydantic_settings import SettingsConfigDict

from senderid.provider_names import REQUIRED_SETTINGS
from senderid.settings.delivery import DeliverySettings
from senderid.settings.messaging import DEFAULT_OTP_TEMPLATE, MessagingSettings
from senderid.settings.operations import OperationsSettings
from senderid.settings.server import DEFAULT_DATABASE_URL, ServerSettings

__all__ = [
    "DEFAULT_DATABASE_URL",
    "DEFAULT_ENV_FILE",
    "DEFAULT_OTP_TEMPLATE",
    "MIN_SECRET_LENGTH",
    "Settings",
    "SettingsError",
    "env_file_path",
    "load_settings",
    "markdown_table",
    "refused",
    "sections",
]

log = logging.getLogger("senderid.settings")

_PLACEHOLDER_SECRETS = {"changeme", "change-me", "changethis", "secret", "password", "dev"}
MIN_SECRET_LENGTH = 32


class SettingsError(ValueError):
    """A setting that cannot be used; the text says which and why."""


# pydantic orders a model's fields from its most basic class up, so the groups are listed
# last to first: the fields (and the README's sections) come out as server, messaging,
# delivery, operations.
class Settings(OperationsSettings, DeliverySettings, MessagingSettings, ServerSettings):
    model_config = SettingsConfigDict(env_prefix="SENDERID_", extra="ignore", frozen=True)

    @model_validator(mode="after")
    def _check_secret(self) -> Settings:
        if self.secret_key is not None:
            if self.secret_key.strip().lower() in _PLACEHOLDER_SECRETS:
                raise ValueError("SENDERID_SECRET_KEY is a placeholder; generate one with "
                                 "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`")
            if len(self.secret_key) < MIN_SECRET_LENGTH:
                raise ValueError(f"SENDERID_SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters")
        missing = [f"SENDERID_{name.upper()}" for name in REQUIRED_SETTINGS[self.sms_provider]
                   if not getattr(self, name)]
        if missing:
            raise ValueError(f"the {self.sms_provider} provider needs {', '.join(missing)}")
        if self.admin_token is not None and len(self.admin_token) < MIN_SECRET_LENGTH:
            raise ValueError(f"SENDERID_ADMIN_TOKEN must be at least {MIN_SECRET_LENGTH} characters")
        return self

    # -- derived values ---------------------------------------------------------------

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def default_region(self) -> str:
        return self.allowed_regions[0]

    def test_otp_for(self, number: str) -> str | None:
        """The fixed code for a test number, or None for a real one."""
        if not self.test_otps:
            return None
        exact = self.test_otps.get(number)
        if exact is not None:
            return exact
        for pattern, code in self.test_otps.items():
            if pattern.endswith("*") and number.startswith(pattern[:-1]):
                return code
        return None

    def sqlite_path(self) -> Path | None:
        """Path of the SQLite database file, or None (PostgreSQL, in-memory)."""
        if not self.is_sqlite:
            return None
        from sqlalchemy.engine import make_url

        database = make_url(self.database_url).database
        if not database or database == ":memory:":
            return None
        return Path(database)

    def resolved_secret(self) -> bytes:
        """The server secret, generating a dev one beside the SQLite file if needed."""
        if self.secret_key:
            return self.secret_key.encode()
        path = self.sqlite_path()
        if path is None:
            raise SettingsError(
                "SENDERID_SECRET_KEY is required when the database is not a SQLite file "
                "(all server processes must share one secret)"
            )
        secret_file = path.with_name(path.name + ".secret")
        if not secret_file.exists():
            secret_file.parent.mkdir(parents=True, exist_ok=True)
            secret_file.write_text(secrets.token_urlsafe(48))
            secret_file.chmod(0o600)
            log.warning(
                "SENDERID_SECRET_KEY is not set: generated a development secret in %s", secret_file
            )
        else:
            log.warning("SENDERID_SECRET_KEY is not set: using the development secret in %s", secret_file)
        return secret_file.read_text().strip().encode()


DEFAULT_ENV_FILE = ".env"


def env_file_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """The ``.env`` file to read: ``SENDERID_ENV_FILE`` (which must exist; empty: none),
    else ``./.env`` when it exists, else none."""
    environ = os.environ if environ is None else environ
    chosen = environ.get("SENDERID_ENV_FILE")
    if chosen is None:
        default = Path(DEFAULT_ENV_FILE)
        return default if default.is_file() else None
    if not chosen.strip():
        return None
    path = Path(chosen)
    if not path.is_file():
        raise SettingsError(f"SENDERID_ENV_FILE={chosen}: no such file ({path.resolve()})")
    return path


def load_settings() -> Settings:
    """The settings of this process: the environment, then the ``.env`` file
    (:func:`env_file_path`), then the defaults. Raises ``SettingsError`` for a missing
    env file and pydantic's ``ValidationError`` for a value that cannot be used."""
    path = env_file_path()
    if path is None:
        return Settings()
    return Settings(_env_file=path, _env_file_encoding="utf-8")


_SECTION_COMMENT = re.compile(r"^    # -- (.+?) -+$")
_FIELD_LINE = re.compile(r"^    (\w+): ")


def sections() -> list[tuple[str, list[str]]]:
    """The settings by concern: each ``# -- Title --`` comment in the classes :class:`Settings`
    is made of and the fields under it, in the fields' order (sections without fields left
    out). Each class's first field must be under a title of its own class."""
    found: list[tuple[str, list[str]]] = []
    for group in reversed(Settings.__mro__):
        if group.__module__ != __name__ and not group.__module__.startswith(__name__ + "."):
            continue
        titled = False
        for line in inspect.getsource(group).splitlines():
            if section := _SECTION_COMMENT.match(line):
                found.append((section.group(1), []))
                titled = True
            elif (field := _FIELD_LINE.match(line)) and field.group(1) in Settings.model_fields:
                if not titled:
                    raise SettingsError(f"{field.group(1)} is above the first section of {group.__name__}")
                found[-1][1].append(field.group(1))
    return [(title, names) for title, names in found if names]


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def refused(name: str) -> str:
    """What ``senderid`` refuses at start for the setting ``name`` (exit 2, one line naming
    it): its type, its bounds, its choices and what its validators check (the field's
    ``refused`` text)."""
    field = Settings.model_fields[name]
    parts = []
    annotation = field.annotation
    if typing.get_origin(annotation) is typing.Literal:
        *first, last = (f"`{choice}`" for choice in typing.get_args(annotation))
        parts.append(f"anything but {', '.join(first)} or {last}" if first else f"anything but {last}")
    elif annotation is bool:
        parts.append("anything but true or false (also 1/0, yes/no, on/off)")
    elif annotation is int:
        parts.append("not a whole number")
    elif annotation is float:
        parts.append("not a number")
    for rule in field.metadata:
        for attribute, words in (("ge", "below {}"), ("gt", "{} or below"), ("le", "above {}"),
                                 ("lt", "{} or above")):
            if getattr(rule, attribute, None) is not None:
                parts.append(words.format(_number(getattr(rule, attribute))))
    extra = field.json_schema_extra
    if isinstance(extra, dict) and extra.get("refused"):
        parts.append(str(extra["refused"]))
    return "; ".join(parts) if parts else "—"


def markdown_table() -> str:
    """The README's configuration table, generated from the fields: one table per section,
    under the section's title, with what each setting refuses at start (:func:`refused`)."""
    tables = []
    for title, names in sections():
        lines = [f"**{title}**", "", "| variable | default | meaning | refused at start |", "|---|---|---|---|"]
        for name in names:
            field = Settings.model_fields[name]
            default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]  # no factory here takes the data
            if isinstance(default, tuple):
                default = ",".join(default) or ""
            elif isinstance(default, bool):
                default = str(default).lower()
            shown = "—" if default is None else ("(empty)" if default in ("", {}) else f"`{default}`")
            lines.append(f"| `SENDERID_{name.upper()}` | {shown} | {field.description} | {refused(name)} |")
        tables.append("\n".join(lines))
    return "\n\n".join(tables)
