"""The names and small values the domain, the worker, the API, the CLI and the console
share, in a module that imports nothing of senderid (so any module may import it):

* one ``StrEnum`` per aggregate's statuses, so a status is never a bare string written
  again elsewhere: each member is the very string stored in the database and shown on
  the wire, so it compares equal to it;
* who acts (:class:`Actor`, :data:`CLI`, :data:`SYSTEM`) and who calls
  (:class:`Account`, :class:`ApiKey`, :class:`Caller`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting, for the audit log: ``key:<key id>``, ``cli``, ``system``..."""

    name: str
    ip: str | None = None


CLI = Actor("cli")
SYSTEM = Actor("system")


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    otp_required: bool
    created_at: datetime
    prepaid: bool = False  # has a prepaid balance (senderid.domain.credits); else unlimited
    # its own SENDERID_REVERIFY_AFTER_DAYS (None: the setting's; 0: its numbers never lapse)
    reverify_after_days: float | None = None
    suspended_at: datetime | None = None  # suspended by an operator: keys refused, messages wait


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    account_id: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def is_usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def status(self, now: datetime) -> KeyStatus:
        if self.revoked_at is not None:
            return KeyStatus.REVOKED
        return KeyStatus.ACTIVE if self.is_usable(now) else KeyStatus.EXPIRED


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated API caller."""

    account: Account
    key_id: str


class OutboxStatus(StrEnum):
    """An SMS in the outbox (see :mod:`senderid.domain.outbox` for its life)."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    DEAD = "dead"
    CANCELLED = "cancelled"


class WebhookStatus(StrEnum):
    """An account webhook event."""

    QUEUED = "queued"
    SENDING = "sending"
    DELIVERED = "delivered"
    DEAD = "dead"


class CustomNumberStatus(StrEnum):
    """A custom number registration. ``expired`` is derived, never stored: a pending one
    whose code ran out (listings and filters show it). ``lapsed``: active once, its proof
    not renewed in time (still the account's, not a sender); ``released``: lapsed too long,
    ended; ``claiming``: another account's reclaim, proven, waiting for its decision;
    ``reclaimed``: ended by a reclaim that won."""

    PENDING = "pending"
    EXPIRED = "expired"
    ACTIVE = "active"
    CANCELLED = "cancelled"
    DELETED = "deleted"
    LAPSED = "lapsed"
    RELEASED = "released"
    CLAIMING = "claiming"
    RECLAIMED = "reclaimed"


class VerifiedBy(StrEnum):
    """How a number was last proven: a code, or an operator's account without OTP."""

    OTP = "otp"
    OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class Registration:
    """A custom number registration as the API, the CLI and the console show it: ``status``
    may be the derived ``expired``, and ``otp_expires_at`` is set only while pending."""

    id: str
    account_id: str
    name: str | None
    number: str
    status: CustomNumberStatus
    otp_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    verified_at: datetime | None
    ended_at: datetime | None
    verified_by: VerifiedBy | None = None
    reverify_by: datetime | None = None  # when an active number lapses (None: never)
    decides_at: datetime | None = None  # a claim's decision time (claiming)


class KeyStatus(StrEnum):
    """An API key, as listings show it (derived from its revocation and expiry times)."""

    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class BusinessNameStatus(StrEnum):
    """A business name request (upper case, as the wire shows it)."""

    REQUESTED = "REQUESTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"


class AcmaStatus(StrEnum):
    """A business name on ACMA's SMS Sender ID Register, as the operator records it."""

    NOT_SUBMITTED = "not_submitted"
    SUBMITTED = "submitted"
    REGISTERED = "registered"
    REFUSED = "refused"


class UseCase(StrEnum):
    """What entitles the registrant to a business name on ACMA's register."""

    BUSINESS_NAME = "business_name"  # a registered business name
    COMPANY_NAME = "company_name"  # an active company name (the reference: its ACN)
    TRADEMARK = "trademark"  # a registered trade mark (its number)
    DOMAIN = "domain"  # a .au domain the entity holds


class UnregisteredAlpha(StrEnum):
    """``SENDERID_UNREGISTERED_ALPHA``: sending as an approved name not on ACMA's register."""

    ALLOW = "allow"
    WARN = "warn"
    REFUSE = "refuse"
