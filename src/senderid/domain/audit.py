"""Audit events: who did what, when, from where, in which request (the ``X-Request-ID`` of
the HTTP request that made the change, :data:`senderid.logs.request_id`; none for the CLI
and the worker). Never an OTP, a key or a message body."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, insert, select

from senderid import logs
from senderid.domain.types import Actor
from senderid.store.prepared import Prepared
from senderid.store.tables import audit_events

# Keys that must never reach an audit record, whatever a caller passes.
_FORBIDDEN = frozenset({"otp", "code", "key", "api_key", "token", "secret", "body", "password"})


class Action(StrEnum):
    """Every action an audit record may name, and nothing else (:func:`record` refuses
    others); the console's audit filter offers these."""

    ACCOUNT_CREATED = "account.created"
    ACCOUNT_UPDATED = "account.updated"
    ACCOUNT_RENAMED = "account.renamed"
    ACCOUNT_SUSPENDED = "account.suspended"
    ACCOUNT_RESUMED = "account.resumed"
    ACCOUNT_WEBHOOK_UPDATED = "account.webhook_updated"
    ACCOUNT_WEBHOOK_SECRET_ROTATED = "account.webhook_secret_rotated"
    ACCOUNT_CREDITS_SET = "account.credits_set"
    ACCOUNT_REGISTRANT_UPDATED = "account.registrant_updated"
    KEY_CREATED = "key.created"
    KEY_REVOKED = "key.revoked"
    CUSTOM_NUMBER_CREATED = "custom_number.created"
    CUSTOM_NUMBER_OTP_SENT = "custom_number.otp_sent"
    CUSTOM_NUMBER_OTP_RESENT = "custom_number.otp_resent"
    CUSTOM_NUMBER_OTP_FAILED = "custom_number.otp_failed"
    CUSTOM_NUMBER_VERIFIED = "custom_number.verified"
    CUSTOM_NUMBER_RENAMED = "custom_number.renamed"
    CUSTOM_NUMBER_CANCELLED = "custom_number.cancelled"
    CUSTOM_NUMBER_DELETED = "custom_number.deleted"
    CUSTOM_NUMBER_REVERIFY_DUE = "custom_number.reverify_due"
    CUSTOM_NUMBER_REVERIFIED = "custom_number.reverified"
    CUSTOM_NUMBER_LAPSED = "custom_number.lapsed"
    CUSTOM_NUMBER_RELEASED = "custom_number.released"
    CUSTOM_NUMBER_RECLAIM_STARTED = "custom_number.reclaim_started"
    CUSTOM_NUMBER_RECLAIMED = "custom_number.reclaimed"
    CUSTOM_NUMBER_PROTECTED_REFUSED = "custom_number.protected_refused"
    BUSINESS_NAME_REQUESTED = "business_name.requested"
    BUSINESS_NAME_APPROVED = "business_name.approved"
    BUSINESS_NAME_REJECTED = "business_name.rejected"
    BUSINESS_NAME_WITHDRAWN = "business_name.withdrawn"
    BUSINESS_NAME_ACMA_UPDATED = "business_name.acma_updated"
    BUSINESS_NAME_PROTECTED_REFUSED = "business_name.protected_refused"
    PROTECTED_ADDED = "protected.added"
    PROTECTED_REMOVED = "protected.removed"
    MESSAGE_QUEUED = "message.queued"
    MESSAGE_CANCELLED = "message.cancelled"
    OPTOUT_ADDED = "optout.added"
    OPTOUT_REMOVED = "optout.removed"
    OUTBOX_RETRIED = "outbox.retried"
    OUTBOX_PURGED = "outbox.purged"


ACTIONS = frozenset(Action)


def _check(action: str, details: Any) -> None:
    if action not in ACTIONS:
        raise ValueError(f"unregistered audit action {action!r}: add it to audit.Action")
    leaked = _FORBIDDEN.intersection(details)
    if leaked:
        raise ValueError(f"audit details may not hold {sorted(leaked)}")


def record(
    conn: Connection,
    *,
    at: datetime,
    actor: Actor,
    action: Action,
    account_id: str | None = None,
    subject: str | None = None,
    **details: Any,
) -> None:
    _check(action, details)
    _INSERT.run(conn, {"at": at, "actor": actor.name, "ip": actor.ip, "account_id": account_id,
                           "action": action, "subject": subject, "details": details,
                           "request_id": logs.request_id.get()})


@dataclass(frozen=True, slots=True)
class Entry:
    """One audit record for :func:`record_many`."""

    action: Action
    account_id: str | None = None
    subject: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def record_many(conn: Connection, *, at: datetime, actor: Actor, entries: Sequence[Entry]) -> None:
    """Several audit records of one change, with one multi-row INSERT."""
    for entry in entries:
        _check(entry.action, entry.details)
    if not entries:
        return
    request = logs.request_id.get()
    rows = [{"at": at, "actor": actor.name, "ip": actor.ip, "account_id": e.account_id,
             "action": e.action, "subject": e.subject, "details": e.details, "request_id": request}
            for e in entries]
    # Several rows: executemany of a RETURNING insert, which SQLAlchemy sends as one
    # multi-row INSERT ("insertmanyvalues"); the statement is built once either way.
    if len(rows) == 1:
        _INSERT.run(conn, rows[0])
    else:
        conn.execute(_INSERT_MANY, rows)


_INSERT = Prepared(insert(audit_events))  # the driver's cursor: every change writes one
_INSERT_MANY = insert(audit_events).returning(audit_events.c.id)


def events(
    conn: Connection,
    *,
    account_id: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    subject: str | None = None,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """Newest first. ``before_id`` pages on: the events older than that one."""
    query = select(audit_events).order_by(audit_events.c.id.desc()).limit(limit)
    if subject is not None:
        query = query.where(audit_events.c.subject == subject)
    if before_id is not None:
        query = query.where(audit_events.c.id < before_id)
    if account_id is not None:
        query = query.where(audit_events.c.account_id == account_id)
    if action is not None:
        query = query.where(audit_events.c.action == action)
    if since is not None:
        query = query.where(audit_events.c.at >= since)
    if until is not None:
        query = query.where(audit_events.c.at < until)
    return [dict(row._mapping) for row in conn.execute(query)]
