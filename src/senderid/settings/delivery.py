"""Settings of delivery: the worker, the SMS provider and each provider's own settings,
and account webhooks.

One group of :class:`senderid.settings.Settings`' fields; the package's docstring says how
the groups make up the settings.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic.config import JsonDict
from pydantic_settings import BaseSettings

from senderid.provider_names import PROVIDERS

_HTTP_URL: JsonDict = {"refused": "anything but an http(s) URL with a host"}


def _http_url(value: str | None, *, optional: bool) -> str | None:
    """``value`` if it is an http(s) URL with a host (None or empty: None, when ``optional``)."""
    if value is None or (optional and not value.strip()):
        return None
    scheme, sep, rest = value.strip().partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    if scheme.lower() not in ("http", "https") or not sep or not host or host.startswith(":"):
        raise ValueError("must be an http(s) URL such as https://sms.example.com")
    return value.strip()


class DeliverySettings(BaseSettings):
    """The delivery worker, the SMS provider and each provider's settings, account webhooks."""

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
        300.0, gt=0, description="Longest retry delay.",
        json_schema_extra={"refused": "less than `SENDERID_DELIVERY_BACKOFF_SECONDS`"},
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
        "devinbox", description="Where SMS go: `devinbox`, `cellcast`, `twilio`, `smpp` or `webhook`.",
        json_schema_extra={"refused": "any other name; a provider whose own settings (below) are unset"},
    )

    routes_file: str | None = Field(
        None,
        description="A TOML file of named providers and the routes that choose among them "
        "(failover, round robin, by sender kind, recipient prefix or account; docs/providers.md). "
        "Unset: every SMS goes through `SENDERID_SMS_PROVIDER`.",
        json_schema_extra={"refused": "a file that is missing or not TOML; an unknown key or kind; a "
                           "provider's setting missing or refused; a route naming an unknown provider; "
                           "some message that no route matches (`senderid routes check` says which)"},
    )

    # -- `devinbox` provider --------------------------------------------------------------
    devinbox_allow_remote: bool = Field(
        False,
        description="Let clients other than loopback read and clear the developer inbox "
        "(`/dev/inbox*`), which shows every OTP in clear. Off: only 127.0.0.1 and ::1 may.",
    )

    # -- `cellcast` provider --------------------------------------------------------------
    cellcast_base_url: str = Field(
        "https://api.cellcast.com", description="`cellcast` provider: base URL of the gateway.",
        json_schema_extra=_HTTP_URL,
    )
    cellcast_api_key: str | None = Field(None, description="`cellcast` provider: API key.")
    cellcast_inbound_secret: str | None = Field(
        None,
        description="`cellcast` provider: secret that signs inbound SMS posted to "
        "`/providers/cellcast/inbound` and message statuses posted to `/providers/cellcast/status` "
        "(HMAC-SHA256 of the body, hex, in `X-Cellcast-Signature`); both routes refuse everything "
        "while unset.",
    )

    # -- `twilio` provider ----------------------------------------------------------------
    twilio_base_url: str = Field(
        "https://api.twilio.com", description="`twilio` provider: base URL of the REST API.",
        json_schema_extra=_HTTP_URL,
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
        json_schema_extra=_HTTP_URL,
    )
    twilio_inbound_url: str | None = Field(
        None,
        description="`twilio` provider: public URL of this server's `/providers/twilio/inbound` "
        "route as set on the Twilio number's incoming-message webhook (the signature covers it; "
        "unset: the URL the request arrived at).",
        json_schema_extra=_HTTP_URL,
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
        None, description="`webhook` provider: URL each SMS is POSTed to as signed JSON.",
        json_schema_extra=_HTTP_URL,
    )
    webhook_provider_secret: str | None = Field(
        None, description="`webhook` provider: signing secret (Standard Webhooks, `whsec_...`).",
        json_schema_extra={"refused": "a value that is not `whsec_` and base64 (the value is never "
                           "shown in the refusal)"},
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

    @field_validator("sms_provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        if value not in PROVIDERS:
            raise ValueError(f"unknown provider {value!r}; choose one of {', '.join(PROVIDERS)}")
        return value

    @field_validator("cellcast_base_url", "twilio_base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        return _http_url(value, optional=False) or value

    @field_validator("twilio_status_callback_url", "twilio_inbound_url", "webhook_provider_url")
    @classmethod
    def _check_optional_url(cls, value: str | None) -> str | None:
        return _http_url(value, optional=True)

    @field_validator("webhook_provider_secret")
    @classmethod
    def _check_signing_secret(cls, value: str | None) -> str | None:
        if value:
            from senderid.signing import secret_key

            secret_key(value)  # its ValueError names the form, never the value
        return value

    @model_validator(mode="after")
    def _check_backoff(self) -> Any:
        if self.delivery_backoff_max_seconds < self.delivery_backoff_seconds:
            raise ValueError("SENDERID_DELIVERY_BACKOFF_MAX_SECONDS must be at least "
                             "SENDERID_DELIVERY_BACKOFF_SECONDS")
        return self
