"""Business names (alpha sender IDs): requested by an account, decided by an operator.

The rules (SPEC §5, and ``docs/business-names.md``):

* a name is 3 to 11 characters of ``A-Z a-z 0-9``, space and ``-``; it does not
  start or end with a space; it holds at least one letter (a name of digits,
  spaces and dashes reads as a phone number, so "not all digits" means that);
  it does not contain ``Unverified`` in any case (spaces and dashes ignored); it
  is not made only of generic words (:data:`GENERIC_WORDS`, plurals included,
  with or without spaces between them: ``Bank Alert``, ``BankAlert``);
* a request starts ``REQUESTED``; an operator approves it (``APPROVED``) or
  rejects it with a reason (``REJECTED``); the account may withdraw it while it
  is still ``REQUESTED`` (``WITHDRAWN``). Only an approved name is usable as a
  sender;
* a name that holds a protected name as a whole word (:mod:`senderid.domain.protected`)
  is refused unless the account is allowed it;
* one account holds a name once while it is ``REQUESTED`` or ``APPROVED``
  (compared case-insensitively; a partial unique index has the last word); any
  number of accounts may hold the same name, each with its own approval.

A request may also name its registrant and evidence for ACMA's SMS Sender ID Register
(:mod:`senderid.domain.registrant`); the name's status on the register is
:mod:`senderid.domain.acma`'s.

Every change writes an audit event; decisions also queue a webhook event, in
the same transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from senderid import ids
from senderid.domain import acma_providers, audit, events, protected, registrant
from senderid.domain.context import Context
from senderid.domain.types import Account, Actor, BusinessNameStatus
from senderid.errors import (
    BusinessNameInvalid,
    BusinessNameProtected,
    BusinessNameRequired,
    Conflict,
    InvalidRequest,
    NotFound,
)
from senderid.numbers import InvalidNumber, parse_contact
from senderid.store.coltypes import constant, constants
from senderid.store.tables import business_names

REQUESTED, APPROVED, REJECTED, WITHDRAWN = BusinessNameStatus
STATUSES = tuple(BusinessNameStatus)
LIVE = (REQUESTED, APPROVED)  # the statuses in which an account holds a name

MIN_LENGTH, MAX_LENGTH = 3, 11
MAX_REASON_LENGTH = 500
MAX_LIMIT = 1000

# Words that say nothing about who is sending, and are what phishing senders are
# made of. A name made only of these (and their plurals) is refused; a name that
# also holds the business's own word or a digit is fine ("Acme Alerts").
GENERIC_WORDS = frozenset({
    # SPEC §5
    "account", "alert", "bank", "billing", "delivery", "help", "info", "message",
    "notice", "password", "security", "service", "support", "tax", "urgent",
    "verify", "verified",
    # ours
    "admin", "auth", "code", "confirm", "customer", "donotreply", "fraud", "important",
    "invoice", "login", "mobile", "noreply", "notify", "official", "otp", "payment",
    "refund", "reminder", "secure", "sms", "team", "text", "update", "warning",
})

_ALLOWED = re.compile(r"[A-Za-z0-9 \-]+")
_LETTER = re.compile(r"[A-Za-z]")
_SEPARATORS = re.compile(r"[ \-]")


@dataclass(frozen=True, slots=True)
class BusinessName:
    id: str
    account_id: str
    businessname: str
    customer_contact: str | None
    status: str
    reason: str | None
    created_by: str  # the actor who asked (key:<id>, cli, ...); the wire shows the account
    decided_by: str | None
    requested_at: datetime
    decided_at: datetime | None
    created_at: datetime
    updated_at: datetime
    # ACMA's SMS Sender ID Register (see senderid.domain.registrant and senderid.domain.acma)
    abn: str | None = None
    entity_name: str | None = None
    use_case: str | None = None
    use_case_reference: str | None = None
    acma_status: str = "not_submitted"
    acma_reference: str | None = None
    acma_updated_by: str | None = None
    acma_updated_at: datetime | None = None
    # The providers that have authorised the name on the register (empty: every provider);
    # see senderid.domain.acma_providers.
    acma_providers: tuple[str, ...] = ()

    def missing_for_register(self) -> list[str]:
        """The fields ACMA's register needs that this name lacks (``abn``, ``entityName``, ...)."""
        return registrant.missing(self.abn, self.entity_name, self.use_case, self.use_case_reference)


def _business_name(row: Row[Any]) -> BusinessName:
    m = row._mapping
    return BusinessName(
        id=m["id"], account_id=m["account_id"], businessname=m["businessname"],
        customer_contact=m["customer_contact"], status=m["status"], reason=m["reason"],
        created_by=m["created_by"], decided_by=m["decided_by"], requested_at=m["requested_at"],
        decided_at=m["decided_at"], created_at=m["created_at"], updated_at=m["updated_at"],
        abn=m["abn"], entity_name=m["entity_name"], use_case=m["use_case"],
        use_case_reference=m["use_case_reference"], acma_status=m["acma_status"],
        acma_reference=m["acma_reference"], acma_updated_by=m["acma_updated_by"],
        acma_updated_at=m["acma_updated_at"], acma_providers=acma_providers.decode(m["acma_providers"]),
    )


# -- the rules -----------------------------------------------------------------------------


def _generic_parts(letters: str) -> list[str] | None:
    """``letters`` split into generic words (plurals allowed), or None when it cannot be."""
    best: list[list[str] | None] = [None] * (len(letters) + 1)
    best[0] = []
    for end in range(1, len(letters) + 1):
        for start in range(end):
            head = best[start]
            if head is None:
                continue
            word = letters[start:end]
            if word in GENERIC_WORDS or (word.endswith("s") and word[:-1] in GENERIC_WORDS):
                best[end] = [*head, word]
                break
    return best[len(letters)]


def check_name(value: object) -> str:
    """The business name, or the error that names the rule it breaks (SPEC §5)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise BusinessNameRequired()
    if not isinstance(value, str):
        raise BusinessNameInvalid(
            f"Business name must be a string of {MIN_LENGTH} to {MAX_LENGTH} characters"
        )
    if not MIN_LENGTH <= len(value) <= MAX_LENGTH:
        raise BusinessNameInvalid(f"Business name must be {MIN_LENGTH} to {MAX_LENGTH} characters")
    if not _ALLOWED.fullmatch(value):
        raise BusinessNameInvalid("Business name may only contain letters, digits, spaces and -")
    if value != value.strip(" "):
        raise BusinessNameInvalid("Business name must not start or end with a space")
    if not _LETTER.search(value):
        raise BusinessNameInvalid("Business name must not be all digits: it needs at least one letter")
    squashed = _SEPARATORS.sub("", value).lower()
    if "unverified" in squashed:
        raise BusinessNameInvalid("Business name must not contain 'Unverified'")
    parts = _generic_parts(squashed)
    if parts is not None:
        raise BusinessNameInvalid(
            f"Business name must not be made only of generic words such as bank, alert, info or "
            f"verify (found: {', '.join(parts)}); add your business's own name"
        )
    return value


def _clean_contact(ctx: Context, value: object) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return parse_contact(value, ctx.settings.allowed_regions)
    except InvalidNumber:
        raise InvalidRequest(
            "customerContact is not a valid phone number: give a mobile or landline number "
            "a person can answer, e.g. 0491 570 156"
        ) from None


def _clean_status(status: str | None) -> str | None:
    if status is None or not status.strip():
        return None
    clean = status.strip().upper()
    if clean not in STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(STATUSES)}")
    return clean


# -- requests ------------------------------------------------------------------------------


def request(
    ctx: Context, account: Account, *, businessname: object, customer_contact: object = None,
    abn: object = None, entity_name: object = None, use_case: object = None,
    use_case_reference: object = None, actor: Actor,
) -> BusinessName:
    """Ask for ``businessname`` as a sender of ``account``: a new ``REQUESTED`` record.

    ``abn`` and ``entity_name`` not given are the account's defaults, if it has any."""
    name = check_name(businessname)
    contact = _clean_contact(ctx, customer_contact)
    given = registrant.clean(abn=abn, entity_name=entity_name, use_case=use_case,
                             use_case_reference=use_case_reference)
    key = name.lower()
    try:
        with ctx.db.write() as conn:
            ctx.db.lock(conn, f"business_name:{account.id}:{key}")
            held = conn.execute(
                select(business_names.c.businessname, business_names.c.status).where(
                    business_names.c.account_id == account.id,
                    business_names.c.name_key == key,
                    business_names.c.status.in_(constants(LIVE)),
                )
            ).first()
            if held is not None:
                raise _already_held(held.businessname, held.status)
            refused_by = protected.name_refused(conn, account.id, name)
            if refused_by is not None:  # recorded, and refused once the record is committed
                audit.record(conn, at=ctx.clock.now(), actor=actor, action=audit.Action.BUSINESS_NAME_PROTECTED_REFUSED,
                             account_id=account.id, businessname=name, protected=refused_by)
            else:
                if given.abn is None or given.entity_name is None:
                    defaults = registrant.read_defaults(conn, account.id)
                    given = registrant.Registrant(
                        given.abn or defaults.abn, given.entity_name or defaults.entity_name,
                        given.use_case, given.use_case_reference,
                    )
                now = ctx.clock.now()
                record_id = ids.new_id()
                conn.execute(
                    insert(business_names).values(
                        id=record_id, account_id=account.id, businessname=name, name_key=key,
                        customer_contact=contact, status=REQUESTED, created_by=actor.name,
                        requested_at=now, created_at=now, updated_at=now, abn=given.abn,
                        entity_name=given.entity_name, use_case=given.use_case,
                        use_case_reference=given.use_case_reference,
                    )
                )
                registered = {k: v for k, v in (
                    ("abn", given.abn), ("entity_name", given.entity_name), ("use_case", given.use_case),
                    ("use_case_reference", given.use_case_reference)) if v is not None}
                audit.record(
                    conn, at=now, actor=actor, action=audit.Action.BUSINESS_NAME_REQUESTED, account_id=account.id,
                    subject=record_id, businessname=name, customer_contact=contact, **registered,
                )
    except IntegrityError:
        # Only reachable without the lock: the unique index had the last word.
        raise _already_held(name, REQUESTED) from None
    if refused_by is not None:
        raise BusinessNameProtected()
    return get(ctx, record_id)


def _already_held(name: str, status: str) -> InvalidRequest:
    return InvalidRequest(
        f"Your account already holds the business name '{name}' ({status}); "
        "an account holds a name once"
    )


def approve(ctx: Context, id: str, *, actor: Actor) -> BusinessName:
    """An operator's approval: the name becomes usable as the account's sender."""
    return _decide(ctx, id, APPROVED, reason=None, actor=actor)


def reject(ctx: Context, id: str, *, reason: object, actor: Actor) -> BusinessName:
    """An operator's refusal, with the reason the account will read."""
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidRequest("A rejection needs a reason the customer can act on")
    clean = reason.strip()
    if len(clean) > MAX_REASON_LENGTH:
        raise InvalidRequest(f"A reason is at most {MAX_REASON_LENGTH} characters")
    if not clean.isprintable():
        raise InvalidRequest("A reason must not contain control characters")
    return _decide(ctx, id, REJECTED, reason=clean, actor=actor)


def _decide(ctx: Context, id: str, status: str, *, reason: str | None, actor: Actor) -> BusinessName:
    verb = "approved" if status == APPROVED else "rejected"
    action = audit.Action.BUSINESS_NAME_APPROVED if status == APPROVED else audit.Action.BUSINESS_NAME_REJECTED
    with ctx.db.write() as conn:
        row = _row(conn, id)
        now = ctx.clock.now()
        decided = conn.execute(
            update(business_names)
            .where(business_names.c.id == row.id, business_names.c.status == constant(REQUESTED))
            .values(status=status, reason=reason, decided_by=actor.name, decided_at=now, updated_at=now)
            .returning(business_names.c.id)
        ).first()
        if decided is None:
            current = _row(conn, id).status
            raise Conflict(f"Only a REQUESTED business name can be {verb}; this one is {current}")
        if status == APPROVED:  # a new sender: this process forgets the account's at commit
            ctx.db.after_commit(lambda: ctx.senders.forget_senders(row.account_id))
        reason_field: dict[str, Any] = {} if reason is None else {"reason": reason}
        audit.record(
            conn, at=now, actor=actor, action=action, account_id=row.account_id,
            subject=row.id, businessname=row.businessname, **reason_field,
        )
        events.emit(conn, now=now, events=[(
            row.account_id, f"business_name.{verb}",
            {"id": row.id, "businessname": row.businessname, "status": status, **reason_field},
        )])
    return get(ctx, id)


def withdraw(ctx: Context, account: Account, id: str, *, actor: Actor) -> BusinessName:
    """The account takes back a request that is still ``REQUESTED``."""
    with ctx.db.write() as conn:
        row = _row(conn, id, account.id)
        now = ctx.clock.now()
        done = conn.execute(
            update(business_names)
            .where(business_names.c.id == row.id, business_names.c.status == constant(REQUESTED))
            .values(status=WITHDRAWN, updated_at=now)
            .returning(business_names.c.id)
        ).first()
        if done is None:
            current = _row(conn, id, account.id).status
            raise Conflict(f"Only a REQUESTED business name can be withdrawn; this one is {current}")
        audit.record(
            conn, at=now, actor=actor, action=audit.Action.BUSINESS_NAME_WITHDRAWN, account_id=account.id,
            subject=row.id, businessname=row.businessname,
        )
    return get(ctx, id, account.id)


# -- reading -------------------------------------------------------------------------------


def _row(conn: Connection, id: str, account_id: str | None = None) -> Row[Any]:
    where = business_names.c.id == id
    if account_id is not None:
        where = where & (business_names.c.account_id == account_id)
    row = conn.execute(select(business_names).where(where)).first() if ids.is_id(id) else None
    if row is None:
        scope = " in your account" if account_id is not None else ""
        raise NotFound(f"No business name with id {id}{scope}")
    return row


def get(ctx: Context, id: str, account_id: str | None = None) -> BusinessName:
    """One record; with ``account_id``, only if it belongs to that account (else NotFound)."""
    with ctx.db.read() as conn:
        return _business_name(_row(conn, id, account_id))


def list_(
    ctx: Context,
    *,
    account_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[BusinessName], int]:
    """One page, oldest first (ties broken by id, so pages are stable), and the total.

    ``status`` is any case of REQUESTED, APPROVED, REJECTED or WITHDRAWN.
    """
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise InvalidRequest(f"limit is 1 to {MAX_LIMIT} and offset is 0 or more")
    clean_status = _clean_status(status)
    where = []
    if account_id is not None:
        where.append(business_names.c.account_id == account_id)
    if clean_status is not None:
        where.append(business_names.c.status == clean_status)
    with ctx.db.read() as conn:
        total = conn.execute(
            select(func.count()).select_from(business_names).where(*where)
        ).scalar_one()
        rows = conn.execute(
            select(business_names)
            .where(*where)
            .order_by(business_names.c.created_at, business_names.c.id)
            .limit(limit)
            .offset(offset)
        ).all()
    return [_business_name(row) for row in rows], total


def is_approved(conn: Connection, account_id: str, name: object) -> bool:
    """Whether ``name`` (any case, surrounding spaces ignored) is APPROVED for the account."""
    if not isinstance(name, str) or not name.strip():
        return False
    key = name.strip().lower()
    if len(key) > MAX_LENGTH:
        return False
    found = conn.execute(
        select(business_names.c.id).where(
            business_names.c.account_id == account_id,
            business_names.c.name_key == key,
            business_names.c.status == constant(APPROVED),
        ).limit(1)
    ).first()
    return found is not None
