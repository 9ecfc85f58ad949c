"""Senders: custom numbers and their OTP sends and wrong tries, business names, protected senders."""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint, text

from senderid.store.coltypes import UTCDateTime
from senderid.store.tables.base import ID, metadata

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
    # The providers (as the routes file names them) that have authorised the name on the
    # register: a JSON list of names; NULL: every provider.
    Column("acma_providers", Text),
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
