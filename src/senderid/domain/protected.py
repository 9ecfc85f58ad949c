"""Protected senders: numbers, prefixes and names only some accounts (or none) may register.

Operators keep the list: numbers no one may send from (the Do Not Originate numbers that
agencies use only for inbound calls), prefixes (``+6149157*``: every number that starts
so) and names (a bank's brand), each with the accounts allowed to use it (none: no
account) and a note.

* An add or a reclaim of a protected number (or one under a protected prefix) by an
  account not allowed is refused (:class:`~senderid.errors.NumberProtected`) and audited;
  nothing is sent. The check rides on add's one read of the number's state
  (:func:`number_refused`, a correlated ``EXISTS``): no statement of its own.
* A ``business/add`` of a protected name, or of a name that holds it as a whole word in
  any case (protecting ``ANZ`` refuses ``ANZ Bank`` and ``my anz``, not ``Banzai``), by an
  account not allowed is refused (:class:`~senderid.errors.BusinessNameProtected`) and
  audited.
* Protecting a value someone already holds lists the holders; ``end_holders`` ends their
  registrations and requests in the same transaction (a number's queued messages
  cancelled, :func:`senderid.domain.outbox.sender_removed`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import phonenumbers
from sqlalchemy import ColumnElement, Connection, and_, delete, exists, func, insert, literal, or_, select, update

from senderid import csvfile, ids
from senderid.domain import audit, outbox
from senderid.domain import events as domain_events
from senderid.domain.context import Context
from senderid.domain.types import Actor, BusinessNameStatus, CustomNumberStatus
from senderid.errors import InvalidRequest, NotFound
from senderid.numbers import InvalidNumber, parse_mobile
from senderid.store.coltypes import constants
from senderid.store.tables import accounts, business_names, custom_numbers, protected_sender_accounts, protected_senders

NUMBER, PREFIX, NAME = "number", "prefix", "name"
MAX_VALUE, MAX_NOTE = 100, 500
# A number's registrations that hold or claim it; a name's requests that hold it.
NUMBER_HOLDING = (CustomNumberStatus.PENDING, CustomNumberStatus.ACTIVE, CustomNumberStatus.LAPSED,
                  CustomNumberStatus.CLAIMING)
NAME_HOLDING = (BusinessNameStatus.REQUESTED, BusinessNameStatus.APPROVED)
ENDED_REASON = "the sender is protected"
_PHONE_CHARACTERS = re.compile(r"[+0-9 \-.()]+")
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class Protected:
    id: str
    kind: str  # number | prefix | name
    value: str  # what is compared: E.164, the prefix's digits with +, the name in lower case
    shown: str  # as listed: +61491570159, +6149157*, ANZ
    note: str | None
    accounts: tuple[str, ...]  # the accounts allowed to use it
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Holder:
    kind: str  # custom_number | business_name
    id: str
    account_id: str
    sender: str  # the number (E.164) or the business name
    status: str


@dataclass(frozen=True, slots=True)
class Protection:
    """What :func:`add` did: the entry, the holders it found, and whether it ended them."""

    entry: Protected
    holders: list[Holder] = field(default_factory=list)
    ended: bool = False


# -- what a value is ----------------------------------------------------------------------


def classify(value: object, regions: Sequence[str]) -> tuple[str, str, str]:
    """(kind, value compared, value shown) of what an operator wrote: a number in any
    accepted form, a prefix with a trailing ``*`` (``+6149157*``, ``049157*``), or a name."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest("value is required: a number, a prefix ending in * or a name")
    text = value.strip()
    if len(text) > MAX_VALUE or not text.isprintable():
        raise InvalidRequest(f"value must be at most {MAX_VALUE} printable characters")
    if text.endswith("*"):
        digits = re.sub(r"[ \-.()]", "", text[:-1])
        if digits.startswith("+") and digits[1:].isdigit() and len(digits) >= 3:
            prefix = digits
        elif digits.startswith("0") and digits.isdigit() and len(digits) >= 2:
            prefix = f"+{phonenumbers.country_code_for_region(regions[0])}{digits[1:]}"
        else:
            raise InvalidRequest("a prefix is + and at least 2 digits (or a national 0 and digits), then *")
        return PREFIX, prefix, prefix + "*"
    if _PHONE_CHARACTERS.fullmatch(text):
        try:
            number = parse_mobile(text, regions)
        except InvalidNumber:
            raise InvalidRequest(f"{text!r} is not a valid mobile number (a prefix ends in *)") from None
        return NUMBER, number, number
    return NAME, text.lower(), text


def name_matches(protected: str, name: str) -> bool:
    """Whether ``name`` holds the protected name as whole words, in any case."""
    wanted = _WORD.findall(protected.lower())
    words = _WORD.findall(name.lower())
    return bool(wanted) and any(words[i:i + len(wanted)] == wanted for i in range(len(words) - len(wanted) + 1))


# -- the checks of add, reclaim and business/add ----------------------------------------


def number_refused(number: ColumnElement[str], account_id: ColumnElement[str]) -> ColumnElement[bool]:
    """SQL: whether a protected number or prefix covers ``number`` and ``account_id`` is
    not among its allowed accounts (a small table; the number's lookup is by index)."""
    allowed = exists().where(protected_sender_accounts.c.protected_id == protected_senders.c.id,
                             protected_sender_accounts.c.account_id == account_id)
    covers = or_(and_(protected_senders.c.kind == NUMBER, protected_senders.c.value == number),
                 and_(protected_senders.c.kind == PREFIX,
                      func.substr(number, 1, func.length(protected_senders.c.value)) == protected_senders.c.value))
    return exists().where(covers, ~allowed)


def name_refused(conn: Connection, account_id: str, name: str) -> str | None:
    """The protected name ``name`` holds (as shown) that the account may not use, or None."""
    rows = conn.execute(
        select(protected_senders.c.value, protected_senders.c.shown).where(
            protected_senders.c.kind == NAME,
            ~exists().where(protected_sender_accounts.c.protected_id == protected_senders.c.id,
                            protected_sender_accounts.c.account_id == account_id))
    ).all()
    return next((row.shown for row in rows if name_matches(row.value, name)), None)


# -- the list -------------------------------------------------------------------------------


def list_protected(ctx: Context) -> list[Protected]:
    with ctx.db.read() as conn:
        return _read(conn)


def _read(conn: Connection, where: ColumnElement[bool] | None = None) -> list[Protected]:
    query = select(protected_senders).order_by(protected_senders.c.kind, protected_senders.c.value)
    if where is not None:
        query = query.where(where)
    rows = conn.execute(query).all()
    allowed: dict[str, list[str]] = {}
    if rows:
        for pid, account_id in conn.execute(
                select(protected_sender_accounts.c.protected_id, protected_sender_accounts.c.account_id)
                .where(protected_sender_accounts.c.protected_id.in_([r.id for r in rows]))
                .order_by(protected_sender_accounts.c.account_id)):
            allowed.setdefault(pid, []).append(account_id)
    return [Protected(r.id, r.kind, r.value, r.shown, r.note, tuple(allowed.get(r.id, ())), r.created_at)
            for r in rows]


def add(ctx: Context, value: object, *, accounts_allowed: Iterable[str] = (), note: object = None,
        end_holders: bool = False, actor: Actor) -> Protection:
    """Protect ``value`` (replacing its allowed accounts and note when it is protected
    already). Returns the holders not allowed it; with ``end_holders`` they are ended."""
    kind, key, shown = classify(value, ctx.settings.allowed_regions)
    clean_note = _clean_note(note)
    allowed = sorted({a.strip() for a in accounts_allowed if a and a.strip()})
    with ctx.db.write() as conn:
        now = ctx.clock.now()
        known = set(conn.execute(select(accounts.c.id).where(accounts.c.id.in_(allowed))).scalars())
        unknown = [a for a in allowed if a not in known]
        if unknown:
            raise NotFound(f"No account with id {', '.join(unknown)}")
        old = conn.execute(select(protected_senders.c.id).where(
            protected_senders.c.kind == kind, protected_senders.c.value == key)).scalar()
        entry_id = old or ids.new_id()
        if old is None:
            conn.execute(insert(protected_senders).values(
                id=entry_id, kind=kind, value=key, shown=shown, note=clean_note, created_by=actor.name,
                created_at=now))
        else:
            conn.execute(update(protected_senders).where(protected_senders.c.id == old).values(note=clean_note))
            conn.execute(delete(protected_sender_accounts).where(protected_sender_accounts.c.protected_id == old))
        if allowed:
            conn.execute(insert(protected_sender_accounts),
                         [{"protected_id": entry_id, "account_id": a} for a in allowed])
        found = _holders(conn, kind, key, allowed)
        audit.record(conn, at=now, actor=actor, action=audit.Action.PROTECTED_ADDED, subject=entry_id,
                     kind=kind, value=shown, accounts=allowed, note=clean_note, holders=len(found),
                     end_holders=end_holders and bool(found))
        if end_holders and found:
            _end(ctx, conn, found, now, actor)
        entry = _read(conn, protected_senders.c.id == entry_id)[0]
    return Protection(entry, found, end_holders and bool(found))


def remove(ctx: Context, value: object, *, actor: Actor) -> Protected:
    kind, key, shown = classify(value, ctx.settings.allowed_regions)
    with ctx.db.write() as conn:
        found = _read(conn, and_(protected_senders.c.kind == kind, protected_senders.c.value == key))
        if not found:
            raise NotFound(f"{shown} is not protected")
        conn.execute(delete(protected_sender_accounts).where(protected_sender_accounts.c.protected_id == found[0].id))
        conn.execute(delete(protected_senders).where(protected_senders.c.id == found[0].id))
        audit.record(conn, at=ctx.clock.now(), actor=actor, action=audit.Action.PROTECTED_REMOVED,
                     subject=found[0].id, kind=kind, value=shown)
    return found[0]


def read_csv(text: str) -> list[tuple[str, list[str], str | None]]:
    """The rows of an import file: columns ``value,accounts,note`` (a header row with those
    names), ``accounts`` separated by spaces. A bad file is refused whole."""
    if "value" not in csvfile.header(text):
        raise InvalidRequest("the file needs a header row: value,accounts,note")
    rows = []
    for line, row in csvfile.records(text):
        if not row.get("value", "").strip():
            raise InvalidRequest(f"line {line}: value is empty")
        rows.append((row["value"], row.get("accounts", "").split(), row.get("note", "").strip() or None))
    return rows


def import_rows(ctx: Context, rows: Sequence[tuple[str, list[str], str | None]], *, end_holders: bool = False,
                actor: Actor) -> list[Protection]:
    """Protect each row's value, all in one transaction: a row refused changes nothing."""
    for value, _accounts, note in rows:
        classify(value, ctx.settings.allowed_regions)
        _clean_note(note)
    with ctx.db.write():  # each add joins it
        return [add(ctx, value, accounts_allowed=allowed, note=note, end_holders=end_holders, actor=actor)
                for value, allowed, note in rows]


def _clean_note(note: object) -> str | None:
    if note is None or (isinstance(note, str) and not note.strip()):
        return None
    if not isinstance(note, str) or len(note.strip()) > MAX_NOTE or not note.strip().isprintable():
        raise InvalidRequest(f"note must be at most {MAX_NOTE} printable characters")
    return note.strip()


# -- the holders ----------------------------------------------------------------------------


def holders(ctx: Context, value: object) -> list[Holder]:
    """Who holds ``value`` now, among the accounts not allowed it (all, if not protected)."""
    kind, key, _shown = classify(value, ctx.settings.allowed_regions)
    with ctx.db.read() as conn:
        entry = _read(conn, and_(protected_senders.c.kind == kind, protected_senders.c.value == key))
        return _holders(conn, kind, key, entry[0].accounts if entry else ())


def _holders(conn: Connection, kind: str, key: str, allowed: Sequence[str]) -> list[Holder]:
    if kind == NAME:
        rows = conn.execute(select(business_names.c.id, business_names.c.account_id, business_names.c.businessname,
                                   business_names.c.status)
                            .where(business_names.c.status.in_(constants(NAME_HOLDING)),
                                   business_names.c.account_id.not_in(list(allowed)))).all()
        return [Holder("business_name", r.id, r.account_id, r.businessname, r.status)
                for r in rows if name_matches(key, r.businessname)]
    covers = (custom_numbers.c.number == key if kind == NUMBER
              else func.substr(custom_numbers.c.number, 1, len(key)) == literal(key))
    rows = conn.execute(select(custom_numbers.c.id, custom_numbers.c.account_id, custom_numbers.c.number,
                               custom_numbers.c.status)
                        .where(covers, custom_numbers.c.status.in_(constants(NUMBER_HOLDING)),
                               custom_numbers.c.account_id.not_in(list(allowed)))
                        .order_by(custom_numbers.c.number)).all()
    return [Holder("custom_number", r.id, r.account_id, r.number, r.status) for r in rows]


def _end(ctx: Context, conn: Connection, found: Sequence[Holder], now: datetime, actor: Actor) -> None:
    """End the holders' registrations and requests: a number's becomes ``deleted`` (its
    queued codes and messages cancelled), a name's ``REJECTED`` with the reason."""
    entries: list[audit.Entry] = []
    events: list[domain_events.Event] = []
    numbers = [h for h in found if h.kind == "custom_number"]
    if numbers:
        conn.execute(update(custom_numbers).where(custom_numbers.c.id.in_([h.id for h in numbers]))
                     .values(status=CustomNumberStatus.DELETED, ended_at=now, updated_at=now, due_at=None,
                             otp_hash=None))
        outbox.cancel_otps(conn, [h.id for h in numbers], now)
    for holder in numbers:
        held = (outbox.sender_removed(conn, now=now, account_id=holder.account_id, sender=holder.sender)
                if holder.status == CustomNumberStatus.ACTIVE else [])
        entries.append(audit.Entry(audit.Action.CUSTOM_NUMBER_DELETED, holder.account_id, holder.id,
                                   {"number": holder.sender, "previous_status": holder.status,
                                    "reason": ENDED_REASON, **outbox.audit_details(held)}))
        events.append((holder.account_id, "custom_number.deleted",
                       {"id": holder.id, "number": holder.sender, "status": CustomNumberStatus.DELETED,
                        "reason": ENDED_REASON}))
    names = [h for h in found if h.kind == "business_name"]
    if names:
        conn.execute(update(business_names).where(business_names.c.id.in_([h.id for h in names]))
                     .values(status=BusinessNameStatus.REJECTED, reason=ENDED_REASON, decided_by=actor.name,
                             decided_at=now, updated_at=now))
    for holder in names:
        held = (outbox.sender_removed(conn, now=now, account_id=holder.account_id, sender=holder.sender)
                if holder.status == BusinessNameStatus.APPROVED else [])
        entries.append(audit.Entry(audit.Action.BUSINESS_NAME_REJECTED, holder.account_id, holder.id,
                                   {"businessname": holder.sender, "reason": ENDED_REASON,
                                    **outbox.audit_details(held)}))
        events.append((holder.account_id, "business_name.rejected",
                       {"id": holder.id, "businessname": holder.sender, "status": BusinessNameStatus.REJECTED,
                        "reason": ENDED_REASON}))
    audit.record_many(conn, at=now, actor=actor, entries=entries)
    domain_events.emit(conn, now=now, events=events)
    for account_id in {h.account_id for h in found}:
        ctx.db.after_commit(functools.partial(ctx.senders.forget_senders, account_id))
