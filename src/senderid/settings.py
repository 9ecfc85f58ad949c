"""Every ``SENDERID_*`` setting, typed, documented and validated at start.

Settings are built once (:func:`load_settings` reads the environment and the
``.env`` file) and passed down explicitly; nothing reads the environment anywhere else. Each field's
description is the text of the configuration table in the README (a test
keeps the two in step). The fields are grouped by concern under ``# -- Title --``
comments, and the README's table has one section per group (:func:`sections`).
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from senderid.provider_names import PROVIDERS, REQUIRED_SETTINGS

log = logging.getLogger("senderid.settings")

DEFAULT_DATABASE_URL = "sqlite:///./senderid.db"
DEFAULT_OTP_TEMPLATE = (
    "Your senderid code is {code}. It registers {number} as an SMS sender. "
    "It expires in {minutes} minutes."
)
_PLACEHOLDER_SECRETS = {"changeme", "change-me", "changethis", "secret", "password", "dev"}
MIN_SECRET_LENGTH = 32


class SettingsError(ValueError):
    """A setting that cannot be used; the text says which and why."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SENDERID_", extra="ignore", frozen=True)

    # -- Database -------------------------------------------------------------------------
    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL of the database. `sqlite:///path` or "
        "`postgresql://user@host/db` (the psycopg driver is chosen for you).",
    )
    database_timeout_seconds: float = Field(
        5.0, ge=1, le=300,
        description="Longest a request waits for the database: to connect, for a pooled "
        "connection, for a statement (PostgreSQL) or the write lock (SQLite). Past it the API "
        "answers 503 with `Retry-After` and `/readyz` answers 503. `/healthz` never waits for "
        "the database.",
    )

    # -- HTTP server ----------------------------------------------------------------------
    api_threads: int = Field(
        8, ge=1, le=256,
        description="Threads each server process runs database work on (its connection pool "
        "is sized to match).",
    )
    max_body_bytes: int = Field(
        65536, ge=1024, description="Largest request body accepted (bytes); larger is a 413."
    )
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Comma-separated addresses or networks (`10.0.0.5`, `10.0.0.0/8`) of "
        "reverse proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed. Empty: "
        "none is, and the client address (audit records, the console sign-in throttle, the "
        "developer inbox's loopback rule) is the socket peer.",
    )
    idempotency_ttl_hours: int = Field(
        24, ge=1, description="How long an `Idempotency-Key` and its first response are kept."
    )

    # -- Secrets and API keys -------------------------------------------------------------
    secret_key: str | None = Field(
        None,
        description="Server secret for OTP hashes (at least 32 characters). Required on "
        "PostgreSQL; on SQLite one is generated beside the database file when unset.",
    )
    auth_cache_seconds: float = Field(
        300.0, ge=0,
        description="Longest a server process keeps a valid API key, and an account's allowed "
        "senders, in memory. Any change (a key revoked, a number deleted, a name approved), made "
        "through any process or the CLI, applies in every process within 100 ms regardless: the "
        "database signals it (LISTEN/NOTIFY on PostgreSQL, a polled change counter on SQLite). "
        "0 turns the memory off.",
    )

    # -- Admin API and console ------------------------------------------------------------
    admin_token: str | None = Field(
        None,
        description="Bearer token of the admin API (`/admin/v1`) and the console; both are "
        "off when unset. At least 32 characters.",
    )

    # -- Numbers and OTP codes ------------------------------------------------------------
    allowed_regions: Annotated[tuple[str, ...], NoDecode] = Field(
        ("AU",),
        description="Comma-separated ISO regions whose mobile numbers are accepted; the "
        "first is the region assumed for national-format input.",
    )
    otp_sender: str = Field(
        "",
        description="The sender the OTP SMS goes out as (number or alpha ID). Empty: the provider's "
        "default sender (`SENDERID_TWILIO_FROM`, the Cellcast account's default, the SMSC's); the "
        "developer inbox shows `senderid`.",
    )
    otp_template: str = Field(
        DEFAULT_OTP_TEMPLATE,
        description="Text of the OTP SMS; `{code}`, `{number}` and `{minutes}` are filled in.",
    )
    otp_ttl_seconds: int = Field(600, ge=60, description="How long an OTP stays valid.")
    otp_max_attempts: int = Field(5, ge=1, description="Wrong tries after which an OTP is dead.")
    test_otps: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Fixed codes for test numbers, e.g. `+61491570156:123456,+6140*:111111`; "
        "matching numbers get that code and no SMS. Empty by default; never set in production.",
    )

    # -- Limits: OTP SMS, wrong codes, gateway sends --------------------------------------
    otp_resend_cooldown_seconds: int = Field(
        60, ge=0, description="Minimum wait between two OTP SMS for one account and number."
    )
    otp_max_per_account_number_per_hour: int = Field(
        5, ge=1, description="OTP SMS per account and number in any hour."
    )
    otp_max_per_number_per_hour: int = Field(
        30, ge=1,
        description="OTP SMS to one number in any hour, across all accounts (what a phone can "
        "receive at most). Keep it at least 6 × `SENDERID_OTP_MAX_PER_ACCOUNT_NUMBER_PER_HOUR`: "
        "then up to five other accounts using their whole allowance cannot stop a sixth from "
        "getting its codes (see docs/api.md).",
    )
    otp_max_per_account_per_hour: int = Field(
        100, ge=1, description="OTP SMS per account in any hour, across all numbers."
    )
    otp_max_wrong_per_account_number_per_day: int = Field(
        10, ge=1,
        description="Wrong OTPs one account may try for one number in any 24 hours, across "
        "resends. Past it, verify fails even with the right code and no new code is sent to "
        "that number for the account (429) until the oldest wrong try is a day old.",
    )
    otp_max_wrong_per_account_per_day: int = Field(
        200, ge=1,
        description="Wrong OTPs one account may try in any 24 hours, across all numbers; past "
        "it, as above for every number of the account.",
    )
    send_max_per_account_per_minute: int = Field(
        5000, ge=1,
        description="Messages an account may queue through `/api/v1/gateway` per minute. The "
        "default lets five full calls (1,000 contacts each, the most one call may carry) through "
        "per minute; lower it to cap a runaway client, but not below 1,000 or a documented call "
        "is refused.",
    )

    # -- Gateway messages -----------------------------------------------------------------
    shared_sender: str = Field(
        "",
        description="What the gateway's shared sender (`#SharedNum#` or an empty `sender`) "
        "goes out as; empty means the provider's default.",
    )
    message_max_parts: int = Field(
        10, ge=1, le=255, description="Longest message accepted by the gateway, in SMS parts."
    )
    short_link_base: str | None = Field(
        None,
        description="Public base URL of this server's short links, e.g. `https://sms.example.com/s`: "
        "the gateway's `longUrl` links become `<base>/<code>` and `GET /s/<code>` redirects. Unset: "
        "a request with `longUrl` is refused.",
    )
    credits_shared_sender: float = Field(
        1.0, ge=0, le=1000,
        description="Credits per SMS part sent from the shared sender (`#SharedNum#` or an empty "
        "`sender`): the usage report and prepaid balances count these.",
    )
    credits_custom_sender: float = Field(
        1.3, ge=0, le=1000,
        description="Credits per SMS part sent from a custom number or a business name.",
    )

    # -- ACMA's SMS Sender ID Register ----------------------------------------------------
    unregistered_alpha: Literal["allow", "warn", "refuse"] = Field(
        "allow",
        description="Sending as an approved business name that is not `registered` on ACMA's SMS "
        "Sender ID Register: `allow`; `warn` (it sends, and `message.sent` and "
        "`/api/v1/senderId/check` carry `acmaRegistered`); `refuse` (a 403 naming the register).",
    )

    # -- Delivery worker ------------------------------------------------------------------
    worker_in_process: bool = Field(
        True, description="Run the delivery worker inside `senderid serve`."
    )
    worker_poll_seconds: float = Field(
        0.5, gt=0, description="How often an idle worker looks for due messages."
    )
    worker_batch_size: int = Field(
        20, ge=1, description="Webhook events a worker claims at once (and SMS per `run_once` round)."
    )
    delivery_concurrency: int = Field(
        64, ge=1, le=1024,
        description="SMS a worker keeps in flight to the provider at once (its window). The SMPP "
        "provider caps it at `SENDERID_SMPP_WINDOW` × `SENDERID_SMPP_BINDS`.",
    )
    provider_max_per_second: float = Field(
        0, ge=0,
        description="Most SMS parts per second handed to the provider, across every worker of the "
        "deployment (the TPS a carrier or SMSC sells you). 0: no cap.",
    )
    worker_lease_seconds: int = Field(
        30, ge=5, description="How long a claimed message is reserved before another worker may retry it."
    )
    delivery_max_attempts: int = Field(
        8, ge=1, description="Send attempts before a message is marked dead."
    )
    delivery_backoff_seconds: float = Field(
        2.0, gt=0, description="First retry delay; doubles per attempt, with jitter."
    )
    delivery_backoff_max_seconds: float = Field(
        300.0, gt=0, description="Longest retry delay."
    )
    delivery_breaker_failures: int = Field(
        5, ge=1,
        description="Consecutive transient failures of the SMS provider after which the worker "
        "stops calling it for a cool-off (the circuit breaker opens).",
    )
    delivery_breaker_seconds: float = Field(
        30.0, gt=0,
        description="First cool-off of an open circuit breaker; doubles while the trial send "
        "keeps failing, up to `SENDERID_DELIVERY_BACKOFF_MAX_SECONDS`.",
    )

    # -- SMS provider ---------------------------------------------------------------------
    sms_provider: str = Field(
        "devinbox", description="Where SMS go: `devinbox`, `cellcast`, `twilio`, `smpp` or `webhook`."
    )

    # -- `devinbox` provider --------------------------------------------------------------
    devinbox_allow_remote: bool = Field(
        False,
        description="Let clients other than loopback read and clear the developer inbox "
        "(`/dev/inbox*`), which shows every OTP in clear. Off: only 127.0.0.1 and ::1 may.",
    )

    # -- `cellcast` provider --------------------------------------------------------------
    cellcast_base_url: str = Field(
        "https://api.cellcast.com", description="`cellcast` provider: base URL of the gateway."
    )
    cellcast_api_key: str | None = Field(None, description="`cellcast` provider: API key.")
    cellcast_inbound_secret: str | None = Field(
        None,
        description="`cellcast` provider: secret that signs inbound SMS posted to "
        "`/providers/cellcast/inbound` (HMAC-SHA256 of the body, hex, in `X-Cellcast-Signature`); "
        "the route refuses everything while unset.",
    )

    # -- `twilio` provider ----------------------------------------------------------------
    twilio_base_url: str = Field(
        "https://api.twilio.com", description="`twilio` provider: base URL of the REST API."
    )
    twilio_account_sid: str | None = Field(None, description="`twilio` provider: account SID.")
    twilio_auth_token: str | None = Field(None, description="`twilio` provider: auth token.")
    twilio_from: str | None = Field(
        None, description="`twilio` provider: default From number or Messaging Service SID."
    )
    twilio_status_callback_url: str | None = Field(
        None,
        description="`twilio` provider: public URL of this server's "
        "`/providers/twilio/status` route, for delivery receipts (none when unset).",
    )
    twilio_inbound_url: str | None = Field(
        None,
        description="`twilio` provider: public URL of this server's `/providers/twilio/inbound` "
        "route as set on the Twilio number's incoming-message webhook (the signature covers it; "
        "unset: the URL the request arrived at).",
    )

    # -- `smpp` provider ------------------------------------------------------------------
    smpp_host: str | None = Field(None, description="`smpp` provider: SMSC host.")
    smpp_port: int = Field(2775, ge=1, le=65535, description="`smpp` provider: SMSC port.")
    smpp_system_id: str | None = Field(None, description="`smpp` provider: bind system_id.")
    smpp_password: str | None = Field(None, description="`smpp` provider: bind password.")
    smpp_system_type: str = Field("", description="`smpp` provider: bind system_type, if the SMSC wants one.")
    smpp_window: int = Field(
        10, ge=1, le=1000,
        description="`smpp` provider: `submit_sm` outstanding at once on each bind (the window); "
        "throughput is about window / SMSC response time, per bind.",
    )
    smpp_binds: int = Field(
        1, ge=1, le=64,
        description="`smpp` provider: transceiver sessions kept open in parallel; messages go to "
        "the least loaded. Only as many as the SMSC account allows.",
    )

    # -- `webhook` provider ---------------------------------------------------------------
    webhook_provider_url: str | None = Field(
        None, description="`webhook` provider: URL each SMS is POSTed to as signed JSON."
    )
    webhook_provider_secret: str | None = Field(
        None, description="`webhook` provider: signing secret (Standard Webhooks, `whsec_...`)."
    )

    # -- Account webhooks -----------------------------------------------------------------
    webhook_allow_private: bool = Field(
        False,
        description="Allow account webhook URLs that resolve to private, loopback or link-local "
        "addresses (for tests and closed networks only).",
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, description="How long the worker waits for a webhook receiver to answer."
    )

    # -- Retention ------------------------------------------------------------------------
    message_body_retention_days: int = Field(
        30, ge=1, le=36500,
        description="Days the text of a gateway SMS is kept once the message has ended (sent, "
        "failed, expired or cancelled); the worker then blanks it. Expired `Idempotency-Key` "
        "records are purged by the same housekeeping.",
    )

    # -- Logging and metrics --------------------------------------------------------------
    log_level: str = Field("INFO", description="Python log level of the server.")
    log_format: Literal["json", "text"] = Field(
        "json",
        description="`json`: one JSON object per log line on stderr (for production and log "
        "shippers). `text`: one readable line per record, the level coloured when stderr is a "
        "terminal (for development).",
    )
    metrics_enabled: bool = Field(
        True, description="Serve Prometheus metrics at `GET /metrics` (no key needed)."
    )

    # -- Settings file --------------------------------------------------------------------
    env_file: str | None = Field(
        None,
        description="A file of `SENDERID_...=value` lines read at start; variables set in the "
        "environment win over it. Unset: `./.env` when that file exists. Empty: no file.",
    )

    @field_validator("test_otps", mode="before")
    @classmethod
    def _parse_test_otps(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        parsed: dict[str, str] = {}
        for entry in filter(None, (part.strip() for part in value.split(","))):
            pattern, sep, code = entry.partition(":")
            pattern, code = pattern.strip(), code.strip()
            if not sep or not code.isdigit() or len(code) != 6:
                raise ValueError(f"entry {entry!r} must be NUMBER:6-DIGIT-CODE")
            if not pattern.startswith("+") or not pattern.rstrip("*")[1:].isdigit():
                raise ValueError(
                    f"entry {entry!r}: the number must be E.164 (+61...) or a prefix ending in *"
                )
            parsed[pattern] = code
        return parsed

    @field_validator("allowed_regions", mode="before")
    @classmethod
    def _parse_regions(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip().upper() for part in value.split(",") if part.strip()]
        if not value:
            raise ValueError("at least one region is required")
        return tuple(value)

    @field_validator("short_link_base")
    @classmethod
    def _check_short_link_base(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        scheme, sep, rest = value.partition("://")
        if scheme.lower() not in ("http", "https") or not sep or not rest or rest.startswith("/"):
            raise ValueError("must be an http(s) URL such as https://sms.example.com/s")
        return value


    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_proxies(cls, value: object) -> object:
        import ipaddress

        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for entry in value or ():  # type: ignore[union-attr]
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return tuple(value or ())  # type: ignore[arg-type]

    @field_validator("sms_provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        if value not in PROVIDERS:
            raise ValueError(f"unknown provider {value!r}; choose one of {', '.join(PROVIDERS)}")
        return value

    @model_validator(mode="after")
    def _check_secret(self) -> "Settings":
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
    return Settings(_env_file=path, _env_file_encoding="utf-8")  # type: ignore[call-arg]


_SECTION_COMMENT = re.compile(r"^    # -- (.+?) -+$")
_FIELD_LINE = re.compile(r"^    (\w+): ")


def sections() -> list[tuple[str, list[str]]]:
    """The settings by concern: each ``# -- Title --`` comment in :class:`Settings` and the
    fields under it, in order (sections without fields left out)."""
    found: list[tuple[str, list[str]]] = []
    for line in inspect.getsource(Settings).splitlines():
        if section := _SECTION_COMMENT.match(line):
            found.append((section.group(1), []))
        elif (field := _FIELD_LINE.match(line)) and field.group(1) in Settings.model_fields:
            if not found:
                raise SettingsError(f"{field.group(1)} is above the first section of Settings")
            found[-1][1].append(field.group(1))
    return [(title, names) for title, names in found if names]


def markdown_table() -> str:
    """The README's configuration table, generated from the fields above: one table per
    section, under the section's title."""
    tables = []
    for title, names in sections():
        lines = [f"**{title}**", "", "| variable | default | meaning |", "|---|---|---|"]
        for name in names:
            field = Settings.model_fields[name]
            default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
            if isinstance(default, tuple):
                default = ",".join(default) or ""
            elif isinstance(default, bool):
                default = str(default).lower()
            shown = "—" if default is None else ("(empty)" if default in ("", {}) else f"`{default}`")
            lines.append(f"| `SENDERID_{name.upper()}` | {shown} | {field.description} |")
        tables.append("\n".join(lines))
    return "\n\n".join(tables)


if __name__ == "__main__":  # python -m senderid.settings > table.md
    print(markdown_table())
