"""Settings of what the API accepts and sends: numbers and OTP codes, the sending limits,
gateway messages and ACMA's SMS Sender ID Register.

One group of :class:`senderid.settings.Settings`' fields; the package's docstring says how
the groups make up the settings.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode

from senderid.otp import template_problem

DEFAULT_OTP_TEMPLATE = (
    "Your senderid code is {code}. It registers {number} as an SMS sender. "
    "It expires in {minutes} minutes."
)


class MessagingSettings(BaseSettings):
    """Numbers and OTP codes, the sending limits, gateway messages, ACMA's register."""

    # -- Numbers and OTP codes ------------------------------------------------------------
    allowed_regions: Annotated[tuple[str, ...], NoDecode] = Field(
        ("AU",),
        description="Comma-separated ISO regions whose mobile numbers are accepted; the "
        "first is the region assumed for national-format input.",
        json_schema_extra={"refused": "none, or a code that is not a region with phone numbers"},
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
        json_schema_extra={"refused": "a text without `{code}`, with any other `{field}`, or with an "
                           "unpaired brace (write `{{` and `}}` for a literal one)"},
    )
    otp_ttl_seconds: int = Field(600, ge=60, description="How long an OTP stays valid.")
    otp_max_attempts: int = Field(5, ge=1, description="Wrong tries after which an OTP is dead.")
    test_otps: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Fixed codes for test numbers, e.g. `+61491570156:123456,+6140*:111111`; "
        "matching numbers get that code and no SMS. Empty by default; never set in production.",
        json_schema_extra={"refused": "an entry that is not an E.164 number (or a prefix ending in "
                           "`*`), a colon and 6 digits"},
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

    # -- Right of use: re-verification and reclaim -----------------------------------------
    reverify_after_days: float = Field(
        365, ge=0,
        description="Days after which a number proven by OTP must be proven again "
        "(`POST /api/v1/customNumber/{id}/reverify`), else it lapses: no longer a sender, "
        "still the account's. `0`: never. Decimals allowed (`0.0001` is about 9 seconds). "
        "`senderid account set ID --reverify-after-days N` overrides it per account.",
    )
    reverify_notice_days: float = Field(
        30, ge=0,
        description="Days before a number lapses that its account gets the webhook "
        "`custom_number.reverify_due`. A number is never lapsed sooner than this after that "
        "notice (after an upgrade, or a shorter `SENDERID_REVERIFY_AFTER_DAYS`). Decimals allowed.",
    )
    lapsed_hold_days: float = Field(
        30, ge=0,
        description="Days a lapsed number stays its account's (proven again, it is active "
        "again); then it is `released` and anyone may add it. Decimals allowed.",
    )
    reclaim_grace_days: float = Field(
        7, ge=0,
        description="Days a reclaim waits after the claimer proved possession "
        "(`decidesAt`): the holder may prove possession before then and keep the number; "
        "otherwise it moves to the claimer. Decimals allowed.",
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
        json_schema_extra={"refused": "anything but an http(s) URL with a host"},
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
        "`/api/v1/senderId/check` carry `acmaRegistered`, false also when the provider that sent it "
        "had not authorised the name); `refuse` (a 403 naming the register; a name goes only through "
        "providers of its route that authorised it, docs/business-names.md).",
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
        import phonenumbers

        if isinstance(value, str):
            value = [part.strip().upper() for part in value.split(",") if part.strip()]
        if not value:
            raise ValueError("at least one region is required")
        if not isinstance(value, list | tuple):
            return value  # pydantic refuses it with its own words
        regions: tuple[str, ...] = tuple(value)
        unknown = [region for region in regions if region not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(f"{', '.join(map(repr, unknown))} is not an ISO region with phone numbers (AU, NZ, ...)")
        return regions

    @field_validator("otp_template")
    @classmethod
    def _check_otp_template(cls, value: str) -> str:
        problem = template_problem(value)
        if problem:
            raise ValueError(f"the template {problem}")
        return value

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
