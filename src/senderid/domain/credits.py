"""Credits: what a gateway message costs, prepaid balances, and the usage report.

A message costs its SMS parts times ``SENDERID_CREDITS_SHARED_SENDER`` (sent from the
shared sender) or ``SENDERID_CREDITS_CUSTOM_SENDER`` (a custom number or business name),
as Cellcast prices them. Amounts are kept in thousandths of a credit (integers), so sums
are exact; the wire shows credits.

An account is unlimited unless it is given a prepaid balance. Then a gateway request
is charged when it is queued, with one conditional ``UPDATE ... WHERE balance >= cost``
in the request's transaction: a request the balance cannot cover is refused (the
documented 422) and queues nothing, and racing requests can never take the balance
below zero. Cancelling a scheduled message gives its credits back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, case, delete, func, select, update

from senderid.domain import audit
from senderid.domain.context import Context
from senderid.domain.types import Actor
from senderid.errors import BalanceTooLow, InvalidRequest, NotFound
from senderid.settings import Settings
from senderid.store.coltypes import UTCDateTime
from senderid.store.db import upsert
from senderid.store.tables import account_credits, accounts, outbox

MILLI = 1000
MAX_BALANCE = 1_000_000_000  # credits
NO_CUSTOM_STRING = "api"  # the report's _id of messages sent without a customString


def milli(credits: float) -> int:
    return int(round(credits * MILLI))


def as_credits(amount: int) -> float | int:
    """Thousandths of a credit as the wire shows credits: 13 -> 0.013, 2000 -> 2."""
    value = amount / MILLI
    return int(value) if value == int(value) else round(value, 3)


def per_message(settings: Settings, sender_kind: str, parts: int) -> int:
    """What one message costs, in thousandths of a credit."""
    rate = settings.credits_shared_sender if sender_kind == "shared" else settings.credits_custom_sender
    return parts * milli(rate)


_DEBIT = (
    update(account_credits)
    .where(account_credits.c.account_id == bindparam("c_account"),
           account_credits.c.balance >= bindparam("c_cost"))
    .values(balance=account_credits.c.balance - bindparam("c_cost"),
            updated_at=bindparam("c_now", type_=UTCDateTime))
)
_REFUND = (
    update(account_credits)
    .where(account_credits.c.account_id == bindparam("c_account"))
    .values(balance=account_credits.c.balance + bindparam("c_amount"),
            updated_at=bindparam("c_now", type_=UTCDateTime))
)


def debit(conn: Connection, account_id: str, cost: int, now: datetime) -> None:
    """Take ``cost`` from a prepaid balance, or refuse (422) when it does not cover it."""
    if conn.execute(_DEBIT, {"c_account": account_id, "c_cost": cost, "c_now": now}).rowcount != 1:
        raise BalanceTooLow()


def refund(conn: Connection, account_id: str, amount: int, now: datetime) -> None:
    """Give ``amount`` back to the account's balance (nothing for an unlimited account)."""
    if amount:
        conn.execute(_REFUND, {"c_account": account_id, "c_amount": amount, "c_now": now})


def check_balance(credits: float | None) -> None:
    """Refuse a balance :func:`set_balance` would refuse (before a caller changes anything)."""
    if credits is not None and (not math.isfinite(credits) or not 0 <= credits <= MAX_BALANCE):
        raise InvalidRequest(f"credits must be a number from 0 to {MAX_BALANCE:,}, or unlimited")


def set_balance(ctx: Context, account_id: str, credits: float | None, *, actor: Actor) -> float | int | None:
    """Give the account a prepaid balance of ``credits``, or make it unlimited (None)."""
    check_balance(credits)
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        changed = conn.execute(update(accounts).where(accounts.c.id == account_id)
                               .values(prepaid=credits is not None, updated_at=now)).rowcount
        if not changed:
            raise NotFound(f"No account with id {account_id}")
        if credits is None:
            conn.execute(delete(account_credits).where(account_credits.c.account_id == account_id))
        else:
            amount = milli(credits)
            conn.execute(upsert(conn, account_credits).values(account_id=account_id, balance=amount, updated_at=now)
                         .on_conflict_do_update(index_elements=["account_id"],
                                                set_={"balance": amount, "updated_at": now}))
        # cached callers carry the prepaid flag: forget them (other processes hear the signal)
        ctx.db.after_commit(lambda: ctx.senders.forget(account_id))
        audit.record(conn, at=now, actor=actor, action=audit.Action.ACCOUNT_CREDITS_SET, account_id=account_id,
                     subject=account_id, credits=credits)
    return balance(ctx, account_id)


def balance(ctx: Context, account_id: str) -> float | int | None:
    """The account's prepaid balance in credits, or None when it is unlimited."""
    with ctx.db.read() as conn:
        row = conn.execute(
            select(accounts.c.prepaid, account_credits.c.balance)
            .select_from(accounts.outerjoin(account_credits, account_credits.c.account_id == accounts.c.id))
            .where(accounts.c.id == account_id)
        ).first()
    if row is None:
        raise NotFound(f"No account with id {account_id}")
    return as_credits(row.balance or 0) if row.prepaid else None


@dataclass(frozen=True, slots=True)
class UsageLine:
    custom_string: str  # or "api"
    parts: int  # SMS parts handed to the provider
    credits: float | int


def usage(ctx: Context, account_id: str, *, limit: int, offset: int) -> tuple[list[UsageLine], int]:
    """The account's gateway messages handed to the provider, summed per customString
    (``api`` for none): one page, by most parts first, and the number of lines."""
    key = func.coalesce(outbox.c.custom_string, NO_CUSTOM_STRING).label("key")
    grouped = (
        select(key, func.coalesce(func.sum(outbox.c.parts), 0).label("parts"),
               func.coalesce(func.sum(outbox.c.credits), 0).label("credits"))
        .where(outbox.c.account_id == account_id, outbox.c.kind == "sms", outbox.c.sent_at.is_not(None))
        .group_by(key)
    ).subquery()
    # The page and the number of lines in one statement: read apart, a send recorded in
    # between could show a line that the total does not count.
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(grouped, func.count().over().label("total"))
            .order_by(grouped.c.parts.desc(), case((grouped.c.key == NO_CUSTOM_STRING, 0), else_=1), grouped.c.key)
            .limit(limit).offset(offset)
        ).all()
        total = rows[0].total if rows else conn.execute(select(func.count()).select_from(grouped)).scalar_one()
    return [UsageLine(r.key, int(r.parts), as_credits(int(r.credits))) for r in rows], total
