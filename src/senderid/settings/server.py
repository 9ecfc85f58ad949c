"""Settings of the server process: its database, its HTTP server, its secrets and the admin API.

One group of :class:`senderid.settings.Settings`' fields; the package's docstring says how
the groups make up the settings.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode

DEFAULT_DATABASE_URL = "sqlite:///./senderid.db"
_DATABASE_DRIVERS = frozenset({"sqlite", "sqlite+pysqlite", "postgresql", "postgres", "postgresql+psycopg"})


class ServerSettings(BaseSettings):
    """The server process's database, HTTP server, secrets and admin API."""

    # -- Database -------------------------------------------------------------------------
    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL of the database. `sqlite:///path` or "
        "`postgresql://user@host/db` (the psycopg driver is chosen for you).",
        json_schema_extra={"refused": "a text that is not a URL, or a database other than SQLite and "
                           "PostgreSQL (through psycopg)"},
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
        json_schema_extra={"refused": "an entry that is not an IP address or network"},
    )
    idempotency_ttl_hours: int = Field(
        24, ge=1, description="How long an `Idempotency-Key` and its first response are kept."
    )

    # -- Secrets and API keys -------------------------------------------------------------
    secret_key: str | None = Field(
        None,
        description="Server secret for OTP hashes (at least 32 characters). Required on "
        "PostgreSQL; on SQLite one is generated beside the database file when unset.",
        json_schema_extra={"refused": "fewer than 32 characters, a placeholder (`changeme`, `secret`, ...), "
                           "or unset on PostgreSQL (the value is never shown in the refusal)"},
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
        json_schema_extra={"refused": "fewer than 32 characters"},
    )

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("is not a database URL; use sqlite:///path or postgresql://user@host/db") from None
        if url.drivername not in _DATABASE_DRIVERS:
            raise ValueError(f"{url.drivername}:// is not supported; use sqlite:///path or "
                             "postgresql://user@host/db")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        entries = tuple(value or ()) if isinstance(value, list | tuple) else value
        if not isinstance(entries, tuple):
            return entries  # pydantic refuses it with its own words
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return entries
