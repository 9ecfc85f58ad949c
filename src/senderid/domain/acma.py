"""Business names on ACMA's SMS Sender ID Register: the status an operator records, the
export an operator submits, and the sending policy for names not (yet) registered.

* ``acmaStatus`` is ``not_submitted`` (every new name), ``submitted``, ``registered`` or
  ``refused``, with an optional ``acmaReference`` (ACMA's reference for the application or
  the entry) and the time and actor of the latest change. Any status can follow any other
  (a refusal can be resubmitted; an entry can lapse). A name has it while it is
  ``REQUESTED`` or ``APPROVED``; a rejected or withdrawn name is not a sender.
* Every change writes an audit event (``business_name.acma_updated``: the history, with
  its times) and queues the webhook event ``business_name.acma_updated`` in the same
  transaction. Setting what is already set changes nothing and writes nothing.
* :func:`refuses` is ``SENDERID_UNREGISTERED_ALPHA``: ``allow`` (default) sends as any
  approved name; ``warn`` sends and says so (``acmaRegistered`` in ``message.sent`` and
  in ``senderId/check``); ``refuse`` refuses a name whose status is not ``registered``.
* A name also records the providers (carriers) that have authorised it on the register,
  set with its status (:mod:`senderid.domain.acma_providers`: what ``refuse`` and ``warn``
  do with them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from senderid import csvfile
from senderid.domain import acma_providers, audit, events
from senderid.domain.business_names import APPROVED, LIVE, BusinessName, _row, get
from senderid.domain.context import Context
from senderid.domain.types import AcmaStatus, Actor, BusinessNameStatus, UnregisteredAlpha
from senderid.errors import Conflict, InvalidRequest
from senderid.store.coltypes import constants
from senderid.store.tables import business_names

STATUSES = tuple(AcmaStatus)
MAX_REFERENCE = 100
EVENT = audit.Action.BUSINESS_NAME_ACMA_UPDATED  # the audit action and the webhook event
REGISTER = "ACMA's SMS Sender ID Register"


def clean_status(value: object) -> AcmaStatus:
    clean = value.strip().lower() if isinstance(value, str) else None
    if clean not in STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(STATUSES)}")
    return AcmaStatus(clean)


def _clean_reference(value: object) -> str | None:
    if not isinstance(value, str):
        raise InvalidRequest(f"reference must be a string of at most {MAX_REFERENCE} characters")
    clean = value.strip()
    if len(clean) > MAX_REFERENCE:
        raise InvalidRequest(f"reference must be at most {MAX_REFERENCE} characters")
    if not clean.isprintable():
        raise InvalidRequest("reference must not contain control characters")
    return clean or None


def set_status(
    ctx: Context, id: str, *, status: object, reference: object = None, providers: object = None, actor: Actor
) -> BusinessName:
    """Record the name's status on the register; ``reference`` None keeps the one it has,
    ``""`` clears it; ``providers`` (the providers that have authorised it there,
    :mod:`senderid.domain.acma_providers`) None keeps the ones it has, ``[]`` means every
    provider."""
    clean = clean_status(status)
    new_reference = None if reference is None else _clean_reference(reference)
    new_providers = None if providers is None else acma_providers.clean(ctx, providers)
    with ctx.db.write() as conn:
        row = _row(conn, id)
        if row.status not in LIVE:
            raise Conflict(
                f"Only a REQUESTED or APPROVED business name has a status on {REGISTER}; "
                f"this one is {row.status}"
            )
        kept = row.acma_reference if reference is None else new_reference
        had_providers = acma_providers.decode(row.acma_providers)
        kept_providers = had_providers if new_providers is None else new_providers
        if clean == row.acma_status and kept == row.acma_reference and kept_providers == had_providers:
            return get(ctx, id)
        now = ctx.clock.now()
        done = conn.execute(
            update(business_names)
            .where(business_names.c.id == row.id, business_names.c.status.in_(constants(LIVE)))
            .values(acma_status=clean.value, acma_reference=kept, acma_updated_by=actor.name,
                    acma_providers=acma_providers.encode(kept_providers), acma_updated_at=now, updated_at=now)
            .returning(business_names.c.status)
        ).first()
        if done is None:  # decided or withdrawn meanwhile
            raise Conflict("This business name is no longer REQUESTED or APPROVED")
        if done.status == APPROVED:  # the sending policy reads it from the sender cache
            ctx.db.after_commit(lambda: ctx.senders.forget_senders(row.account_id))
        audit.record(
            conn,
            at=now,
            actor=actor,
            action=audit.Action.BUSINESS_NAME_ACMA_UPDATED,
            account_id=row.account_id,
            subject=row.id,
            businessname=row.businessname,
            acma_status=clean.value,
            acma_reference=kept,
            acma_providers=list(kept_providers),  # [] every provider
            previous_acma_status=row.acma_status,
        )
        events.emit(conn, now=now, events=[(
            row.account_id, EVENT,
            {"id": row.id, "businessname": row.businessname, "status": done.status,
             "acmaStatus": clean.value, "acmaReference": kept,
             "acmaAuthorisedProviders": list(kept_providers)},
        )])
    return get(ctx, id)


def history(ctx: Context, id: str, limit: int = 100) -> list[dict[str, Any]]:
    """The name's register changes, newest first: ``at``, ``by``, ``acmaStatus``, ``acmaReference``,
    ``acmaAuthorisedProviders`` (``[]``: every provider; a change recorded before per-carrier
    authorisations were kept says ``[]`` too)."""
    with ctx.db.read() as conn:
        rows = audit.events(conn, subject=id, action=audit.Action.BUSINESS_NAME_ACMA_UPDATED, limit=limit)
    return [{"at": r["at"], "by": r["actor"], "acmaStatus": r["details"].get("acma_status"),
             "acmaReference": r["details"].get("acma_reference"),
             "acmaAuthorisedProviders": r["details"].get("acma_providers", [])} for r in rows]


# -- the sending policy ----------------------------------------------------------------------


def policy(ctx: Context) -> UnregisteredAlpha:
    return UnregisteredAlpha(ctx.settings.unregistered_alpha)


def refuses(ctx: Context, registered: bool | None) -> bool:
    """Whether the policy refuses a business-name sender whose register status is ``registered``
    (True) or not (False)."""
    return registered is False and policy(ctx) == UnregisteredAlpha.REFUSE


def tells(ctx: Context) -> bool:
    """Whether answers say if a business-name sender is registered (``warn`` and ``refuse``)."""
    return policy(ctx) != UnregisteredAlpha.ALLOW


def not_registered_message(name: str) -> str:
    return (
        f"You may not send as {name!r}: this platform sends only business names on {REGISTER}, "
        "and this one is not registered yet; ask your provider to register it"
    )


# -- the export --------------------------------------------------------------------------------

HEADER = ("Sender ID", "Entity name", "ABN", "Use case", "Use case reference", "Customer contact",
          "Account")


@dataclass(frozen=True, slots=True)
class ExportRow:
    sender_id: str
    entity_name: str | None
    abn: str | None
    use_case: str | None
    use_case_reference: str | None
    customer_contact: str | None
    account_id: str


def export_rows(ctx: Context, *, status: object = None) -> list[ExportRow]:
    """One row per business name, oldest first: those ``APPROVED`` or ``REQUESTED`` (the
    names that may be on the register), or those in ``status`` (any case)."""
    if status is None or (isinstance(status, str) and not status.strip()):
        wanted: tuple[str, ...] = LIVE
    else:
        clean = status.strip().upper() if isinstance(status, str) else None
        if clean not in tuple(BusinessNameStatus):
            raise InvalidRequest(
                f"status must be one of {', '.join(s.lower() for s in BusinessNameStatus)}"
            )
        wanted = (clean,)
    t = business_names.c
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(t.businessname, t.entity_name, t.abn, t.use_case, t.use_case_reference,
                   t.customer_contact, t.account_id)
            .where(t.status.in_(wanted))
            .order_by(t.created_at, t.id)
        ).all()
    return [ExportRow(*row) for row in rows]


def to_csv(rows: list[ExportRow]) -> str:
    """The rows as CSV (:mod:`senderid.csvfile`): a header row, RFC 4180 quoting, ``\n`` line
    ends (what a shell pipe expects; spreadsheets read them too); an empty cell for what is
    missing; the customer contact as ``61491570156``; no cell a spreadsheet runs as a formula."""
    return csvfile.text(HEADER, (
        [r.sender_id, r.entity_name, r.abn, r.use_case, r.use_case_reference, csvfile.phone(r.customer_contact),
         r.account_id]
        for r in rows
    ), line_end="\n")
