"""An account's gateway messages as its owner sees them: one with its history
(``GET /api/v1/gateway/messages/{MessageId}``), and the list, newest first, filtered and
paged (``GET /api/v1/gateway/messages``). Reads only; never a body.

The status shown is the stored one, except ``scheduled``: a ``queued`` message whose
scheduled time is still ahead. Cost: one message, two reads (the row, its history); a
page, two (the page, the total), each served by an index that starts with the account
(``(account_id, created_at)``, or ``(account_id, status | to_number | custom_string,
created_at)`` when that filter is given), so a page reads only its own rows, however many
messages are stored. The total counts at most :data:`COUNT_AHEAD` matches past the end of
the page: exact below that, "at least" above it (a walker reaching it finds more), so a
page costs the same with a million stored messages as with a thousand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select

from senderid import numbers
from senderid.domain.context import Context
from senderid.domain.outbox.history import MessageEvent, timeline
from senderid.domain.outbox.statements import QUEUED, SCHEDULED, SMS, STATUSES
from senderid.errors import InvalidRequest, NotFound
from senderid.store.tables import outbox

# What the list's status filter and a message's status can be.
VIEW_STATUSES = (SCHEDULED, *STATUSES)
MAX_FILTER_LENGTH = 64


@dataclass(frozen=True, slots=True)
class MessageView:
    """A gateway message: its fields and, when asked for one message, its history."""

    id: str
    account_id: str | None
    kind: str
    to: str  # E.164
    sender: str
    status: str  # one of VIEW_STATUSES
    custom_string: str | None
    parts: int | None
    credits: int | None  # thousandths of a credit
    scheduled_at: datetime | None
    queued_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    attempts: int
    error: str | None
    provider: str | None
    provider_message_id: str | None
    events: tuple[MessageEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class Filters:
    """What the list keeps (each None: any)."""

    status: str | None = None
    to: str | None = None  # E.164
    custom_string: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def parse(cls, *, status: str | None = None, to: str | None = None, custom_string: str | None = None,
              since: str | None = None, until: str | None = None) -> Filters:
        """The filters from a query's text; a bad one is a 400 naming it."""
        if status is not None and status not in VIEW_STATUSES:
            raise InvalidRequest(f"status must be one of {', '.join(VIEW_STATUSES)}")
        number = None
        if to is not None:
            try:
                number = numbers.parse_contact(to)
            except numbers.InvalidNumber:
                raise InvalidRequest(f"to {to[:40]!r} is not a number: use any accepted form, such as "
                                     "0491570157, 61491570157 or +61491570157") from None
        if custom_string is not None and not 1 <= len(custom_string) <= MAX_FILTER_LENGTH:
            raise InvalidRequest(f"customString is 1 to {MAX_FILTER_LENGTH} characters")
        return cls(status, number, custom_string, _time("since", since), _time("until", until))


def view(ctx: Context, account_id: str, message_id: str) -> MessageView:
    """One of the account's gateway messages with its history; 404 for an unknown id or
    another account's."""
    with ctx.db.read() as conn:
        now = ctx.clock.now()
        row = conn.execute(select(*_COLUMNS).where(
            outbox.c.id == message_id, outbox.c.account_id == account_id, outbox.c.kind == SMS)).first()
        if row is None:
            raise NotFound(f"No message {message_id[:40]} in your account")
        return _view(row, now, tuple(timeline(conn, row.id, row.created_at)))


def operator_view(ctx: Context, message_id: str) -> MessageView:
    """Any message (an OTP too) with its history, for operators."""
    return operator_detail(ctx, message_id)[0]


def operator_detail(ctx: Context, message_id: str) -> tuple[MessageView, str | None]:
    """:func:`operator_view` and the message's text as it is kept: an OTP's with its code
    blanked out (always: the code itself is never read), None once the text is gone
    (SENDERID_MESSAGE_BODY_RETENTION_DAYS after the message ended). Two reads."""
    with ctx.db.read() as conn:
        row = conn.execute(select(*_COLUMNS, _TEXT).where(outbox.c.id == message_id)).first()
        if row is None:
            raise NotFound(f"No outbox message with id {message_id}")
        text = row.text or None
        return _view(row, ctx.clock.now(), tuple(timeline(conn, row.id, row.created_at))), text


def page(ctx: Context, account_id: str, filters: Filters, *, limit: int, offset: int
         ) -> tuple[list[MessageView], int]:
    """One page of the account's gateway messages, newest first, and how many match."""
    with ctx.db.read() as conn:
        now = ctx.clock.now()
        where = _where(account_id, filters, now)
        rows = conn.execute(select(*_COLUMNS).where(*where)
                            .order_by(outbox.c.created_at.desc(), outbox.c.id.desc())
                            .limit(limit).offset(offset)).all()
        total = _count(conn, where, offset + limit + COUNT_AHEAD) if rows or offset else 0
    return [_view(row, now) for row in rows], total


# -- internals -----------------------------------------------------------------------------

_COLUMNS = (
    outbox.c.id, outbox.c.account_id, outbox.c.kind, outbox.c.to_number, outbox.c.sender, outbox.c.status,
    outbox.c.custom_string, outbox.c.parts, outbox.c.credits, outbox.c.scheduled_at, outbox.c.created_at,
    outbox.c.sent_at, outbox.c.delivered_at, outbox.c.attempts, outbox.c.last_error, outbox.c.provider,
    outbox.c.provider_message_id,
)


# What an operator may read of the text: the redacted form when there is one (an OTP's,
# its code blanked out), else the body ("" once the retention has blanked it).
_TEXT = func.coalesce(outbox.c.redacted_body, outbox.c.body).label("text")


def _view(row: Any, now: datetime, events: tuple[MessageEvent, ...] = ()) -> MessageView:
    status = row.status
    if status == QUEUED and row.scheduled_at is not None and row.scheduled_at > now:
        status = SCHEDULED
    return MessageView(row.id, row.account_id, row.kind, row.to_number, row.sender, status, row.custom_string,
                       row.parts, row.credits, row.scheduled_at, row.created_at, row.sent_at, row.delivered_at,
                       row.attempts, row.last_error, row.provider, row.provider_message_id, events)


def _where(account_id: str, filters: Filters, now: datetime) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [outbox.c.account_id == account_id, outbox.c.kind == SMS]
    if filters.status == SCHEDULED:
        where += [outbox.c.status == QUEUED, outbox.c.scheduled_at > now]
    elif filters.status == QUEUED:
        where += [outbox.c.status == QUEUED, or_(outbox.c.scheduled_at.is_(None), outbox.c.scheduled_at <= now)]
    elif filters.status is not None:
        where.append(outbox.c.status == filters.status)
    if filters.to is not None:
        where.append(outbox.c.to_number == filters.to)
    if filters.custom_string is not None:
        where.append(outbox.c.custom_string == filters.custom_string)
    if filters.since is not None:
        where.append(outbox.c.created_at >= filters.since)
    if filters.until is not None:
        where.append(outbox.c.created_at <= filters.until)
    return where


COUNT_AHEAD = 100  # matches counted past the end of a page (see the module's docstring)


def _count(conn: Connection, where: list[ColumnElement[bool]], most: int) -> int:
    """How many match, counting no further than ``most``."""
    matches = select(outbox.c.id).where(and_(*where)).limit(most).subquery()
    return int(conn.execute(select(func.count()).select_from(matches)).scalar_one())


def _time(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    text = value.strip()
    try:
        at = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise InvalidRequest(f"{name} {text[:40]!r} is not a time: use ISO-8601 such as "
                             "2024-08-14T14:58:00Z") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    try:
        return at.astimezone(UTC)
    except OverflowError:
        raise InvalidRequest(f"{name} {text[:40]!r} is out of range") from None
