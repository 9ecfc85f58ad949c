"""Accounts, their API keys and prepaid balances."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, ForeignKey, String, Table, text

from senderid.store.coltypes import UTCDateTime
from senderid.store.tables.base import ID, metadata

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

# An account's prepaid balance in thousandths of a credit (only for accounts.prepaid).
# Apart from accounts so that a debit does not signal every process to drop cached callers.
account_credits = Table(
    "account_credits",
    metadata,
    Column("account_id", String(ID), ForeignKey("accounts.id"), primary_key=True),
    Column("balance", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
