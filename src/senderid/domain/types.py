"""The names the domain, the worker, the CLI and the console share: one enum per
aggregate's statuses, so a status is never a bare string written again elsewhere.

They are ``StrEnum``: each member is the very string stored in the database and shown
on the wire, so it compares equal to it.
"""

from __future__ import annotations

from enum import StrEnum


class OutboxStatus(StrEnum):
    """An SMS in the outbox (see :mod:`senderid.delivery.outbox` for its life)."""

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
    """A custom number registration (``expired`` is derived: a pending one past its code)."""

    PENDING = "pending"
    ACTIVE = "active"
    CANCELLED = "cancelled"
    DELETED = "deleted"


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
