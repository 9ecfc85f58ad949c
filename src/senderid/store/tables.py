"""The schema, as SQLAlchemy Core tables. Alembic migrations build the same thing.

Ids are 24 hex characters (:mod:`senderid.ids`). Times are UTC.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from senderid.store.coltypes import UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

ID = 24  # length of an id

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("otp_required", Boolean, nullable=False, server_default=text("true")),
    Column("webhook_url", String(2000)),
    Column("webhook_secret", String(100)),  # whsec_...; needed in clear to sign events
    # The account has a prepaid balance (in account_credits); false: unlimited.
    Column("prepaid", Boolean, nullable=False, server_default=text("false")),
    # The registrant a business-name request names when it names none (ACMA's register).
    Column("abn", String(11)),  # 11 digits, no spaces
    Column("entity_name", String(200)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Days after which its numbers' proof must be renewed (SENDERID_REVERIFY_AFTER_DAYS when NULL;
    # 0: never).
    Column("reverify_after_days", Float),
    # Set while an operator has the account suspended: its keys are refused, its queued
    # messages wait (the claim skips them) until it is resumed (NULL again).
    Column("suspended_at", UTCDateTime),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("account_id", String(ID), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("key_hash", String(64), nullable=False, unique=True),  # sha256 of the key
    Column("prefix", String(16), nullable=False),  # shown in listings to recognise a key
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
)

# One row per registration of a number by an account. A registration moves
# pending -> active -> deleted, or pending -> cancelled; an active one lapses when its proof
# is not renewed (lapsed -> active again, or released); a reclaim is pending -> claiming ->
# active (the holder's registration ends reclaimed), or cancelled when the holder proves
# possession first. Ended rows are kept (docs/api.md draws the whole life).
custom_numbers = Table(
    "custom_numbers",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("account_id", String(ID), ForeignKey("accounts.id"), nullable=False),
    Column("number", String(20), nullable=False),  # E.164
    Column("name", String(100), nullable=False),
    Column("status", String(16), nullable=False),
    Column("otp_hash", String(64)),  # HMAC-SHA256 of the current code
    Column("otp_expires_at", UTCDateTime),
    Column("otp_attempts", Integer, nullable=False, server_default=text("0")),
    Column("otp_sent_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("verified_at", UTCDateTime),
    Column("ended_at", UTCDateTime),
    # How the number was last proven: otp | operator (an account without OTP activated it).
    Column("verified_by", String(16)),
    # The re-verification schedule: the days it was computed from (NULL: not computed yet;
    # 0: never lapses), when the number lapses, and when its holder was told.
    Column("reverify_after_days", Float),
    Column("reverify_by", UTCDateTime),
    Column("reverify_noticed_at", UTCDateTime),
    # What the current code was sent for: NULL (an add), reverify, reclaim.
    Column("otp_purpose", String(16)),
    # A claim's decision time (status claiming).
    Column("decides_at", UTCDateTime),
    # When the worker's right-of-use tick must next look at the row (a notice, a lapse, a
    # release, a claim's decision); NULL: never.
    Column("due_at", UTCDateTime),
    # A number is held (active or lapsed) by at most one account: enforced by the database.
    Index(
        "uq_custom_numbers_held_number",
        "number",
        unique=True,
        sqlite_where=text("status IN ('active', 'lapsed')"),
        postgresql_where=text("status IN ('active', 'lapsed')"),
    ),
    # One open claim per number.
    Index(
        "uq_custom_numbers_claiming_number",
        "number",
        unique=True,
        sqlite_where=text("status = 'claiming'"),
        postgresql_where=text("status = 'claiming'"),
    ),
    Index("ix_custom_numbers_due_at", "due_at"),
    # An account has at most one pending registration of a number.
    Index(
        "uq_custom_numbers_pending_account_number",
        "account_id",
        "number",
        unique=True,
        sqlite_where=text("status = 'pending'"),
        postgresql_where=text("status = 'pending'"),
    ),
    Index("ix_custom_numbers_number_status", "number", "status"),
    Index("ix_custom_numbers_account_status_created", "account_id", "status", "created_at"),
)

# Numbers (E.164), prefixes (``+6149157``: every number that starts so) and names (lower
# case; a business name containing one as a whole word) that only the accounts listed in
# protected_sender_accounts may register.
protected_senders = Table(
    "protected_senders",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("kind", String(8), nullable=False),  # number | prefix | name
    Column("value", String(100), nullable=False),  # what is compared
    Column("shown", String(100), nullable=False),  # as listings show it (+6149157*, ANZ)
    Column("note", String(500)),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("kind", "value"),
)

protected_sender_accounts = Table(
    "protected_sender_accounts",
    metadata,
    Column("protected_id", String(ID), ForeignKey("protected_senders.id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", String(ID), ForeignKey("accounts.id"), primary_key=True),
)

# One row per OTP SMS requested: the sliding windows of the sending limits. Each row
# carries its position in each window's scope (1, 2, 3, ... per account and number, per
# number, per account), so "the limit-th newest send" is one index lookup at position
# last - limit + 1, whatever the limit (no walk over the window).
otp_sends = Table(
    "otp_sends",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(ID), nullable=False),
    Column("number", String(20), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("account_number_seq", Integer),
    Column("number_seq", Integer),
    Column("account_seq", Integer),
    Index("ix_otp_sends_account_number_created", "account_id", "number", "created_at"),
    Index("ix_otp_sends_number_created", "number", "created_at"),
    Index("ix_otp_sends_account_created", "account_id", "created_at"),
    Index("ix_otp_sends_account_number_seq", "account_id", "number", "account_number_seq"),
    Index("ix_otp_sends_number_seq", "number", "number_seq"),
    Index("ix_otp_sends_account_seq", "account_id", "account_seq"),
)

# One row per wrong OTP tried: the daily guess budgets (per account and number, per
# account), which resends do not reset. Rows older than a day are purged by the worker.
otp_failures = Table(
    "otp_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(ID), nullable=False),
    Column("number", String(20), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_otp_failures_account_number_created", "account_id", "number", "created_at"),
    Index("ix_otp_failures_account_created", "account_id", "created_at"),
    Index("ix_otp_failures_created", "created_at"),
)

# The outbox: every SMS leaves through here, written in the transaction that
# caused it and handed to the provider by a worker.
outbox = Table(
    "outbox",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("kind", String(16), nullable=False),  # otp | sms
    Column("account_id", String(ID)),
    Column("custom_number_id", String(ID)),
    Column("to_number", String(20), nullable=False),
    Column("sender", String(20), nullable=False),
    Column("body", Text, nullable=False),
    # What `body` becomes once handed off (the OTP blanked out); NULL keeps the body.
    Column("redacted_body", Text),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime),
    Column("claimed_by", String(64)),
    Column("expires_at", UTCDateTime),  # not worth sending after this (an expired OTP)
    Column("provider", String(32)),
    Column("provider_message_id", String(128)),
    Column("last_error", String(500)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    # A gateway message's SMS parts, what it cost (thousandths of a credit) and the
    # caller's customString: the usage report sums them.
    Column("parts", Integer),
    Column("credits", Integer),
    Column("custom_string", String(64)),
    # What the message took from a prepaid balance when it was queued (thousandths of a
    # credit; 0 or NULL: nothing, its account was unlimited): exactly what a cancel gives back.
    Column("charged", Integer),
    # A business-name sender under SENDERID_UNREGISTERED_ALPHA=warn|refuse: whether the name
    # was on ACMA's register when queued (message.sent tells it); NULL otherwise.
    Column("acma_registered", Boolean),
    # The due time the caller asked for (scheduleAt / delay; NULL: at once), and when a
    # delivery receipt said the SMS was delivered (the provider's time when it gives one).
    Column("scheduled_at", UTCDateTime),
    Column("delivered_at", UTCDateTime),
    # The claim's lanes (delivery/lanes.py): OTP first in due order; bulk SMS per account.
    Index("ix_outbox_status_kind_next_attempt", "status", "kind", "next_attempt_at"),
    Index("ix_outbox_status_kind_account_next_attempt", "status", "kind", "account_id", "next_attempt_at"),
    Index("ix_outbox_custom_number", "custom_number_id"),
    Index("ix_outbox_account_created", "account_id", "created_at"),
    Index("ix_outbox_provider_message", "provider_message_id"),  # delivery receipts
    Index("ix_outbox_to_number_sent", "to_number", "sent_at"),  # who a STOP reply answers
    Index("ix_outbox_status_updated", "status", "updated_at"),  # ended messages by age (retention)
    # An account's messages, newest first, by status, recipient or customString (the list)
    Index("ix_outbox_account_status_created", "account_id", "status", "created_at"),
    Index("ix_outbox_account_to_created", "account_id", "to_number", "created_at"),
    Index("ix_outbox_account_custom_created", "account_id", "custom_string", "created_at"),
)

# Each message's history: one row per change of its status, written by the outbox
# package in the statement batch of the change (queued, each attempt's result with its
# provider, sent, the receipt's delivered or failed, cancelled with its reason). ``detail``
# never holds a body or a code.
message_events = Table(
    "message_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(ID), nullable=False),
    Column("account_id", String(ID)),
    Column("status", String(16), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("detail", String(500)),
    Column("provider", String(32)),
    Column("attempt", Integer),
    Index("ix_message_events_message", "message_id", "id"),
)

# An account's prepaid balance in thousandths of a credit (only for accounts.prepaid).
# Apart from accounts so that a debit does not signal every process to drop cached callers.
account_credits = Table(
    "account_credits",
    metadata,
    Column("account_id", String(ID), ForeignKey("accounts.id"), primary_key=True),
    Column("balance", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Each account's opt-out list: numbers (E.164) the gateway never sends to for it.
optouts = Table(
    "optouts",
    metadata,
    Column("account_id", String(ID), ForeignKey("accounts.id"), primary_key=True),
    Column("number", String(20), primary_key=True),
    Column("source", String(16), nullable=False),  # api | reply | link | console | cli
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_optouts_account_id_created_at", "account_id", "created_at"),
)

# Short links of gateway messages: one code per message and link (clicks per contact).
# A message's unsubscribe link is one too: ``optout_number`` set (the contact it opts out),
# ``long_url`` empty; following it shows a page and never counts a click.
short_links = Table(
    "short_links",
    metadata,
    Column("code", String(16), primary_key=True),
    Column("account_id", String(ID), nullable=False),
    Column("message_id", String(ID), nullable=False),
    Column("long_url", String(2000), nullable=False),
    Column("clicks", Integer, nullable=False, server_default=text("0")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_click_at", UTCDateTime),
    Column("optout_number", String(20)),
    Index("ix_short_links_message_id", "message_id"),
)

# Replies from phones (any text through a provider's inbound path), kept for the account
# whose SMS the phone last received from the number it answered. ``reply_to``: that SMS.
# ``body`` is blanked SENDERID_MESSAGE_BODY_RETENTION_DAYS after ``received_at``.
inbound_messages = Table(
    "inbound_messages",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("account_id", String(ID), ForeignKey("accounts.id"), nullable=False),
    Column("from_number", String(20), nullable=False),
    Column("to_address", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("reply_to", String(ID)),
    Column("provider", String(32), nullable=False),
    Column("body_blanked", Boolean, nullable=False, server_default=text("false")),
    Index("ix_inbound_messages_account_id_received_at", "account_id", "received_at"),
    Index("ix_inbound_messages_account_id_from_number_received_at", "account_id", "from_number", "received_at"),
    Index("ix_inbound_messages_body_blanked_received_at", "body_blanked", "received_at"),
)

# Delivery receipts that came before the worker recorded their message as sent (the
# provider answered the send and the receipt raced the worker's write). The worker
# applies them when it records the message; unclaimed ones are dropped after a day.
early_receipts = Table(
    "early_receipts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("provider", String(32), nullable=False),
    Column("provider_message_id", String(128), nullable=False),
    Column("status", String(16), nullable=False),  # delivered | failed
    Column("received_at", UTCDateTime, nullable=False),
    Index("ix_early_receipts_provider_message", "provider", "provider_message_id"),
    Index("ix_early_receipts_received", "received_at"),
)

# The devinbox provider's own store: what a developer sees at /dev/inbox.
dev_inbox = Table(
    "dev_inbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(ID), nullable=False, unique=True),
    Column("to_number", String(20), nullable=False),
    Column("sender", String(20), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

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

# Business names (alpha sender IDs): requested by an account, approved or
# rejected by an operator. Ended requests are kept.
business_names = Table(
    "business_names",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("account_id", String(ID), ForeignKey("accounts.id"), nullable=False),
    Column("businessname", String(11), nullable=False),
    Column("name_key", String(11), nullable=False),  # lower case, for comparisons
    Column("customer_contact", String(20)),  # E.164
    Column("status", String(16), nullable=False),  # REQUESTED | APPROVED | REJECTED | WITHDRAWN
    Column("reason", String(500)),
    Column("created_by", String(64), nullable=False),
    Column("decided_by", String(64)),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("decided_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # ACMA's SMS Sender ID Register: the registrant, the evidence, and the name's status there.
    Column("abn", String(11)),  # 11 digits, no spaces
    Column("entity_name", String(200)),
    Column("use_case", String(16)),  # business_name | company_name | trademark | domain
    Column("use_case_reference", String(253)),
    Column("acma_status", String(16), nullable=False, server_default=text("'not_submitted'")),
    Column("acma_reference", String(100)),
    Column("acma_updated_by", String(64)),
    Column("acma_updated_at", UTCDateTime),
    # One account holds a name once (while requested or approved).
    Index(
        "uq_business_names_live_account_name",
        "account_id",
        "name_key",
        unique=True,
        sqlite_where=text("status IN ('REQUESTED', 'APPROVED')"),
        postgresql_where=text("status IN ('REQUESTED', 'APPROVED')"),
    ),
    Index("ix_business_names_status_created", "status", "created_at"),
    Index("ix_business_names_account_created", "account_id", "created_at"),
    Index("ix_business_names_account_name_status", "account_id", "name_key", "status"),  # a sender check
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

# Each delivery worker's view of its SMS provider: its circuit breaker's state (kept in the
# worker's memory, written here when it changes) and the last failure it saw. The console's
# overview reads it; a worker adds its row when it starts and removes it when it stops.
provider_health = Table(
    "provider_health",
    metadata,
    Column("worker", String(128), primary_key=True),
    Column("provider", String(32), nullable=False),
    Column("breaker", String(16), nullable=False),  # closed | open | half_open
    Column("since", UTCDateTime, nullable=False),  # when the breaker took that state
    Column("reopens_at", UTCDateTime),  # an open breaker's next trial send
    Column("last_error", String(500)),  # the last transient failure (no SMS text in it)
    Column("last_error_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
)
