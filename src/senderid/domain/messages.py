"""Sending SMS through the gateway, and who may send as which sender (SPEC §6).

A sender is allowed when it is

* empty or ``#SharedNum#``: the platform's shared number;
* a custom number that is ``active`` for the calling account, in any accepted form;
* a business name ``APPROVED`` for the calling account, in any case.

Anything else is refused and nothing is queued. Accepted messages go through
the same outbox and provider as OTP SMS, one row per contact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, bindparam, func, literal, select, union_all

from senderid.domain import audit
from senderid.domain import outbox as domain_outbox
from senderid.domain.context import Context
from senderid.domain.senders import MISS, AllowedSenders, Miss
from senderid.domain.types import Account, Actor, BusinessNameStatus, CustomNumberStatus
from senderid.errors import InvalidRequest, RateLimited, SenderIdError
from senderid.numbers import InvalidNumber, parse_mobile
from senderid.sms_parts import DATA_CODING_GSM7, MessageTooLong, split
from senderid.store.tables import business_names, custom_numbers
from senderid.store.tables import outbox as outbox_table

SHARED = "#SharedNum#"
MAX_CONTACTS = 1000
MAX_SENDER_LENGTH = 32


class SenderNotAllowed(SenderIdError):
    http_status = 403


@dataclass(frozen=True, slots=True)
class Sender:
    kind: str  # shared | custom_number | business_name
    value: str  # what the SMS goes out as ("" = the provider's default)


@dataclass(frozen=True, slots=True)
class Queued:
    given: object  # the contact as the caller wrote it
    number: str  # E.164
    message_id: str


@dataclass(frozen=True, slots=True)
class SendOutcome:
    queued: list[Queued]
    invalid: list[object]
    encoding: str  # GSM-7 | UCS-2
    parts: int  # SMS parts per message


# Built once: checking a sender binds values into these, nothing more.
_ACTIVE_NUMBER = select(custom_numbers.c.id).where(
    custom_numbers.c.account_id == bindparam("account_id"),
    custom_numbers.c.number == bindparam("number"),
    custom_numbers.c.status == CustomNumberStatus.ACTIVE,
)
_APPROVED_NAME = select(business_names.c.businessname).where(
    business_names.c.account_id == bindparam("account_id"),
    business_names.c.name_key == bindparam("name_key"),
    business_names.c.status == BusinessNameStatus.APPROVED,
)
_ALL_SENDERS = union_all(
    select(literal("n").label("kind"), custom_numbers.c.number.label("value"),
           custom_numbers.c.number.label("name_key")).where(
        custom_numbers.c.account_id == bindparam("account_id"),
        custom_numbers.c.status == CustomNumberStatus.ACTIVE),
    select(literal("b"), business_names.c.businessname, business_names.c.name_key).where(
        business_names.c.account_id == bindparam("account_id"),
        business_names.c.status == BusinessNameStatus.APPROVED),
)


def allowed_senders(ctx: Context, account_id: str) -> AllowedSenders:
    """The account's active numbers and approved names: from memory, or one query (kept in
    memory when the cache is live)."""
    cached = ctx.senders.senders(account_id)
    if cached is not None:
        return cached
    generation = ctx.senders.generation()
    with ctx.db.read() as conn:
        rows = conn.execute(_ALL_SENDERS, {"account_id": account_id}).all()
    allowed = AllowedSenders(
        numbers=frozenset(r.value for r in rows if r.kind == "n"),
        names={r.name_key: r.value for r in rows if r.kind == "b"},
    )
    ctx.senders.put_senders(account_id, allowed, generation)
    return allowed


def _from_memory(ctx: Context, account_id: str, sender: str, number: str | None) -> Sender | None | Miss:
    if sender in ("", SHARED):
        return Sender("shared", ctx.settings.shared_sender)
    allowed = ctx.senders.senders(account_id)
    return MISS if allowed is None else _among(allowed, sender, number)


def _among(allowed: AllowedSenders, sender: str, number: str | None) -> Sender | None:
    if number is not None:
        return Sender("custom_number", number) if number in allowed.numbers else None
    name = allowed.names.get(sender.lower())
    return Sender("business_name", name) if name else None


def _number(ctx: Context, sender: str) -> str | None:
    try:
        return parse_mobile(sender, ctx.settings.allowed_regions)
    except InvalidNumber:
        return None


def check_sender_from_memory(ctx: Context, account: Account, sender: object) -> Sender | None | Miss:
    """:func:`check_sender` without the database: MISS when memory cannot answer."""
    text = _clean_sender(sender)
    return _from_memory(ctx, account.id, text, _number(ctx, text))


def _resolve(ctx: Context, account_id: str, sender: str) -> Sender | None:
    """What ``sender`` stands for in this account, or None when the account may not use it.

    From memory when this process holds the account's senders (no statement); otherwise
    one query: all of them when the cache is live (to keep them), else just the one asked.
    """
    number = None if sender in ("", SHARED) else _number(ctx, sender)
    known = _from_memory(ctx, account_id, sender, number)
    if known is not MISS:
        return known  # type: ignore[return-value]
    if ctx.senders.enabled:
        return _among(allowed_senders(ctx, account_id), sender, number)
    with ctx.db.read() as conn:
        if number is not None:
            found = conn.execute(_ACTIVE_NUMBER, {"account_id": account_id, "number": number}).first()
            return Sender("custom_number", number) if found else None
        name = conn.execute(_APPROVED_NAME, {"account_id": account_id, "name_key": sender.lower()}).scalar()
    return Sender("business_name", name) if name else None


def _clean_sender(sender: object) -> str:
    if sender is None:
        return ""
    if not isinstance(sender, (str, int)) or isinstance(sender, bool):
        raise InvalidRequest("sender must be a string: a number, a business name or #SharedNum#")
    text = str(sender).strip()
    if not text.isprintable():
        raise InvalidRequest("sender must not contain control characters")
    if len(text) > MAX_SENDER_LENGTH:
        raise InvalidRequest(f"sender must be at most {MAX_SENDER_LENGTH} characters")
    return text


def check_sender(ctx: Context, account: Account, sender: object) -> Sender | None:
    """Read-only: what the account would send as, or None when it may not use ``sender``."""
    return _resolve(ctx, account.id, _clean_sender(sender))


def measure(text: str, max_parts: int) -> tuple[str, int]:
    """(encoding, parts) of a message, refusing one longer than ``max_parts`` parts."""
    try:
        segments = split(text, 0)
    except MessageTooLong:
        segments = None
    if segments is None or len(segments.parts) > max_parts:
        raise InvalidRequest(f"The message is too long: at most {max_parts} SMS parts")
    encoding = "GSM-7" if segments.data_coding == DATA_CODING_GSM7 else "UCS-2"
    return encoding, len(segments.parts)


def send(
    ctx: Context, account: Account, *, message: object, contacts: object, sender: object, actor: Actor
) -> SendOutcome:
    if not isinstance(message, str) or not message.strip():
        raise InvalidRequest("message is required: the text of the SMS")
    if "\x00" in message:
        raise InvalidRequest("message must not contain NUL characters")
    encoding, parts = measure(message, ctx.settings.message_max_parts)
    if not isinstance(contacts, list) or not 1 <= len(contacts) <= MAX_CONTACTS:
        raise InvalidRequest(f"contacts must be a list of 1 to {MAX_CONTACTS} mobile numbers")
    sender_text = _clean_sender(sender)

    valid: list[tuple[object, str]] = []
    invalid: list[object] = []
    seen: set[str] = set()
    for contact in contacts:
        try:
            number = parse_mobile(contact, ctx.settings.allowed_regions)
        except InvalidNumber:
            invalid.append(contact)
            continue
        if number not in seen:  # one SMS per phone, however often it is listed
            seen.add(number)
            valid.append((contact, number))
    if not valid:
        raise InvalidRequest("None of the contacts is a valid mobile number")

    resolved = _resolve(ctx, account.id, sender_text)
    if resolved is None:
        raise SenderNotAllowed(
            f"You may not send as {sender_text!r}: it is not an active custom number or an "
            "approved business name of your account"
        )
    with ctx.db.write() as conn:
        now = ctx.clock.now()
        _check_send_rate(ctx, conn, account.id, len(valid), now)
        message_ids = domain_outbox.enqueue_many(conn, now=now, kind="sms", messages=[
            domain_outbox.Message(to=number, sender=resolved.value, body=message, account_id=account.id)
            for _given, number in valid
        ])
        audit.record(
            conn, at=now, actor=actor, action=audit.Action.MESSAGE_QUEUED, account_id=account.id,
            sender=resolved.value or SHARED, sender_kind=resolved.kind, contacts=len(valid),
            parts=parts,
        )
        ctx.db.after_commit(ctx.on_enqueue)
    queued = [Queued(given, number, message_id)
              for (given, number), message_id in zip(valid, message_ids, strict=True)]
    return SendOutcome(queued, invalid, encoding, parts)


def _check_send_rate(ctx: Context, conn: Connection, account_id: str, count: int, now) -> None:  # type: ignore[no-untyped-def]
    ctx.db.lock(conn, f"account:{account_id}")
    limit = ctx.settings.send_max_per_account_per_minute
    if count > limit:
        raise InvalidRequest(f"At most {limit} messages per minute: send fewer contacts per call")
    since = now - timedelta(minutes=1)
    recent = conn.execute(
        select(func.count()).select_from(outbox_table).where(
            outbox_table.c.account_id == account_id,
            outbox_table.c.kind == "sms",
            outbox_table.c.created_at > since,
        )
    ).scalar_one()
    if recent + count > limit:
        oldest = conn.execute(
            select(outbox_table.c.created_at)
            .where(outbox_table.c.account_id == account_id, outbox_table.c.kind == "sms",
                   outbox_table.c.created_at > since)
            .order_by(outbox_table.c.created_at)
            .limit(1)
        ).scalar()
        wait = math.ceil(((oldest or now) + timedelta(minutes=1) - now).total_seconds())
        raise RateLimited(
            f"Your account may queue {limit} messages per minute; try again in {wait} seconds", wait
        )


