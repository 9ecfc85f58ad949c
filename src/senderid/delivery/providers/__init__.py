"""SMS providers, chosen by ``SENDERID_SMS_PROVIDER``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from senderid.clock import Clock
    from senderid.delivery.providers.base import Provider
    from senderid.settings import Settings
    from senderid.store.db import Database

PROVIDERS = ("devinbox",)


def build_provider(settings: "Settings", db: "Database", clock: "Clock") -> "Provider":
    if settings.sms_provider == "devinbox":
        from senderid.delivery.providers.devinbox import DevInboxProvider

        return DevInboxProvider(db, clock)
    raise ValueError(f"unknown provider {settings.sms_provider!r}")
