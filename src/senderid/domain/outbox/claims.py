"""queued -> sending: the claim statements, built once. Which lane and how many of each
account a worker takes is the worker's policy (:mod:`senderid.delivery.lanes`); the
statements it composes are these.

A claim is a lease: each claimed row goes ``sending`` under a lease until
``lease_until``, its attempt counted, and names the worker that holds it. A row whose
lease ran out (its worker died) is taken again by the priority lane's claim. Each claim is
one statement, ``UPDATE outbox ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP
LOCKED) RETURNING ...`` (SKIP LOCKED lets workers on PostgreSQL claim side by side; on
SQLite the write transaction excludes other writers).

The two lanes:

* priority: OTP SMS and SMS of no account (and any row whose lease ran out), oldest due
  first (:func:`claim_priority`);
* bulk: gateway SMS, the oldest ``k`` due of each account asked for, in one statement
  for all of them (:func:`claim_bulk`); :func:`accounts_with_due_bulk` finds the accounts
  that have some due by a recursive skip over the ``(status, kind, account_id, due)``
  index: one probe per account, whatever the backlog.

Every row claimed also says whether its sender is still one its account holds
(``sender_allowed``, read from the tables in the same statement: :func:`sender_still_allowed`),
and, for a business name, the providers that have authorised it on ACMA's register
(:func:`authorised_providers`, the same statement: ``Claimed.authorised_providers``).

Messages of a suspended account (``accounts.suspended_at``) are not claimed, in either
lane: they wait, queued, until the account is resumed (:data:`_NOT_SUSPENDED`, in every
claim statement; :func:`accounts_with_due_bulk` says which accounts are suspended, so that
they take no share).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Row,
    String,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    text,
    union_all,
    update,
)

from senderid.domain import acma_providers
from senderid.domain.outbox.statements import OTP, QUEUED, SENDING, SMS
from senderid.domain.types import BusinessNameStatus, CustomNumberStatus
from senderid.store.coltypes import UTCDateTime, constant
from senderid.store.tables import accounts as accounts_table
from senderid.store.tables import business_names, custom_numbers, outbox

LANES = ("priority", "bulk")


def lane_of(kind: str, account_id: str | None) -> str:
    """The lane a message is claimed in (also the label of the queue metrics)."""
    return "bulk" if kind == SMS and account_id is not None else "priority"


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message a worker holds: what it hands to the provider."""

    id: str
    kind: str
    to: str
    sender: str
    body: str
    attempts: int  # including this one
    expires_at: datetime | None
    account_id: str | None = None
    acma_registered: bool | None = None  # told in message.sent (SENDERID_UNREGISTERED_ALPHA)
    # A gateway SMS from a business name: the providers that have authorised the name on
    # ACMA's register (empty: every provider; and for numbers, the shared sender, OTPs).
    # The worker chooses among its route's providers with Routes.authorised /
    # senderid.domain.acma_providers.providers_for.
    authorised_providers: tuple[str, ...] = ()

    @classmethod
    def of(cls, row: Row[Any]) -> Claimed:
        """A row returned by a claim."""
        return cls(row.id, row.kind, row.to_number, row.sender, row.body, row.attempts, row.expires_at,
                   row.account_id, row.acma_registered, acma_providers.decode(row.authorised_providers))


def sender_still_allowed(shared_sender: ColumnElement[str]) -> ColumnElement[bool]:
    """SQL, over an ``outbox`` row: whether it may still leave as its sender. Anything but a
    gateway message may; a gateway message only while its sender is the shared one
    (``shared_sender``, as the settings name it), an ``active`` custom number of its account
    or an ``APPROVED`` business name of its account: the same rule as the gateway's send
    (:mod:`senderid.domain.messages`), read from the tables (never from memory) where the
    worker claims the message."""
    number = exists().where(custom_numbers.c.account_id == outbox.c.account_id,
                            custom_numbers.c.number == outbox.c.sender,
                            custom_numbers.c.status == constant(CustomNumberStatus.ACTIVE)).correlate(outbox)
    name = exists().where(business_names.c.account_id == outbox.c.account_id,
                          business_names.c.name_key == func.lower(outbox.c.sender),
                          business_names.c.status == constant(BusinessNameStatus.APPROVED)).correlate(outbox)
    # no account: coalesce, not IS NULL, which SQLite (3.40) answers wrongly inside RETURNING
    return or_(outbox.c.kind != SMS, func.coalesce(outbox.c.account_id, "") == "",
               outbox.c.sender == shared_sender, number, name)


def authorised_providers() -> Any:
    """SQL, over an ``outbox`` row: the ``acma_providers`` of the approved business name that
    is the sender of a gateway SMS (NULL for any other message, and for a name authorised by
    every provider)."""
    return (
        select(business_names.c.acma_providers)
        .where(outbox.c.kind == SMS, business_names.c.account_id == outbox.c.account_id,
               business_names.c.name_key == func.lower(outbox.c.sender),
               business_names.c.status == constant(BusinessNameStatus.APPROVED))
        .limit(1)
        .correlate(outbox)
        .scalar_subquery()
    )


# What a claim returns of each row (after the claim: attempts already counted), whether
# its sender is still one its account holds, and a business name's authorised providers
# (both read in the same statement).
COLUMNS = (
    outbox.c.id, outbox.c.kind, outbox.c.to_number, outbox.c.sender, outbox.c.body,
    outbox.c.attempts, outbox.c.expires_at, outbox.c.account_id, outbox.c.next_attempt_at,
    outbox.c.acma_registered,
    # a subquery, so that the row's columns are named with their table inside it
    select(sender_still_allowed(bindparam("shared_sender", type_=String())))
    .correlate(outbox).scalar_subquery().label("sender_allowed"),
    authorised_providers().label("authorised_providers"),
)


def claim_priority(conn: Connection, *, now: datetime, worker: str, lease_until: datetime, shared_sender: str,
                   limit: int) -> list[Row[Any]]:
    """Claim up to ``limit`` rows of the priority lane (one statement)."""
    return list(conn.execute(_PRIORITY_CLAIM, {
        "now": now, "lease_until": lease_until, "worker": worker, "shared_sender": shared_sender, "n": limit,
    }).all())


def claim_bulk(conn: Connection, *, now: datetime, worker: str, lease_until: datetime, shared_sender: str,
               shares: Sequence[tuple[str, int]]) -> list[Row[Any]]:
    """Claim the oldest ``share`` due gateway SMS of each ``(account, share)`` (one statement)."""
    if not shares:
        return []
    values: dict[str, Any] = {"now": now, "lease_until": lease_until, "worker": worker,
                              "shared_sender": shared_sender}
    for i, (account, share) in enumerate(shares):
        values[f"a{i}"], values[f"k{i}"] = account, share
    return list(conn.execute(_bulk_claim(len(shares)), values).all())


def accounts_with_due_bulk(conn: Connection, now: datetime, after: str, limit: int) -> list[tuple[str, bool]]:
    """Up to ``limit`` accounts, in order after ``after``, that have gateway SMS due, each with
    whether it is suspended (its messages wait; it takes no share of a claim). A read."""
    rows = conn.execute(_DUE_ACCOUNTS, {"now": now, "after": after, "limit": limit})
    return [(row.account_id, bool(row.suspended)) for row in rows]


# The claim's statements are built once (per number of accounts for the bulk lane), so
# executing one costs no statement building, cache-key generation or compilation.
_NOW = bindparam("now", type_=UTCDateTime())
_DUE = and_(outbox.c.status == QUEUED, outbox.c.next_attempt_at <= _NOW)
# A suspended account's messages are not claimed (see the module's docstring).
_NOT_SUSPENDED = ~exists().where(accounts_table.c.id == outbox.c.account_id,
                                 accounts_table.c.suspended_at.is_not(None))
_CLAIM_VALUES = {
    "status": SENDING,
    "attempts": outbox.c.attempts + 1,
    "lease_until": bindparam("lease_until", type_=UTCDateTime()),
    "claimed_by": bindparam("worker"),
    "updated_at": _NOW,
}


def _oldest(where: Any, limit: Any) -> Any:
    return (
        select(outbox.c.id)
        .where(where)
        .order_by(outbox.c.next_attempt_at, outbox.c.id)  # ties: ids are in the order of queueing
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def _claiming(ids: Any) -> Any:
    return update(outbox).where(outbox.c.id.in_(ids)).values(**_CLAIM_VALUES).returning(*COLUMNS)


_PRIORITY_CLAIM = _claiming(_oldest(and_(or_(
    and_(_DUE, outbox.c.kind == OTP),
    and_(_DUE, outbox.c.kind == SMS, outbox.c.account_id.is_(None)),
    and_(outbox.c.status == SENDING, outbox.c.lease_until <= _NOW),  # its worker died
), _NOT_SUSPENDED), bindparam("n", type_=Integer())))


@functools.cache
def _bulk_claim(accounts: int) -> Any:
    """The bulk lane's claim for ``accounts`` accounts: the oldest ``k{i}`` due of account ``a{i}``."""
    arms = [
        select(arm.c.id)
        for arm in (
            _oldest(and_(_DUE, outbox.c.kind == SMS, outbox.c.account_id == bindparam(f"a{i}"), _NOT_SUSPENDED),
                    bindparam(f"k{i}", type_=Integer())).subquery()
            for i in range(accounts)
        )
    ]
    return _claiming(arms[0] if accounts == 1 else union_all(*arms))


# One probe of the index per account that has bulk SMS due (a "loose index scan"), and
# whether the account is suspended.
_DUE_ACCOUNTS = text(
    """
    WITH RECURSIVE due(account_id, n) AS (
        SELECT (SELECT MIN(o.account_id) FROM outbox o
                WHERE o.status = 'queued' AND o.kind = 'sms' AND o.account_id > :after
                  AND o.next_attempt_at <= :now), 1
        UNION ALL
        SELECT (SELECT MIN(o.account_id) FROM outbox o
                WHERE o.status = 'queued' AND o.kind = 'sms' AND o.account_id > due.account_id
                  AND o.next_attempt_at <= :now), due.n + 1
        FROM due WHERE due.account_id IS NOT NULL AND due.n < :limit
    )
    SELECT due.account_id,
           EXISTS (SELECT 1 FROM accounts a WHERE a.id = due.account_id AND a.suspended_at IS NOT NULL)
               AS suspended
    FROM due WHERE due.account_id IS NOT NULL ORDER BY due.n
    """
).bindparams(bindparam("now", type_=UTCDateTime()))
