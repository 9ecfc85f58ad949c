"""What comes with a registration's change of status, in the caller's transaction: the
webhook event's data, the end of the other accounts' pending registrations once one
holds the number (the first to verify wins), and the account's senders forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, update

from senderid.domain import audit, outbox
from senderid.domain import events as domain_events
from senderid.domain.context import Context
from senderid.domain.custom_numbers.statements import CANCELLED, PENDING
from senderid.store.coltypes import constant
from senderid.store.tables import custom_numbers

CANCELLED_REASON = "verified by another account"


@dataclass(frozen=True, slots=True)
class Verified:
    """What a verify did: the registration it activated or renewed, or the claim it opened
    (``decides_at`` set: the number moves then, unless its holder proves possession first)."""

    id: str
    decides_at: datetime | None = None


def event_data(registration_id: str, number: str, name: str | None, status: str) -> dict[str, object]:
    data: dict[str, object] = {"id": registration_id, "number": number, "status": status}
    if name is not None:
        data["name"] = name
    return data


def senders_changed(ctx: Context, account_id: str) -> None:
    """This process forgets the account's senders once the change commits (the others
    hear of it from the database)."""
    ctx.db.after_commit(lambda: ctx.senders.forget_senders(account_id))


def cancel_other_pending(
    conn: Connection, number: str, *, keep: str, now: datetime,
    entries: list[audit.Entry], events: list[domain_events.Event],
) -> None:
    """The number is now active for one registration: every other pending one ends (one
    UPDATE, then their queued codes in one more); their audit records and events are
    added to ``entries`` and ``events``."""
    others = conn.execute(
        update(custom_numbers)
        .where(custom_numbers.c.number == number, custom_numbers.c.status == constant(PENDING),
               custom_numbers.c.id != keep)
        .values(status=CANCELLED, ended_at=now, updated_at=now, otp_hash=None)
        .returning(custom_numbers.c.id, custom_numbers.c.account_id)
    ).all()
    ended_others(conn, number, [(o.id, o.account_id) for o in others], now, entries, events)


def ended_others(
    conn: Connection, number: str, others: list[tuple[str, str]], now: datetime,
    entries: list[audit.Entry], events: list[domain_events.Event],
) -> None:
    """Other accounts' registrations of ``number`` ended: their queued codes are cancelled
    (one UPDATE); their audit records and events are added to ``entries`` and ``events``."""
    if not others:
        return
    outbox.cancel_otps(conn, [other_id for other_id, _ in others], now)
    for other_id, other_account in others:
        entries.append(audit.Entry(audit.Action.CUSTOM_NUMBER_CANCELLED, other_account, other_id,
                                   {"number": number, "reason": CANCELLED_REASON}))
        events.append((other_account, "custom_number.cancelled",
                       {**event_data(other_id, number, None, CANCELLED), "reason": CANCELLED_REASON}))
