"""The daily guess budget: wrong OTPs an account may try, which resends do not reset.

Each code allows ``SENDERID_OTP_MAX_ATTEMPTS`` tries, but a resend draws a new code, so
per-code tries alone let an account guess thousands of times a day. Every wrong try is
kept (``otp_failures``) and counted over a sliding day, per account and number
(``SENDERID_OTP_MAX_WRONG_PER_ACCOUNT_NUMBER_PER_DAY``) and per account
(``SENDERID_OTP_MAX_WRONG_PER_ACCOUNT_PER_DAY``). Past either, verify fails even with the
right code and no new code is sent, until the oldest counted try is a day old. The
budgets are the account's own: another account's wrong tries never use them up.

The checks cost no statement of their own: they are scalar subqueries of the statements
verify and add already run (at most ``limit`` index entries each); a wrong try costs one
INSERT.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, Connection, insert, select, type_coerce

from senderid.store.coltypes import UTCDateTime
from senderid.store.tables import otp_failures

DAY = timedelta(days=1)

# (setting, message) per budget, in the order of the columns below.
BUDGETS = (
    ("otp_max_wrong_per_account_number_per_day",
     "Too many wrong codes were tried for this number from your account in the last day"),
    ("otp_max_wrong_per_account_per_day",
     "Too many wrong codes were tried from your account in the last day"),
)


def limits(settings: Any) -> tuple[int, ...]:
    return tuple(getattr(settings, setting) for setting, _message in BUDGETS)


def nth_failures(
    limits_: tuple[int, ...], account_id: BindParameter[Any], number: BindParameter[Any],
    since: BindParameter[Any], label: str,
) -> list[Any]:
    """Per budget, a labelled scalar subquery: the time of the ``limit``-th newest wrong try
    since ``since`` (NULL while the budget is not used up)."""
    scopes = (
        (otp_failures.c.account_id == account_id) & (otp_failures.c.number == number),
        otp_failures.c.account_id == account_id,
    )
    columns = []
    for i, (limit, scope) in enumerate(zip(limits_, scopes, strict=True)):
        nth = (
            select(otp_failures.c.created_at)
            .where(scope, otp_failures.c.created_at > since)
            .order_by(otp_failures.c.created_at.desc())
            .offset(limit - 1)
            .limit(1)
            .scalar_subquery()
        )
        columns.append(type_coerce(nth, UTCDateTime).label(f"{label}_{i}"))
    return columns


def used_up(row: Any, label: str) -> list[tuple[datetime, str]]:
    """The budgets ``row`` says are used up: (when the window frees up, message)."""
    m = row._mapping
    return [(m[f"{label}_{i}"] + DAY, message) for i, (_s, message) in enumerate(BUDGETS)
            if m[f"{label}_{i}"] is not None]


_INSERT = insert(otp_failures)


def record_wrong(conn: Connection, account_id: str, number: str, now: datetime) -> None:
    conn.execute(_INSERT, {"account_id": account_id, "number": number, "created_at": now})
