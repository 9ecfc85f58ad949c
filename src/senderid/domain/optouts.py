"""Each account's opt-out list: numbers the gateway never sends to for that account.

A number joins the list through the API, the console or the CLI, or by itself: a
contact who replies ``STOP`` (also ``STOP ALL``, ``UNSUBSCRIBE``, ``OPTOUT``; any case,
spaces around) to a number an account sent it an SMS from is put on that account's
list. When several accounts sent to the contact from that number (the shared
number), the reply answers the latest of them. Every change is audited and sent to
the account's webhook (``optout.added`` / ``optout.removed``).

An account has one list; its id (:func:`list_id`) is what the gateway's ``optoutId``
may name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, func, select

from senderid.domain import audit, events, queued
from senderid.domain.context import Context
from senderid.domain.types import Actor
from senderid.errors import InvalidRequest, NotFound
from senderid.numbers import InvalidNumber, parse_mobile
from senderid.store.db import upsert
from senderid.store.tables import optouts, outbox

OPTED_OUT = "the contact opted out"
STOP_WORDS = frozenset({"STOP", "STOP ALL", "STOPALL", "UNSUBSCRIBE", "OPTOUT", "OPT OUT"})
SOURCES = ("api", "reply", "console", "cli")


@dataclass(frozen=True, slots=True)
class OptOut:
    number: str  # E.164
    source: str
    created_at: datetime


def list_id(account_id: str) -> str:
    """The id of the account's opt-out list (24 hex, stable)."""
    return hashlib.sha256(f"senderid-optout-list:{account_id}".encode()).hexdigest()[:24]


def is_stop(body: str) -> bool:
    return " ".join(body.split()).upper() in STOP_WORDS


def _number(ctx: Context, number: object) -> str:
    try:
        return parse_mobile(number, ctx.settings.allowed_regions)
    except InvalidNumber:
        raise InvalidRequest("number is not a valid mobile number") from None


def _add(conn: Connection, ctx: Context, account_id: str, number: str, source: str, actor: Actor, now: datetime) -> bool:
    statement = upsert(conn, optouts).values(
        account_id=account_id, number=number, source=source, created_at=now,
    ).on_conflict_do_nothing(index_elements=["account_id", "number"]).returning(optouts.c.number)
    added = conn.execute(statement).first() is not None
    if added:
        # The account's gateway SMS to the number that no provider has been handed yet
        # (scheduled, or waiting for a retry): cancelled, as the account could cancel them.
        held = queued.cancel(conn, queued.ToContact(account_id, number), now=now, reason=OPTED_OUT)
        audit.record(conn, at=now, actor=actor, action=audit.Action.OPTOUT_ADDED, account_id=account_id,
                     subject=number, source=source, **queued.audit_details(held))
        events.emit(conn, now=now, events=[(account_id, "optout.added", {"number": number, "source": source})])
    return added


def add(ctx: Context, account_id: str, number: object, *, source: str, actor: Actor) -> tuple[OptOut, bool]:
    """Put ``number`` (any accepted form) on the account's list; (entry, newly added)."""
    if source not in SOURCES:
        raise ValueError(f"unknown opt-out source {source!r}")
    clean = _number(ctx, number)
    with ctx.db.write() as conn:
        now = ctx.clock.now()
        added = _add(conn, ctx, account_id, clean, source, actor, now)
        row = conn.execute(select(optouts).where(optouts.c.account_id == account_id,
                                                 optouts.c.number == clean)).one()
    return OptOut(row.number, row.source, row.created_at), added


def remove(ctx: Context, account_id: str, number: object, *, actor: Actor) -> str:
    """Take ``number`` off the account's list (404 when it is not on it); returns it in E.164."""
    clean = _number(ctx, number)
    with ctx.db.write() as conn:
        now = ctx.clock.now()
        gone = conn.execute(delete(optouts).where(optouts.c.account_id == account_id,
                                                  optouts.c.number == clean)).rowcount
        if not gone:
            raise NotFound(f"{clean} is not on your opt-out list")
        audit.record(conn, at=now, actor=actor, action=audit.Action.OPTOUT_REMOVED, account_id=account_id, subject=clean)
        events.emit(conn, now=now, events=[(account_id, "optout.removed", {"number": clean})])
    return clean


def list_optouts(ctx: Context, account_id: str, *, limit: int = 50, offset: int = 0) -> tuple[list[OptOut], int]:
    """One page of the account's list, newest first, and its length."""
    with ctx.db.read() as conn:
        total = conn.execute(select(func.count()).select_from(optouts)
                             .where(optouts.c.account_id == account_id)).scalar_one()
        rows = conn.execute(
            select(optouts).where(optouts.c.account_id == account_id)
            .order_by(optouts.c.created_at.desc(), optouts.c.number).limit(limit).offset(offset)
        ).all()
    return [OptOut(r.number, r.source, r.created_at) for r in rows], total


# The latest account that sent an SMS to a contact from one of these senders.
_LATEST_SENDER_ACCOUNT = (
    select(outbox.c.account_id)
    .where(
        outbox.c.to_number == bindparam("contact"),
        outbox.c.kind == "sms",
        outbox.c.account_id.is_not(None),
        outbox.c.sender.in_(bindparam("senders", expanding=True)),
    )
    .order_by(outbox.c.created_at.desc())
    .limit(1)
)


def record_reply(
    ctx: Context, *, contact: str, to: str, body: str, shared_aliases: Collection[str] = (), actor: Actor,
) -> str | None:
    """A text from ``contact`` to ``to`` (a provider's inbound message): when it is a STOP
    word, put the contact on the list of the account that last sent to it from ``to``.
    Returns that account's id, or None (not a STOP, or nobody sent to it from there).

    ``shared_aliases``: how the provider names the shared sender (its default number),
    which the outbox records as the shared sender setting (often empty).
    """
    if not is_stop(body):
        return None
    try:
        number = parse_mobile(contact, ctx.settings.allowed_regions)
    except InvalidNumber:
        return None
    senders = _senders(ctx, to, shared_aliases)
    with ctx.db.write() as conn:
        account_id = conn.execute(_LATEST_SENDER_ACCOUNT, {"contact": number, "senders": list(senders)}).scalar()
        if account_id is None:
            return None
        _add(conn, ctx, account_id, number, "reply", actor, ctx.clock.now())
    return str(account_id)


def _senders(ctx: Context, to: str, shared_aliases: Collection[str]) -> Sequence[str]:
    """What the outbox may hold as the sender of an SMS that ``to`` answers."""
    text = (to or "").strip()
    found = {text}
    try:
        found.add(parse_mobile(text, ctx.settings.allowed_regions))
    except InvalidNumber:
        pass
    aliases = {a.strip() for a in shared_aliases if a and a.strip()}
    for alias in list(aliases):
        try:
            aliases.add(parse_mobile(alias, ctx.settings.allowed_regions))
        except InvalidNumber:
            pass
    if found & aliases or (ctx.settings.shared_sender and ctx.settings.shared_sender in found):
        found.add(ctx.settings.shared_sender)  # the outbox keeps the shared sender as configured
    return sorted(found)
