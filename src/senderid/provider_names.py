"""The SMS providers senderid knows, and the settings each cannot start without.

Pure data, importing nothing: :mod:`senderid.settings` checks ``SENDERID_SMS_PROVIDER``
against it, and :mod:`senderid.delivery.providers` builds the provider it names.
"""

from __future__ import annotations

PROVIDERS = ("devinbox", "cellcast", "twilio", "smpp", "webhook")

# Settings (field names of senderid.settings.Settings) each provider cannot start without.
REQUIRED_SETTINGS: dict[str, tuple[str, ...]] = {
    "devinbox": (),
    "cellcast": ("cellcast_api_key",),
    "twilio": ("twilio_account_sid", "twilio_auth_token", "twilio_from"),
    "smpp": ("smpp_host", "smpp_system_id", "smpp_password"),
    "webhook": ("webhook_provider_url", "webhook_provider_secret"),
}

# The callbacks each kind takes from its provider: /providers/<name>/<callback> for every
# provider of that kind (delivery receipts as "status", replies from phones as "inbound").
# The other kinds have none (an SMSC's receipts and replies come over its own binds).
CALLBACKS: dict[str, tuple[str, ...]] = {
    "twilio": ("status", "inbound"),
    "cellcast": ("status", "inbound"),
}
