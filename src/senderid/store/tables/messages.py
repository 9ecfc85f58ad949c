"""Messages: the outbox and each message's history, opt-outs, short links, replies, early
receipts, the developer inbox."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, Text, text

from senderid.store.coltypes import UTCDateTime
from senderid.store.tables.base import ID, metadata

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
    # Sent, delivered and failed per hour and per day (the console's charts), over every
    # account or one
    Index("ix_message_events_status_at", "status", "at"),
    Index("ix_message_events_account_status_at", "account_id", "status", "at"),
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
    Column("provider_at", UTCDateTime),  # the provider's own time of the delivery, when it gave one
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
