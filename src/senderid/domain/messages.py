"""Sending SMS through the gateway, and who may send as which sender (SPEC §6).

A sender is allowed when it is

* empty or ``#SharedNum#``: the platform's shared number;
* a custom number that is ``active`` for the calling account, in any accepted form;
* a business name ``APPROVED`` for the calling account, in any case.

Anything else is refused and nothing is queued. Accepted messages go through
the same outbox and provider as OTP SMS, one row per contact.

A business name's status on ACMA's register and the providers that have authorised it
there come with it from the same lookup (memory or one query): ``SENDERID_UNREGISTERED_ALPHA``
(:mod:`senderid.domain.acma`, :mod:`senderid.domain.acma_providers`) costs no statement.
Under ``refuse``, a request with a contact whose route has no provider that authorised
the name is refused whole (403), like any other refusal of its sender.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, String, bindparam, func, literal, select, union_all

from senderid.clock import iso_ms
from senderid.domain import acma, acma_providers, audit, credits, gateway_fields, optouts, outbox, short_links
from senderid.domain.context import Context
from senderid.domain.senders import MISS, Miss, Sender, sender_key
from senderid.domain.types import Account, AcmaStatus, Actor, BusinessNameStatus, CustomNumberStatus
from senderid.errors import ContactsRequired, InvalidRequest, RateLimited, SenderNotAllowed
from senderid.numbers import InvalidNumber, parse_mobile
from senderid.sms_parts import DATA_CODING_GSM7, MessageTooLong, split
from senderid.store.coltypes import UTCDateTime, constant
from senderid.store.prepared import Prepared
from senderid.store.tables import business_names, custom_numbers
from senderid.store.tables import optouts as optouts_table
from senderid.store.tables import outbox as outbox_table

SHARED = "#SharedNum#"
SHARED_KEY = SHARED.lower()  # any case is the shared sender
REGISTERED = AcmaStatus.REGISTERED.value
MAX_CONTACTS = 1000
MAX_SENDER_LENGTH = 32
_PLACEHOLDER_CODE = "x" * gateway_fields.CODE_LENGTH  # a code's length, to count the parts


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
    unsubscribed: list[object]  # valid contacts on the account's opt-out list, as given
    scheduled_at: datetime | None = None  # due then (None: at once)


# Built once, run on the driver's cursor: checking a sender binds values into these, nothing more.
_ACTIVE_NUMBER = Prepared(select(custom_numbers.c.id).where(
    custom_numbers.c.account_id == bindparam("account_id"),
    custom_numbers.c.number == bindparam("number"),
    custom_numbers.c.status == constant(CustomNumberStatus.ACTIVE),
))
_APPROVED_NAME = Prepared(select(business_names.c.businessname, business_names.c.acma_status,
                                 business_names.c.acma_providers).where(
    business_names.c.account_id == bindparam("account_id"),
    business_names.c.name_key == bindparam("name_key"),
    business_names.c.status == constant(BusinessNameStatus.APPROVED),
))




def _is_shared(sender: str) -> bool:
    return sender == "" or sender.lower() == SHARED_KEY


def _from_memory(ctx: Context, account_id: str, sender: str, number: str | None) -> Sender | None | Miss:
    if _is_shared(sender):
        return Sender("shared", ctx.settings.shared_sender)
    return ctx.senders.sender(account_id, sender_key(number, sender.lower()))


def _number(ctx: Context, sender: str) -> str | None:
    try:
        return parse_mobile(sender, ctx.settings.allowed_regions)
    except InvalidNumber:
        return None


def check_sender_from_memory(ctx: Context, account: Account, sender: object) -> Sender | None | Miss:
    """:func:`check_sender` without the database: MISS when memory cannot answer."""
    text = _clean_sender(sender)
    return _from_memory(ctx, account.id, text, None if _is_shared(text) else _number(ctx, text))


def _resolve(ctx: Context, account_id: str, sender: str) -> Sender | None:
    """What ``sender`` stands for in this account, or None when the account may not use it.

    From memory when this process holds the answer for this (account, sender), "may not"
    included (no statement); otherwise one point query for this sender alone (a unique
    lookup by the tables' indexes, whatever the account holds), kept in memory unless the
    account's senders changed while it ran.
    """
    number = None if _is_shared(sender) else _number(ctx, sender)
    known = _from_memory(ctx, account_id, sender, number)
    if known is not MISS:
        return known  # type: ignore[return-value]  # MISS, the only other value, is ruled out above
    name_key = sender.lower()
    generation = ctx.senders.sender_generation(account_id)
    with ctx.db.read() as conn:
        if number is not None:
            found = _ACTIVE_NUMBER.run(conn, {"account_id": account_id, "number": number}).first()
            answer = Sender("custom_number", number) if found else None
        else:
            row = _APPROVED_NAME.run(conn, {"account_id": account_id, "name_key": name_key}).first()
            answer = Sender("business_name", row.businessname, row.acma_status == REGISTERED,
                            acma_providers.decode(row.acma_providers)) if row else None
    ctx.senders.put_sender(account_id, sender_key(number, name_key), answer, generation)
    return answer


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
    ctx: Context, account: Account, *, message: object, contacts: object, sender: object, actor: Actor,
    fields: Mapping[str, object] | None = None,
) -> SendOutcome:
    """Queue ``message`` to each valid contact not on the account's opt-out list.

    ``fields``: the request's other documented fields (:mod:`senderid.domain.gateway_fields`).
    One transaction; a plain send runs the same statements as ever: the opt-out lookup
    rides on the rate limit's count, and the balance is touched only for a prepaid account.
    """
    if not isinstance(message, str) or not message.strip():
        raise InvalidRequest("message is required: the text of the SMS")
    if "\x00" in message:
        raise InvalidRequest("message must not contain NUL characters")
    gateway_fields.refuse_custom_fields(message)
    options = gateway_fields.PLAIN if not fields else gateway_fields.parse(
        fields, message=message, now=ctx.clock.now(), list_id=optouts.list_id(account.id),
        short_link_base=ctx.settings.short_link_base,
    )
    text = gateway_fields.compose(message, options)
    base = ctx.settings.short_link_base or ""
    measured = gateway_fields.with_links(text, options, base, {
        link.short: "x" * gateway_fields.CODE_LENGTH for link in options.links})
    encoding, parts = measure(measured, ctx.settings.message_max_parts)
    if contacts is None or contacts == []:
        raise ContactsRequired()
    if not isinstance(contacts, list) or len(contacts) > MAX_CONTACTS:
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
        raise ContactsRequired()

    resolved = _resolve(ctx, account.id, sender_text)
    if resolved is None:
        raise SenderNotAllowed(
            f"You may not send as {sender_text!r}: it is not an active custom number or an "
            "approved business name of your account"
        )
    # A business name cannot receive a STOP reply: its messages carry an unsubscribe link.
    by_link = options.reply_stop and resolved.kind == "business_name"
    if by_link:
        if ctx.settings.short_link_base is None:
            raise InvalidRequest(
                "replyStopToOptOut: a business name cannot receive a STOP reply, and this server has no "
                "unsubscribe links (SENDERID_SHORT_LINK_BASE is not set): send from a number, or leave "
                "replyStopToOptOut out and give the contact another way to opt out"
            )
        text = gateway_fields.compose(message, options, optout_link=f"{base}/{_PLACEHOLDER_CODE}")
        encoding, parts = measure(gateway_fields.with_links(text, options, base, {
            link.short: _PLACEHOLDER_CODE for link in options.links}), ctx.settings.message_max_parts)
    cost = credits.per_message(ctx.settings, resolved.kind, parts)
    if resolved.kind == "business_name" and acma.refuses(ctx, resolved.acma_registered):
        raise SenderNotAllowed(acma.not_registered_message(resolved.value))
    if resolved.kind == "business_name":  # all or nothing: one contact no carrier may take refuses the request
        refused = acma_providers.refused_contact(ctx, account.id, resolved.acma_providers,
                                                 (number for _given, number in valid))
        if refused is not None:
            raise SenderNotAllowed(acma_providers.not_authorised_message(resolved.value, refused))
    registered = resolved.acma_registered if acma.tells(ctx) else None
    with ctx.db.write() as conn:
        now = ctx.clock.now()
        opted_out = _check_send_rate(ctx, conn, account.id, valid, now)
        unsubscribed = [given for given, number in valid if number in opted_out]
        to_send = [(given, number) for given, number in valid if number not in opted_out]
        if account.prepaid and to_send:
            credits.debit(conn, account.id, cost * len(to_send), now)
        codes = short_links.codes_for(len(to_send), options.links) if options.links else []
        optout_codes = [short_links.new_code() for _ in to_send] if by_link else []
        texts = ([gateway_fields.compose(message, options, optout_link=f"{base}/{code}") for code in optout_codes]
                 if by_link else [text] * len(to_send))
        message_ids = outbox.enqueue_many(conn, now=now, kind="sms", messages=[
            outbox.Message(
                to=number, sender=resolved.value, account_id=account.id, due_at=options.due_at,
                body=gateway_fields.with_links(texts[i], options, base, codes[i]) if codes else texts[i],
                parts=parts, credits=cost, charged=cost if account.prepaid else 0,
                custom_string=options.custom_string,
                acma_registered=registered,
            )
            for i, (_given, number) in enumerate(to_send)
        ])
        if codes:
            short_links.store(conn, account_id=account.id, now=now, message_ids=message_ids,
                              links=options.links, codes=codes)
        if optout_codes:
            short_links.store_optouts(conn, account_id=account.id, now=now, message_ids=message_ids,
                                      numbers=[number for _given, number in to_send], codes=optout_codes)
        details: dict[str, Any] = {"unsubscribed": len(unsubscribed)} if unsubscribed else {}
        if options.due_at is not None:
            details["scheduled_at"] = iso_ms(options.due_at)
        if registered is not None:
            details["acma_registered"] = registered
        audit.record(
            conn, at=now, actor=actor, action=audit.Action.MESSAGE_QUEUED, account_id=account.id,
            sender=resolved.value or SHARED, sender_kind=resolved.kind, contacts=len(to_send),
            parts=parts, **details,
        )
        if message_ids:
            ctx.db.after_commit(ctx.on_enqueue)
    queued = [Queued(given, number, message_id)
              for (given, number), message_id in zip(to_send, message_ids, strict=True)]
    return SendOutcome(queued, invalid, encoding, parts, unsubscribed, options.due_at)


# The account's SMS of the last minute (the rate limit), and which of the contacts are on
# its opt-out list: one statement.
_RECENT_AND_OPTED_OUT = union_all(
    select(literal("count").label("k"), func.count().label("n"), literal(None, String).label("number"))
    .select_from(outbox_table)
    .where(outbox_table.c.account_id == bindparam("account_id"), outbox_table.c.kind == "sms",
           outbox_table.c.created_at > bindparam("since", type_=UTCDateTime)),
    select(literal("optout"), literal(0), optouts_table.c.number)
    .where(optouts_table.c.account_id == bindparam("account_id"),
           optouts_table.c.number.in_(bindparam("numbers", expanding=True))),
)


def _check_send_rate(ctx: Context, conn: Connection, account_id: str, valid: list[tuple[object, str]],
                     now: datetime) -> set[str]:
    """Refuse a send over the account's per-minute limit; returns the contacts that opted out."""
    ctx.db.lock(conn, f"account:{account_id}")
    limit = ctx.settings.send_max_per_account_per_minute
    if len(valid) > limit:
        raise InvalidRequest(f"At most {limit} messages per minute: send fewer contacts per call")
    since = now - timedelta(minutes=1)
    rows = conn.execute(_RECENT_AND_OPTED_OUT, {
        "account_id": account_id, "since": since, "numbers": [number for _given, number in valid]}).all()
    recent = sum(r.n for r in rows if r.k == "count")
    opted_out = {r.number for r in rows if r.k == "optout"}
    count = sum(1 for _given, number in valid if number not in opted_out)
    if count and recent + count > limit:
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
    return opted_out
