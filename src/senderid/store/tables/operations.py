"""What runs the service: the audit log, rate buckets, webhook events, Idempotency-Key
replays, change signals, provider health."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, Index, Integer, String, Table, Text, text

from senderid.store.coltypes import UTCDateTime
from senderid.store.tables.base import ID, metadata

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(64), nullable=False),  # key:<id>, cli, system, ...
    Column("ip", String(64)),
    Column("account_id", String(ID)),
    Column("action", String(64), nullable=False),
    Column("subject", String(64)),
    Column("details", JSON, nullable=False),
    Column("request_id", String(128)),  # X-Request-ID of the request that made the change
    Index("ix_audit_events_account_at", "account_id", "at"),
    Index("ix_audit_events_action_at", "action", "at"),
)

# A token bucket per provider, shared by every worker of a deployment, so the provider's
# rate cap (SENDERID_PROVIDER_MAX_PER_SECOND) holds however many workers run.
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Events for an account's webhook, delivered by the worker (an outbox of their own).
webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", String(32), primary_key=True),  # msg_<id>: also the webhook-id header
    Column("account_id", String(ID), nullable=False),
    Column("type", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # queued | sending | delivered | dead
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime),
    Column("last_error", String(500)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime),
    Index("ix_webhook_events_status_next_attempt", "status", "next_attempt_at"),
    Index("ix_webhook_events_account_created", "account_id", "created_at"),
)

# Idempotency-Key replays: the first response to a key, per account, for 24 h.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("account_id", String(ID), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),  # sha256 of method, path and body
    Column("status_code", Integer),  # NULL: an "in progress" row of an earlier version (replaceable)
    Column("response_body", Text),
    Column("response_headers", JSON),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_idempotency_keys_expires", "expires_at"),
)

# Change signals on SQLite (PostgreSQL uses NOTIFY; this table stays empty there): one row
# per channel whose version triggers bump when what the channel covers changes; every
# process polls it (senderid.store.listen).
change_signals = Table(
    "change_signals",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("version", Integer, nullable=False, server_default=text("0")),
)

# Each delivery worker's view of each SMS provider it serves (by name): its circuit
# breaker's state (kept in the worker's memory, written here when it changes) and the last
# failure it saw. The console's overview reads it; a worker adds its rows when it starts and
# removes them when it stops.
provider_health = Table(
    "provider_health",
    metadata,
    Column("worker", String(128), primary_key=True),
    Column("provider", String(32), primary_key=True),
    Column("breaker", String(16), nullable=False),  # closed | open | half_open
    Column("since", UTCDateTime, nullable=False),  # when the breaker took that state
    Column("reopens_at", UTCDateTime),  # an open breaker's next trial send
    Column("last_error", String(500)),  # the last transient failure (no SMS text in it)
    Column("last_error_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
)
