"""SMS providers, chosen by ``SENDERID_SMS_PROVIDER``, each configured by its own settings;
or several, named, from ``SENDERID_ROUTES_FILE`` (:func:`build_provider` with ``name``: its
name in the file, which ``outbox.provider``, receipts, metrics and health
rows say).

Delivery receipts (SMPP ``deliver_sm``, Twilio status callbacks, Cellcast status
webhooks) come back to :func:`receipt_recorder`, which updates the outbox; replies from phones (SMPP
mobile-originated ``deliver_sm``, Twilio's and Cellcast's inbound webhooks, the
developer inbox's reply form) go to :func:`inbound_recorder`, which keeps each reply for
the account it answers and applies its keyword (STOP, START) to that account's opt-out
list: providers themselves never touch the database.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from senderid.provider_names import PROVIDERS, REQUIRED_SETTINGS

if TYPE_CHECKING:
    from senderid.clock import Clock
    from senderid.delivery.providers.base import Provider
    from senderid.domain.context import Context
    from senderid.domain.optouts import Reply
    from senderid.settings import Settings
    from senderid.store.db import Database

__all__ = ["PROVIDERS", "REQUIRED_SETTINGS", "build_provider", "inbound_recorder",
           "receipt_recorder"]

InboundRecorder = Callable[[str, str, str], "Reply | None"]
# (provider message id, status, the provider's own time of it or None) -> a message matched
ReceiptRecorder = Callable[[str, str, datetime | None], bool]


def inbound_recorder(ctx: Context, provider: str, *, kind: str | None = None,
                     settings: Settings | None = None) -> InboundRecorder:
    """A callback for a text a phone sent: (from, to, body) -> the reply as kept for the
    account it answers, or None (it answers no account). ``provider`` is the provider's
    name (its kind, for the single provider); a named one gives its ``kind`` and its own
    ``settings`` (:meth:`senderid.routing.ProviderSpec.settings_for`)."""
    from senderid.delivery.providers.devinbox import DEFAULT_SENDER
    from senderid.domain import optouts
    from senderid.domain.types import Actor

    settings = settings or ctx.settings
    # What the provider's default sender (the shared sender, unless SENDERID_SHARED_SENDER
    # is set) is called in a reply; None: the provider does not say (Cellcast's account
    # default, the SMSC's default source address).
    default_sender = {"twilio": [settings.twilio_from or ""], "devinbox": [DEFAULT_SENDER]}.get(kind or provider)
    actor = Actor(f"provider:{provider}")

    def record(contact: str, to: str, body: str) -> Reply | None:
        return optouts.record_reply(ctx, contact=contact, to=to, body=body, default_sender=default_sender,
                                    actor=actor, provider=provider)

    return record


def receipt_recorder(db: Database, clock: Clock, provider: str) -> ReceiptRecorder:
    """A callback that records a delivery receipt: (provider message id, status, the
    provider's time or None) -> matched."""
    from senderid import metrics
    from senderid.domain import outbox

    def record(provider_message_id: str, status: str, provider_at: datetime | None = None) -> bool:
        """True when a message matched; a final receipt that matched nothing yet is kept
        until the worker records its message as sent (see outbox.record_receipt)."""
        with db.write() as conn:
            matched = outbox.record_receipt(
                conn, provider=provider, provider_message_id=provider_message_id, status=status,
                now=clock.now(), provider_at=provider_at,
            )
        metrics.SMS_RECEIPTS.labels(provider, status).inc()
        return matched

    return record


def build_provider(settings: Settings, db: Database, clock: Clock, *,
                   on_inbound: InboundRecorder | None = None, name: str | None = None) -> Provider:
    """The provider of the settings (``SENDERID_SMS_PROVIDER``); ``on_inbound`` hears replies
    from phones (SMPP). ``name``: what the provider is called (its kind when not given)."""
    provider = _build(settings, db, clock, on_inbound, name or settings.sms_provider)
    if name is not None:
        provider.name = name  # outbox.provider, receipts, metrics and health rows say it
    return provider


def _build(settings: Settings, db: Database, clock: Clock, on_inbound: InboundRecorder | None,
           name: str) -> Provider:
    kind = settings.sms_provider
    if kind == "devinbox":
        from senderid.delivery.providers.devinbox import DevInboxProvider

        return DevInboxProvider(db, clock)
    if kind == "cellcast":
        from senderid.delivery.providers.cellcast import CellcastProvider

        return CellcastProvider(settings.cellcast_base_url, settings.cellcast_api_key or "")
    if kind == "twilio":
        from senderid.delivery.providers.twilio import TwilioProvider

        return TwilioProvider(
            settings.twilio_base_url, settings.twilio_account_sid or "", settings.twilio_auth_token or "",
            settings.twilio_from or "", status_callback_url=settings.twilio_status_callback_url,
        )
    if kind == "smpp":
        from senderid.delivery.providers.smpp import SmppProvider

        return SmppProvider(
            settings.smpp_host or "", settings.smpp_port, settings.smpp_system_id or "",
            settings.smpp_password or "", system_type=settings.smpp_system_type,
            on_receipt=receipt_recorder(db, clock, name), on_inbound=on_inbound,
            window=settings.smpp_window, binds=settings.smpp_binds,
        )
    if kind == "webhook":
        from senderid.delivery.providers.webhook import WebhookProvider

        return WebhookProvider(
            settings.webhook_provider_url or "", settings.webhook_provider_secret or "", clock=clock,
        )
    raise ValueError(f"unknown provider {kind!r}")
