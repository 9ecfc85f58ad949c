"""The schema, as SQLAlchemy Core tables. Alembic migrations build the same thing.

Ids are 24 hex characters (:mod:`senderid.ids`). Times are UTC.

The tables live in modules by concern (accounts, senders, messages, operations), all on
one :data:`metadata`; import them from here.
"""

from __future__ import annotations

from senderid.store.tables.accounts import account_credits, accounts, api_keys
from senderid.store.tables.base import ID, metadata
from senderid.store.tables.messages import (
    dev_inbox,
    early_receipts,
    inbound_messages,
    message_events,
    optouts,
    outbox,
    short_links,
)
from senderid.store.tables.operations import (
    audit_events,
    change_signals,
    idempotency_keys,
    provider_health,
    rate_buckets,
    webhook_events,
)
from senderid.store.tables.senders import (
    business_names,
    custom_numbers,
    otp_failures,
    otp_sends,
    protected_sender_accounts,
    protected_senders,
)

__all__ = [
    "ID",
    "account_credits",
    "accounts",
    "api_keys",
    "audit_events",
    "business_names",
    "change_signals",
    "custom_numbers",
    "dev_inbox",
    "early_receipts",
    "idempotency_keys",
    "inbound_messages",
    "message_events",
    "metadata",
    "optouts",
    "otp_failures",
    "otp_sends",
    "outbox",
    "protected_sender_accounts",
    "protected_senders",
    "provider_health",
    "rate_buckets",
    "short_links",
    "webhook_events",
]
