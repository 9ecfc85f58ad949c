"""Each account's opt-out list: numbers the gateway never sends to for that account.

A number joins the list through the API, the console or the CLI, or by itself: a
contact who replies ``STOP`` (also ``STOP ALL``, ``UNSUBSCRIBE``, ``OPTOUT``; any case,
spaces around) to a number an account sent it an SMS from is put on that account's
list, and one who replies ``START`` or ``UNSTOP`` is taken off it; one who presses the
button of a message's unsubscribe page (a business-name sender cannot receive replies:
:func:`add_by_link`) is put on the list of the account that sent it. Every reply that
answers an account is kept for it (:mod:`senderid.domain.inbound`). The reply answers
the account whose SMS the phone last received from that number: the latest handed to
the provider (``sent`` or ``delivered``, by when it was sent); an SMS only queued,
scheduled or cancelled, or reported failed, answers nothing. When several accounts sent
to the contact from one number (the shared sender), the latest of them is the one. Every
change is audited and sent to the account's webhook (``optout.added`` /
``optout.removed``).

An account has one list; its id (:func:`list_id`) is what the gateway's ``optoutId``
may name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, func, select

from senderid.domain import audit, events, inbound, outbox
from senderid.domain.context import Context
from senderid.domain.short_links import CODE
from senderid.domain.types import Actor, OutboxStatus
from senderid.errors import InvalidRequest, NotFound
from senderid.numbers import InvalidNumber, parse_mobile
from senderid.store.db import upsert
from senderid.store.tables import custom_numbers, optouts, short_links
from senderid.store.tables import outbox as outbox_table

OPTED_OUT = "the contact opted out"
STOP_WORDS = frozenset({"STOP", "STOP ALL", "STOPALL", "UNSUBSCRIBE", "OPTOUT", "OPT OUT"})
START_WORDS = frozenset({"START", "UNSTOP"})
SOURCES = ("api", "reply", "link", "console", "cli")


@dataclass(frozen=True, slots=True)
class OptOut:
    number: str  # E.164
    source: str
    created_at: datetime


def list_id(account_id: str) -> str:
    """The id of the account's opt-out list (24 hex, stable)."""
    return hashlib.sha256(f"senderid-optout-list:{account_id}".encode()).hexdigest()[:24]


def _keyword(body: str) -> str:
    return " ".join(body.split()).upper()


def is_stop(body: str) -> bool:
    return _keyword(body) in STOP_WORDS


def is_start(body: str) -> bool:
    return _keyword(body) in START_WORDS


def _number(ctx: Context, number: object) -> str:
    try:
        return parse_mobile(number, ctx.settings.allowed_regions)
    except InvalidNumber:
        raise InvalidRequest("number is not a valid mobile number") from None


def _add(
    conn: Connection, ctx: Context, account_id: str, number: str, source: str, actor: Actor, now: datetime
) -> bool:
    statement = upsert(conn, optouts).values(
        account_id=account_id, number=number, source=source, created_at=now,
    ).on_conflict_do_nothing(index_elements=["account_id", "number"]).returning(optouts.c.number)
    added = conn.execute(statement).first() is not None
    if added:
        # The account's gateway SMS to the number that no provider has been handed yet
        # (scheduled, or waiting for a retry): cancelled, as the account could cancel them.
        held = outbox.cancel(conn, outbox.ToContact(account_id, number), now=now, reason=OPTED_OUT)
        audit.record(conn, at=now, actor=actor, action=audit.Action.OPTOUT_ADDED, account_id=account_id,
                     subject=number, source=source, **outbox.audit_details(held))
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


def _remove(conn: Connection, account_id: str, number: str, actor: Actor, now: datetime,
            source: str | None = None) -> bool:
    gone = conn.execute(delete(optouts).where(optouts.c.account_id == account_id,
                                              optouts.c.number == number)).rowcount
    if gone:
        said = {} if source is None else {"source": source}
        audit.record(conn, at=now, actor=actor, action=audit.Action.OPTOUT_REMOVED, account_id=account_id,
                     subject=number, **said)
        events.emit(conn, now=now, events=[(account_id, "optout.removed", {"number": number, **said})])
    return bool(gone)


def remove(ctx: Context, account_id: str, number: object, *, actor: Actor) -> str:
    """Take ``number`` off the account's list (404 when it is not on it); returns it in E.164."""
    clean = _number(ctx, number)
    with ctx.db.write() as conn:
        if not _remove(conn, account_id, clean, actor, ctx.clock.now()):
            raise NotFound(f"{clean} is not on your opt-out list")
    return clean


def add_by_link(ctx: Context, code: str, *, actor: Actor) -> OptOut | None:
    """The contact pressed the button of the unsubscribe page of a message's link ``code``:
    put it on the list of the account that sent the message (source ``link``; an entry it
    had already stays as it was). None when ``code`` is no unsubscribe link."""
    if not CODE.fullmatch(code):
        return None
    with ctx.db.write() as conn:
        link = conn.execute(select(short_links.c.account_id, short_links.c.optout_number)
                            .where(short_links.c.code == code, short_links.c.optout_number.is_not(None))).first()
        if link is None:
            return None
        _add(conn, ctx, link.account_id, link.optout_number, "link", actor, ctx.clock.now())
        row = conn.execute(select(optouts).where(optouts.c.account_id == link.account_id,
                                                 optouts.c.number == link.optout_number)).one()
    return OptOut(row.number, row.source, row.created_at)


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


# The account whose SMS the contact last received from one of these senders: handed to
# the provider (sent, or delivered since), the latest by when it was sent. Served by
# ix_outbox_to_number_sent.
_LAST_RECEIVED_FROM = (
    select(outbox_table.c.account_id, outbox_table.c.id)
    .where(
        outbox_table.c.to_number == bindparam("contact"),
        outbox_table.c.sent_at.is_not(None),
        outbox_table.c.kind == "sms",
        outbox_table.c.status.in_((OutboxStatus.SENT, OutboxStatus.DELIVERED)),
        outbox_table.c.account_id.is_not(None),
        outbox_table.c.sender.in_(bindparam("senders", expanding=True)),
    )
    .order_by(outbox_table.c.sent_at.desc())
    .limit(1)
)

# Whether an address is a number some account proved it owns (a custom number ever verified).
_PROVEN_NUMBER = (
    select(custom_numbers.c.id)
    .where(custom_numbers.c.number.in_(bindparam("numbers", expanding=True)),
           custom_numbers.c.verified_at.is_not(None))
    .limit(1)
)


@dataclass(frozen=True, slots=True)
class Reply:
    account_id: str  # the account the reply answers
    inbound_id: str  # the reply as kept (senderid.domain.inbound)
    opted_out: bool  # a STOP word: the contact is on the account's list
    opted_in: bool  # START or UNSTOP: the contact was taken off it


def record_reply(
    ctx: Context, *, contact: str, to: str, body: str, default_sender: Collection[str] | None, actor: Actor,
    provider: str,
) -> Reply | None:
    """A text from ``contact`` to ``to`` (a provider's inbound message), for the account
    whose SMS the contact last received from ``to``: kept for it and sent to its webhook as
    ``message.inbound``; a STOP word also puts the contact on the account's list, a
    ``START`` or ``UNSTOP`` takes it off. None when it answers no account (the contact
    received no SMS from ``to``, or is not a mobile number). One transaction.

    ``default_sender``: the addresses the provider's default sender answers to (Twilio's
    ``SENDERID_TWILIO_FROM``, the developer inbox's ``senderid``); None when the provider
    does not say (Cellcast, SMPP). Unless ``SENDERID_SHARED_SENDER`` is set, the shared
    sender goes out as the provider's default, so a reply to the default is a reply to the
    shared sender; see :func:`_senders`.
    """
    try:
        number = parse_mobile(contact, ctx.settings.allowed_regions)
    except InvalidNumber:
        return None
    stop, start = is_stop(body), is_start(body)
    with ctx.db.write() as conn:
        senders = _senders(conn, ctx, to, default_sender)
        answered = conn.execute(_LAST_RECEIVED_FROM, {"contact": number, "senders": senders}).first()
        if answered is None:
            return None
        account_id, message_id = str(answered.account_id), str(answered.id)
        now = ctx.clock.now()
        kept = inbound.keep(conn, account_id=account_id, from_number=number, to=_address(ctx, to), body=body,
                            reply_to=message_id, provider=provider, now=now)
        if stop:
            _add(conn, ctx, account_id, number, "reply", actor, now)
        elif start:
            _remove(conn, account_id, number, actor, now, source="reply")
    return Reply(account_id, kept.id, stop, start)


def _address(ctx: Context, address: str) -> str:
    """An address as the list shows it: E.164 for a mobile number, else as given."""
    text = (address or "").strip()
    try:
        return parse_mobile(text, ctx.settings.allowed_regions)
    except InvalidNumber:
        return text


def _forms(ctx: Context, address: str) -> set[str]:
    """An address as given and, when it is a mobile number, in E.164."""
    text = (address or "").strip()
    found = {text}
    try:
        found.add(parse_mobile(text, ctx.settings.allowed_regions))
    except InvalidNumber:
        pass
    return found


def _senders(conn: Connection, ctx: Context, to: str, default_sender: Collection[str] | None) -> list[str]:
    """What the outbox may hold as the sender of an SMS that ``to`` answers.

    The outbox keeps the shared sender as ``SENDERID_SHARED_SENDER`` says (often empty), so
    a reply to the shared sender must be recognised by where it arrived:

    * the setting is set: the shared sender's SMS went out as it, and only a reply to it
      answers them;
    * it is empty: they went out as the provider's default sender, so a reply to one of
      ``default_sender`` answers them; or, when the provider does not say which number that
      is, a reply to any number that is not a custom number an account proved it owns
      (a reply to one of those answers that account's SMS alone).
    """
    found = _forms(ctx, to)
    shared = ctx.settings.shared_sender
    if shared.strip():
        answers_shared = bool(found & _forms(ctx, shared))
    elif default_sender is not None:
        answers_shared = any(found & _forms(ctx, alias) for alias in default_sender if alias.strip())
    else:
        answers_shared = conn.execute(_PROVEN_NUMBER, {"numbers": sorted(found)}).first() is None
    if answers_shared:
        found.add(shared)
    return sorted(found)
