"""SMS providers, chosen by ``SENDERID_SMS_PROVIDER``."""

from __future__ import annotations

PROVIDERS = ("devinbox",)
