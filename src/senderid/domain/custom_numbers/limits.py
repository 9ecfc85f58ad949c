"""The sending limits of OTP SMS and the daily guess budgets, as add and resend use them.

OTP SMS are limited per account and number (cooldown and hourly), per number across
accounts, and per account. Each send is numbered in each scope (``otp_sends``'s
``*_seq`` columns), so a window is full when the send ``limit - 1`` places before the
newest is inside the hour: one account's sends never use up another account's allowance
for the same number, and the per-number cap is six accounts' allowances (docs/api.md
says why that stops a squatter). Past a daily guess budget
(:mod:`senderid.domain.otp_guesses`) no new code is sent either.

What add and resend need to know about a number (who holds it, this account's pending
registration, the limits, whether an operator protects it from the account) is read in one
statement: :func:`read_state`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import BindParameter, Connection, String, bindparam, func, select, type_coerce

from senderid.domain import otp_guesses, protected
from senderid.domain.context import Context
from senderid.domain.custom_numbers.statements import PENDING, TAKEN
from senderid.errors import RateLimited
from senderid.store.coltypes import UTCDateTime, constant, constants
from senderid.store.prepared import Prepared
from senderid.store.tables import custom_numbers, otp_sends

HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class State:
    """What add and resend need to know about a number, read in one statement."""

    active_id: str | None  # the registration that holds (or claims) the number, any account
    pending_id: str | None  # this account's pending registration of it
    others_pending: bool  # other accounts have pending registrations of it
    last_send: datetime | None  # this account's last OTP SMS to it
    nth_newest: tuple[datetime | None, ...]  # per window of _WINDOWS: the limit-th send in the hour
    positions: tuple[int, ...]  # per window: the position of the newest send in its scope (0: none)
    guesses_used_up: list[tuple[datetime, str]]  # daily guess budgets used up: (frees at, message)
    protected: bool = False  # an operator protects the number and the account is not allowed it


def read_state(ctx: Context, conn: Connection, account_id: str, number: str, now: datetime) -> State:
    s = ctx.settings
    limits = tuple(getattr(s, setting) for setting, _column, _message in _WINDOWS)
    row = _state_query(limits, otp_guesses.limits(s)).run(
        conn, {"account_id": account_id, "number": number, "since": now - HOUR, "day_since": now - otp_guesses.DAY},
    ).one()
    m = row._mapping
    return State(row.active_id, row.pending_id, row.others_pending is not None, row.last_send,
                 tuple(m[f"nth_{i}"] for i in range(len(_WINDOWS))),
                 tuple(m[f"last_{i}"] or 0 for i in range(len(_WINDOWS))),
                 otp_guesses.used_up(row, "wrong"), bool(row.protected))


# The windows of the sending limits: setting, the column numbering sends in its scope, message.
_WINDOWS = (
    ("otp_max_per_account_number_per_hour", otp_sends.c.account_number_seq,
     "Too many codes sent to this number for your account in the last hour"),
    ("otp_max_per_number_per_hour", otp_sends.c.number_seq,
     "Too many codes sent to this number in the last hour"),
    ("otp_max_per_account_per_hour", otp_sends.c.account_seq,
     "Your account has sent too many codes in the last hour"),
)
_SCOPES: tuple[Callable[[Any], Any], ...] = (
    lambda t: (t.c.account_id == bindparam("account_id")) & (t.c.number == bindparam("number")),
    lambda t: t.c.number == bindparam("number"),
    lambda t: t.c.account_id == bindparam("account_id"),
)


@lru_cache(maxsize=8)
def _state_query(limits: tuple[int, ...], guess_limits: tuple[int, ...]) -> Prepared:
    """One SELECT of scalar subqueries, each one or two index lookups whatever the limits:
    the newest send's position in each scope (a max over an index), and the send at
    position newest - limit + 1, if it is inside the hour (a point lookup); and the daily
    guess budgets (:mod:`senderid.domain.otp_guesses`)."""
    number: BindParameter[str] = bindparam("number", type_=String())
    account_id: BindParameter[str] = bindparam("account_id", type_=String())
    active = select(custom_numbers.c.id).where(
        custom_numbers.c.number == number, custom_numbers.c.status.in_(constants(TAKEN))).limit(1)
    pending = select(custom_numbers.c.id).where(
        custom_numbers.c.account_id == account_id, custom_numbers.c.number == number,
        custom_numbers.c.status == constant(PENDING)).limit(1)
    others = select(custom_numbers.c.id).where(
        custom_numbers.c.number == number, custom_numbers.c.status == constant(PENDING),
        custom_numbers.c.account_id != account_id).limit(1)
    last = select(func.max(otp_sends.c.created_at)).where(_SCOPES[0](otp_sends))
    columns = []
    for i, ((_setting, column, _message), limit, scope) in enumerate(zip(_WINDOWS, limits, _SCOPES, strict=True)):
        newest = select(func.max(column)).where(scope(otp_sends)).scalar_subquery()
        alias = otp_sends.alias(f"w{i}")
        nth = select(alias.c.created_at).where(
            scope(alias), alias.c[column.name] == newest - (limit - 1),
            alias.c.created_at > bindparam("since", type_=UTCDateTime),
        ).limit(1).scalar_subquery()
        columns += [_as_time(nth).label(f"nth_{i}"), newest.label(f"last_{i}")]
    return Prepared(select(
        active.scalar_subquery().label("active_id"),
        pending.scalar_subquery().label("pending_id"),
        others.scalar_subquery().label("others_pending"),
        _as_time(last.scalar_subquery()).label("last_send"),
        protected.number_refused(number, account_id).label("protected"),
        *columns,
        *otp_guesses.nth_failures(guess_limits, account_id, number,
                                  bindparam("day_since", type_=UTCDateTime), "wrong"),
    ))


def _as_time(expression: Any) -> Any:
    """Read a subquery's value back as an aware UTC datetime."""
    return type_coerce(expression, UTCDateTime)


def next_positions(state: State) -> dict[str, int]:
    """The ``otp_sends`` columns of a new send: its position in each window's scope."""
    return {column.name: position + 1
            for (_setting, column, _message), position in zip(_WINDOWS, state.positions, strict=True)}


def check_send_limits(ctx: Context, state: State, now: datetime) -> None:
    """Raise RateLimited when another OTP SMS would break a sending limit.

    When several limits refuse, the answer names the one that lasts longest and
    Retry-After is when a retry can succeed (waiting out a shorter one would only
    earn another 429).
    """
    s = ctx.settings
    refusals: list[tuple[int, str]] = []
    if state.last_send is not None:
        wait = math.ceil(
            (state.last_send + timedelta(seconds=s.otp_resend_cooldown_seconds) - now).total_seconds())
        if wait > 0:
            refusals.append((wait, f"A code was sent to this number moments ago; wait {wait} seconds "
                                   "before asking for another"))
    for (_setting, _column, message), nth in zip(_WINDOWS, state.nth_newest, strict=True):
        if nth is not None:
            # The window frees up when the oldest of the last `limit` sends is an hour old.
            wait = math.ceil((nth + HOUR - now).total_seconds())
            refusals.append((wait, f"{message}; try again in {wait} seconds"))
    for frees_at, message in state.guesses_used_up:
        wait = math.ceil((frees_at - now).total_seconds())
        refusals.append((wait, f"{message}; no new code can be sent for {wait} seconds"))
    if refusals:
        wait, message = max(refusals)
        raise RateLimited(message, wait)
