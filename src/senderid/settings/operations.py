"""Settings of running the service: retention, logging and metrics, and the settings file.

One group of :class:`senderid.settings.Settings`' fields; the package's docstring says how
the groups make up the settings.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class OperationsSettings(BaseSettings):
    """Retention, logging and metrics, the settings file."""

    # -- Retention ------------------------------------------------------------------------
    message_body_retention_days: int = Field(
        30, ge=1, le=36500,
        description="Days the text of a gateway SMS is kept once the message has ended (sent, "
        "failed, expired or cancelled); the worker then blanks it. Expired `Idempotency-Key` "
        "records are purged by the same housekeeping.",
    )
    message_retention_days: int | None = Field(
        None, ge=1, le=36500,
        description="Days an ended message's row (sent, delivered, failed, dead or cancelled) is "
        "kept once it ended; the worker's housekeeping then deletes it, as `senderid purge` does. "
        "Unset: kept for ever.",
    )
    audit_retention_days: int | None = Field(
        None, ge=1, le=36500,
        description="Days an audit event is kept; the worker's housekeeping then deletes it, as "
        "`senderid purge` does. Unset: kept for ever.",
    )

    # -- Logging and metrics --------------------------------------------------------------
    log_level: str = Field(
        "INFO", description="Python log level of the server.",
        json_schema_extra={"refused": "anything but `DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL` "
                           "(in any case)"},
    )
    log_format: Literal["auto", "json", "text"] = Field(
        "auto",
        description="`json`: one JSON object per log line on stderr (for production and log "
        "shippers). `text`: one readable line per record, the level coloured when stderr is a "
        "terminal (for development). `auto`: `text` when stderr is a terminal, `json` otherwise.",
    )
    metrics_enabled: bool = Field(
        True, description="Serve Prometheus metrics at `GET /metrics` (no key needed)."
    )

    # -- Settings file --------------------------------------------------------------------
    env_file: str | None = Field(
        None,
        description="A file of `SENDERID_...=value` lines read at start; variables set in the "
        "environment win over it. Unset: `./.env` when that file exists. Empty: no file.",
        json_schema_extra={"refused": "a file that does not exist; a value in it refused as above"},
    )

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"{value!r} is not a log level; choose one of {', '.join(LOG_LEVELS)}")
        return level
