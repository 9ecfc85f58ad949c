"""Messages no provider has been handed yet: cancelling them, and what goes back.

Every cancel of a queued message goes through :func:`cancel`, whatever picks the
messages (:class:`ById`, :class:`ToContact`, :class:`FromSender`, :class:`JustClaimed`,
:class:`OtpsOf`), so one rule holds for all of them:

* the messages are marked ``cancelled`` in one conditional ``UPDATE ... RETURNING``
  (an OTP's code blanked out of its body); a message already handed over is left alone;
* each gateway message gives back exactly what it was charged when it was queued
  (``outbox.charged``, thousandths of a credit): nothing when its account was unlimited
  then, whatever the account is now;
* each gateway message tells its account's webhook (``message.cancelled``: ``id``,
  ``to``, ``sender``, ``reason``).

* each message's history gets ``cancelled`` with the reason (:mod:`.history`).

All of it happens in the caller's transaction. Cost: the ``UPDATE``; when something was
cancelled, one ``INSERT`` of the history rows; one ``UPDATE`` of the balance per account
that gets something back; the events (none for OTPs).

A sender the account no longer holds (:func:`sender_removed`, called where the sender is
removed) takes its queued messages with it; the worker's claim re-checks the sender of
every gateway message it takes (:func:`.claims.sender_still_allowed`) and cancels those
whose sender was removed some other way (:func:`refuse_claimed`). A registration's codes
not handed off yet go when a newer code replaces them or the registration ends
(:func:`cancel_otps`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, update

from senderid.domain import audit, credits, events
from senderid.domain.outbox import history
from senderid.domain.outbox.statements import CANCELLED, ENDING, OTP, QUEUED, SENDING, SMS
from senderid.domain.types import SYSTEM, Actor
from senderid.store.coltypes import UTCDateTime
from senderid.store.tables import outbox

SENDER_NOT_ALLOWED = "sender no longer allowed"
SUPERSEDED = "superseded"


@dataclass(frozen=True, slots=True)
class ById:
    """One gateway message of the account, still queued."""

    account_id: str
    message_id: str


@dataclass(frozen=True, slots=True)
class ToContact:
    """The account's gateway messages to a number (E.164), still queued."""

    account_id: str
    number: str


@dataclass(frozen=True, slots=True)
class FromSender:
    """The account's gateway messages from a sender (as the outbox holds it), still queued."""

    account_id: str
    sender: str


@dataclass(frozen=True, slots=True)
class JustClaimed:
    """Gateway messages a worker has just claimed and not handed to the provider."""

    message_ids: Sequence[str]
    worker: str


@dataclass(frozen=True, slots=True)
class OtpsOf:
    """The OTP SMS of these registrations not handed off yet, including one a worker holds
    (``sending``): were that worker dead, its lease would otherwise let a dead code out after
    a fresh one; if it is alive and the provider accepts the SMS, the worker still records
    the truth."""

    registration_ids: Sequence[str]


Which = ById | ToContact | FromSender | JustClaimed | OtpsOf


@dataclass(frozen=True, slots=True)
class CancelledMessage:
    id: str
    kind: str
    account_id: str | None
    to: str
    sender: str
    charged: int  # thousandths of a credit given back
    due_at: datetime


def cancel(conn: Connection, which: Which, *, now: datetime, reason: str) -> list[CancelledMessage]:
    """Cancel the messages ``which`` picks that no provider has been handed yet, give back
    what each was charged and tell each gateway message's account; returns them."""
    statement, params = _STATEMENTS[type(which)], _params(which)
    rows = conn.execute(statement, {**params, "q_now": now, "q_reason": reason}).all()
    cancelled = [CancelledMessage(r.id, r.kind, r.account_id, r.to_number, r.sender, r.charged or 0,
                                  r.next_attempt_at) for r in rows]
    history.write(conn, [history.row(m.id, m.account_id, CANCELLED, now, detail=reason) for m in cancelled])
    back: dict[str, int] = defaultdict(int)
    for message in cancelled:
        if message.account_id is not None and message.charged > 0:
            back[message.account_id] += message.charged
    for account_id, amount in back.items():
        credits.refund(conn, account_id, amount, now)
    told = [(m.account_id, "message.cancelled", {"id": m.id, "to": m.to, "sender": m.sender, "reason": reason})
            for m in cancelled if m.kind == SMS and m.account_id is not None]
    if told:
        events.emit(conn, now=now, events=told)
    return cancelled


def refunded(cancelled: Sequence[CancelledMessage]) -> int:
    """What the cancelled messages gave back, in thousandths of a credit."""
    return sum(m.charged for m in cancelled)


def sender_removed(conn: Connection, *, now: datetime, account_id: str, sender: str) -> list[CancelledMessage]:
    """The account no longer holds ``sender`` (a number deleted, a name no longer approved):
    its messages still queued from it are cancelled, in the transaction of the removal.
    The caller audits the removal with the count (:func:`audit_details`)."""
    return cancel(conn, FromSender(account_id, sender), now=now, reason=SENDER_NOT_ALLOWED)


def refuse_claimed(conn: Connection, *, now: datetime, message_ids: Sequence[str], worker: str,
                   actor: Actor = SYSTEM) -> list[CancelledMessage]:
    """Claimed gateway messages whose sender their account no longer holds: cancelled
    instead of sent, each audited, in the claim's transaction."""
    if not message_ids:
        return []
    cancelled = cancel(conn, JustClaimed(message_ids, worker), now=now, reason=SENDER_NOT_ALLOWED)
    audit.record_many(conn, at=now, actor=actor, entries=[
        audit.Entry(audit.Action.MESSAGE_CANCELLED, m.account_id, m.id,
                    {"sender": m.sender, "reason": SENDER_NOT_ALLOWED,
                     "credits_refunded": credits.as_credits(m.charged)})
        for m in cancelled
    ])
    return cancelled


def cancel_otps(conn: Connection, custom_number_ids: Sequence[str], now: datetime) -> int:
    """Stop the OTP SMS of these registrations that were not handed off yet (one UPDATE):
    a newer code replaced them, or the registration ended (:class:`OtpsOf`)."""
    if not custom_number_ids:
        return 0
    return len(cancel(conn, OtpsOf(custom_number_ids), now=now, reason=SUPERSEDED))


def audit_details(cancelled: Sequence[CancelledMessage]) -> dict[str, Any]:
    """What an audit record of the change that cancelled these says of them (nothing when none)."""
    if not cancelled:
        return {}
    return {"cancelled": len(cancelled), "credits_refunded": credits.as_credits(refunded(cancelled))}


def _params(which: Which) -> dict[str, Any]:
    if isinstance(which, ById):
        return {"q_account": which.account_id, "q_id": which.message_id}
    if isinstance(which, ToContact):
        return {"q_account": which.account_id, "q_to": which.number}
    if isinstance(which, FromSender):
        return {"q_account": which.account_id, "q_sender": which.sender}
    if isinstance(which, JustClaimed):
        return {"q_ids": list(which.message_ids), "q_worker": which.worker}
    return {"q_ids": list(which.registration_ids)}


# Built once: one statement per way of picking, the same SET and RETURNING for all.
def _cancelling(*where: Any) -> Any:
    return (
        update(outbox)
        .where(*where)
        .values(status=CANCELLED, **ENDING, last_error=bindparam("q_reason"),
                updated_at=bindparam("q_now", type_=UTCDateTime))
        .returning(outbox.c.id, outbox.c.kind, outbox.c.account_id, outbox.c.to_number, outbox.c.sender,
                   outbox.c.charged, outbox.c.next_attempt_at)
    )


_ACCOUNT_QUEUED_SMS = (outbox.c.account_id == bindparam("q_account"), outbox.c.kind == SMS,
                       outbox.c.status == QUEUED)
_STATEMENTS: dict[type, Any] = {
    ById: _cancelling(outbox.c.id == bindparam("q_id"), *_ACCOUNT_QUEUED_SMS),
    ToContact: _cancelling(outbox.c.to_number == bindparam("q_to"), *_ACCOUNT_QUEUED_SMS),
    FromSender: _cancelling(outbox.c.sender == bindparam("q_sender"), *_ACCOUNT_QUEUED_SMS),
    JustClaimed: _cancelling(outbox.c.id.in_(bindparam("q_ids", expanding=True)), outbox.c.kind == SMS,
                         outbox.c.status == SENDING, outbox.c.claimed_by == bindparam("q_worker")),
    OtpsOf: _cancelling(outbox.c.custom_number_id.in_(bindparam("q_ids", expanding=True)), outbox.c.kind == OTP,
                        outbox.c.status.in_([QUEUED, SENDING])),
}
