"""Who a business name belongs to, and the evidence that entitles them to it: what ACMA's
SMS Sender ID Register asks of every alpha sender ID (``docs/business-names.md``).

A business-name request may carry ``abn``, ``entityName``, ``useCase`` and
``useCaseReference``; each is optional (an operator may approve a name without them, and
is told what the register still needs). An account may hold a default ABN and entity
name, used when a request names none.

* ``abn``: 11 digits, spaces allowed, valid by the ATO's check digits
  (:mod:`senderid.domain.abn`); stored without spaces.
* ``entityName``: 1 to 200 printable characters (trimmed), not starting with ``=``,
  ``+``, ``-`` or ``@`` (they would turn into formulas in the register's CSV export).
* ``useCase``: ``business_name``, ``company_name``, ``trademark`` or ``domain`` (any case).
* ``useCaseReference``: the registration, ACN, trade mark number or domain, 1 to 253
  printable characters; needs a ``useCase``; for ``domain``, a domain name ending in ``.au``
  (stored in lower case).

Every refusal is an :class:`InvalidRequest` (HTTP 400) whose message names the field and
the rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from senderid.domain import abn as abn_rule
from senderid.domain import audit
from senderid.domain.context import Context
from senderid.domain.types import Actor, UseCase
from senderid.errors import InvalidRequest, NotFound
from senderid.store.tables import accounts

MAX_ENTITY_NAME = 200
MAX_REFERENCE = 253  # the longest domain name
_FORMULA_STARTS = ("=", "+", "-", "@")
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_AU_DOMAIN = re.compile(rf"(?:{_LABEL}\.)+au")
USE_CASES = tuple(UseCase)


@dataclass(frozen=True, slots=True)
class Registrant:
    """The register's fields of one request (None: not given)."""

    abn: str | None = None
    entity_name: str | None = None
    use_case: str | None = None
    use_case_reference: str | None = None


def _given(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def clean_abn(value: object, field: str = "abn") -> str | None:
    """The ABN's 11 digits, None when not given; InvalidRequest naming ``field`` otherwise."""
    if not _given(value):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidRequest(f"{field} must be a string: 11 digits, spaces allowed, e.g. 51 824 753 556")
    try:
        return abn_rule.normalise(value.strip())
    except abn_rule.InvalidAbn as exc:
        raise InvalidRequest(f"{field} is not valid: {exc}") from None


def _clean_text(value: object, field: str, max_length: int) -> str | None:
    if not _given(value):
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{field} must be a string of 1 to {max_length} characters")
    clean = value.strip()
    if len(clean) > max_length:
        raise InvalidRequest(f"{field} must be 1 to {max_length} characters")
    if not clean.isprintable():
        raise InvalidRequest(f"{field} must not contain control characters")
    if clean.startswith(_FORMULA_STARTS):
        raise InvalidRequest(f"{field} must not start with =, +, - or @")
    return clean


def clean_entity_name(value: object, field: str = "entityName") -> str | None:
    return _clean_text(value, field, MAX_ENTITY_NAME)


def clean_use_case(value: object) -> str | None:
    if not _given(value):
        return None
    clean = value.strip().lower() if isinstance(value, str) else None
    if clean not in USE_CASES:
        raise InvalidRequest(f"useCase must be one of {', '.join(USE_CASES)}")
    return clean


def clean(*, abn: object, entity_name: object, use_case: object, use_case_reference: object) -> Registrant:
    """The request's register fields, checked (see the module's rules)."""
    clean_case = clean_use_case(use_case)
    reference = _clean_text(use_case_reference, "useCaseReference", MAX_REFERENCE)
    if reference is not None and clean_case is None:
        raise InvalidRequest(
            "useCaseReference needs a useCase: business_name, company_name, trademark or domain"
        )
    if clean_case == UseCase.DOMAIN and reference is not None:
        reference = reference.lower()
        if not _AU_DOMAIN.fullmatch(reference):
            raise InvalidRequest(
                "useCaseReference must be a domain name ending in .au (e.g. acme.com.au) when "
                "useCase is domain"
            )
    return Registrant(clean_abn(abn), clean_entity_name(entity_name), clean_case, reference)


def missing(abn: str | None, entity_name: str | None, use_case: str | None,
            use_case_reference: str | None) -> list[str]:
    """What ACMA's register still needs of a business name (field names), in order."""
    fields = (("abn", abn), ("entityName", entity_name), ("useCase", use_case),
              ("useCaseReference", use_case_reference))
    return [name for name, value in fields if not value]


# -- account defaults ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Defaults:
    """An account's default registrant: used by requests that name none."""

    abn: str | None
    entity_name: str | None


def read_defaults(conn: Connection, account_id: str) -> Defaults:
    row = conn.execute(
        select(accounts.c.abn, accounts.c.entity_name).where(accounts.c.id == account_id)
    ).first()
    if row is None:
        raise NotFound(f"No account with id {account_id}")
    return Defaults(row.abn, row.entity_name)


def get_defaults(ctx: Context, account_id: str) -> Defaults:
    with ctx.db.read() as conn:
        return read_defaults(conn, account_id)


_UNCHANGED = object()


def set_defaults(
    ctx: Context, account_id: str, *, abn: object = _UNCHANGED, entity_name: object = _UNCHANGED,
    actor: Actor,
) -> Defaults:
    """Change the account's default ABN and/or entity name; an empty value clears it.

    ``abn`` and ``entity_name`` left out stay as they are. Audited as
    ``account.registrant_updated``."""
    values: dict[str, object] = {}
    if abn is not _UNCHANGED:
        values["abn"] = clean_abn(abn)
    if entity_name is not _UNCHANGED:
        values["entity_name"] = clean_entity_name(entity_name, "entity_name")
    if not values:
        raise InvalidRequest("Nothing to change: give abn and/or entity_name")
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        result = conn.execute(
            update(accounts).where(accounts.c.id == account_id).values(**values, updated_at=now)
        )
        if result.rowcount == 0:
            raise NotFound(f"No account with id {account_id}")
        audit.record(
            conn, at=now, actor=actor, action=audit.Action.ACCOUNT_REGISTRANT_UPDATED, account_id=account_id,
            subject=account_id, **values,
        )
        return read_defaults(conn, account_id)
