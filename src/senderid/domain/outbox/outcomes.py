"""sending -> sent | failed | dead | cancelled | queued: what became of claimed messages,
recorded in batches.

The worker records every outcome its window produced since the last record in one
transaction; each kind of outcome is one executemany statement, whatever the batch size.
Ending a message blanks an OTP out of its body and drops the lease. A message cancelled
while a live worker held it and then accepted by the provider is recorded as sent all
the same (the truth); any other outcome leaves a cancelled message alone.

Each attempt's result goes into the message's history (:mod:`.history`) with its provider
and attempt number, in one more executemany for the whole batch (the breaker's deferrals
were no attempt and leave none).

``message.sent`` says ``acmaRegistered`` (under ``SENDERID_UNREGISTERED_ALPHA`` warn or
refuse): false when the name was not registered or the provider that sent it had not
authorised it on the register (:func:`senderid.domain.acma_providers.registered_through`).

Recording ``sent`` first takes the per-message receipt lock and then applies the receipts
that came before it (:mod:`.receipts`), in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, or_, update

from senderid.clock import iso_ms
from senderid.domain import acma_providers, events
from senderid.domain.outbox import history
from senderid.domain.outbox.claims import Claimed
from senderid.domain.outbox.receipts import apply_early_receipts_many, lock_receipts
from senderid.domain.outbox.statements import CANCELLED, DEAD, ENDING, FAILED, QUEUED, SENDING, SENT, SMS, cut_error
from senderid.store.tables import outbox

DEFERRED = "deferred"  # put back unsent, the attempt not counted (the circuit breaker is open)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one claimed message."""

    message: Claimed
    status: str  # SENT, QUEUED (try again later), FAILED, DEAD, CANCELLED, or DEFERRED
    error: str | None = None
    next_attempt_at: datetime | None = None  # QUEUED and DEFERRED
    provider_message_id: str | None = None  # SENT
    provider: str | None = None  # the provider that made the attempt (None: the batch's)


# Built once, one per kind of outcome.
_ENDING = update(outbox).values(**ENDING)
_SENT = _ENDING.where(
    outbox.c.id == bindparam("b_id"), or_(outbox.c.status == SENDING, outbox.c.status == CANCELLED)
).values(
    status=SENT, last_error=None, provider=bindparam("b_provider"),
    provider_message_id=bindparam("b_provider_message_id"), sent_at=bindparam("b_now"),
    updated_at=bindparam("b_now"),
)
_ENDED = _ENDING.where(outbox.c.id == bindparam("b_id"), outbox.c.status == SENDING).values(
    status=bindparam("b_status"), last_error=bindparam("b_error"), updated_at=bindparam("b_now"),
)
_RETRY = (
    update(outbox)
    .where(outbox.c.id == bindparam("b_id"), outbox.c.status == SENDING)  # not a cancelled one
    .values(status=QUEUED, next_attempt_at=bindparam("b_next"), lease_until=None,
            last_error=bindparam("b_error"), updated_at=bindparam("b_now"))
)
_RELEASE = (
    update(outbox)
    .where(outbox.c.id == bindparam("b_id"), outbox.c.status == SENDING)
    .values(status=QUEUED, attempts=outbox.c.attempts - 1,  # the claim counted it
            next_attempt_at=bindparam("b_next"), lease_until=None, updated_at=bindparam("b_now"))
)


def record(conn: Connection, outcomes: list[Outcome], *, now: datetime, provider: str | None = None) -> int:
    """Record a batch of outcomes (and the account webhook events they cause); returns how
    many webhook events were queued. Each attempt is recorded under the provider that made
    it (``Outcome.provider``; ``provider`` for an outcome that names none)."""
    def made_by(o: Outcome) -> str | None:
        return o.provider or provider

    sent = [o for o in outcomes if o.status == SENT]
    by_provider: dict[str, list[tuple[str, str | None]]] = {}
    for o in sent:
        by_provider.setdefault(made_by(o) or "", []).append((o.message.id, o.provider_message_id))
    for name, pairs in sorted(by_provider.items()):  # the same lock order in every worker
        mark_sent_many(conn, pairs, now=now, provider=name)
    ended = [o for o in outcomes if o.status in (FAILED, DEAD, CANCELLED)]
    if ended:
        conn.execute(_ENDED, [{"b_id": o.message.id, "b_status": o.status, "b_error": cut_error(o.error),
                               "b_now": now} for o in ended])
    retry = [o for o in outcomes if o.status == QUEUED]
    if retry:
        conn.execute(_RETRY, [{"b_id": o.message.id, "b_next": o.next_attempt_at, "b_error": cut_error(o.error),
                               "b_now": now} for o in retry])
    history.write_recorded(conn, [
        history.row(o.message.id, o.message.account_id, o.status, now, provider=made_by(o),
                    attempt=o.message.attempts, detail=_detail(o))
        for o in sent + ended + retry
    ])
    deferred = [o for o in outcomes if o.status == DEFERRED]
    if deferred:
        conn.execute(_RELEASE, [{"b_id": o.message.id, "b_next": o.next_attempt_at, "b_now": now}
                                for o in deferred])
    told = [
        (o.message.account_id, "message.sent" if o.status == SENT else "message.failed",
         {"id": o.message.id, "to": o.message.to, "sender": o.message.sender,
          **({} if o.status == SENT else {"status": o.status, "error": o.error or ""}),
          **({"acmaRegistered": acma_providers.registered_through(
              o.message.acma_registered, o.provider or provider, o.message.authorised_providers)}
             if o.status == SENT and o.message.acma_registered is not None else {})})
        for o in sent + [o for o in ended if o.status != CANCELLED]
        if o.message.kind == SMS and o.message.account_id is not None  # gateway messages only
    ]
    if not told:
        return 0
    return events.emit(conn, now=now, events=told)


def _detail(outcome: Outcome) -> str | None:
    if outcome.status == SENT:
        return f"provider message id {outcome.provider_message_id}" if outcome.provider_message_id else None
    if outcome.status == QUEUED and outcome.next_attempt_at is not None:
        return f"{cut_error(outcome.error) or 'not sent'}; next try at {iso_ms(outcome.next_attempt_at)}"
    return cut_error(outcome.error)


def mark_sent_many(
    conn: Connection, sent: list[tuple[str, str | None]], *, now: datetime, provider: str
) -> None:
    """Record the provider's acceptance of ``(message id, provider message id)`` pairs, and
    apply the receipts that came before (the lock taken first keeps a racing receipt from
    slipping in between)."""
    provider_ids = sorted({pid for _, pid in sent if pid})
    lock_receipts(conn, provider, provider_ids)
    conn.execute(_SENT, [{"b_id": mid, "b_provider": provider, "b_provider_message_id": pid, "b_now": now}
                         for mid, pid in sent])
    if provider_ids:
        apply_early_receipts_many(conn, provider, provider_ids, now)


def mark_sent(
    conn: Connection, message_id: str, *, now: datetime, provider: str, provider_message_id: str | None
) -> None:
    """Record the provider's acceptance of one message (then call
    :func:`.receipts.apply_early_receipts` in the same transaction: the lock taken here keeps
    a racing receipt from slipping in)."""
    lock_receipts(conn, provider, [provider_message_id] if provider_message_id else [])
    conn.execute(_SENT, {"b_id": message_id, "b_provider": provider,
                         "b_provider_message_id": provider_message_id, "b_now": now})
    history.write_recorded(conn, [history.row(
        message_id, None, SENT, now, provider=provider,
        detail=f"provider message id {provider_message_id}" if provider_message_id else None)])


def mark_ended(conn: Connection, message_id: str, *, now: datetime, status: str, error: str) -> None:
    """End a message as failed, dead or cancelled (unless it was cancelled meanwhile)."""
    conn.execute(_ENDED, {"b_id": message_id, "b_status": status, "b_error": cut_error(error), "b_now": now})
    history.write_recorded(conn, [history.row(message_id, None, status, now, detail=error)])
