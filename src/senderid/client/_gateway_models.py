"""Typed results of the gateway's extra calls: cancelling, opt-out lists, replies, credit usage.

Read as leniently as the others (see ``_models``): a missing or mistyped field becomes
an empty value; the untouched envelope is kept as ``.envelope``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ._models import Envelope, Page, _data, _datetime, _int, _list, _str

__all__ = ["CancelledMessage", "CreditUsage", "CreditUsageLine", "InboundMessage", "InboundPage", "Message",
           "MessageEvent", "MessagePage", "OptOut",
           "OptOutPage"]


def _number(value: object) -> float:
    if isinstance(value, bool):
        return 0.0
    return float(value) if isinstance(value, (int, float)) else 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class CancelledMessage:
    """``DELETE /api/v1/gateway/messages/{id}``: the message will not be sent."""

    message_id: str
    status: str
    scheduled_at: datetime | None
    message: str
    envelope: Envelope = field(repr=False, compare=False)

    @classmethod
    def from_envelope(cls, envelope: Envelope) -> CancelledMessage:
        data = _data(envelope)
        return cls(message_id=_str(data.get("MessageId")), status=_str(data.get("status")),
                   scheduled_at=_datetime(data.get("scheduledAt")), message=_str(envelope.get("message")),
                   envelope=envelope)


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageEvent:
    """One change of a message's status: ``status``, when, and what happened (an attempt
    with its provider and error, a receipt, a cancel's reason)."""

    status: str
    at: datetime | None
    detail: str | None

    @classmethod
    def from_wire(cls, item: object) -> MessageEvent:
        data = item if isinstance(item, dict) else {}
        return cls(status=_str(data.get("status")), at=_datetime(data.get("at")),
                   detail=_str(data.get("detail")) or None)


@dataclass(frozen=True, kw_only=True, slots=True)
class Message:
    """A gateway message, as ``GET /api/v1/gateway/messages[/{id}]`` shows it.

    ``status``: scheduled, queued, sending, sent, delivered, failed, dead or cancelled.
    ``credits`` is what it cost; ``events`` (one message only; empty in a list) its history,
    oldest first."""

    id: str
    to: str
    sender: str
    status: str
    custom_string: str | None
    parts: int
    credits: float
    scheduled_at: datetime | None
    queued_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    attempts: int
    error: str | None
    events: tuple[MessageEvent, ...]
    envelope: Envelope = field(repr=False, compare=False)

    @classmethod
    def from_record(cls, record: object, envelope: Envelope) -> Message:
        item = record if isinstance(record, dict) else {}
        return cls(
            id=_str(item.get("MessageId")), to=_str(item.get("to")), sender=_str(item.get("sender")),
            status=_str(item.get("status")), custom_string=_str(item.get("customString")) or None,
            parts=_int(item.get("parts")), credits=_number(item.get("credits")),
            scheduled_at=_datetime(item.get("scheduledAt")), queued_at=_datetime(item.get("queuedAt")),
            sent_at=_datetime(item.get("sentAt")), delivered_at=_datetime(item.get("deliveredAt")),
            attempts=_int(item.get("attempts")), error=_str(item.get("error")) or None,
            events=tuple(MessageEvent.from_wire(e) for e in _list(item.get("events"))), envelope=envelope,
        )

    @classmethod
    def from_envelope(cls, envelope: Envelope) -> Message:
        return cls.from_record(_data(envelope), envelope)


class MessagePage(Page[Message]):
    """``GET /api/v1/gateway/messages``: the account's messages, newest first."""

    __slots__ = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class OptOut:
    """A number on the account's opt-out list; ``source``: api, reply, link, console or cli."""

    number: str
    source: str
    created_at: datetime | None
    envelope: Envelope = field(repr=False, compare=False)

    @classmethod
    def from_record(cls, record: object, envelope: Envelope) -> OptOut:
        item = record if isinstance(record, dict) else {}
        return cls(number=_str(item.get("number")), source=_str(item.get("source")),
                   created_at=_datetime(item.get("createdAt")), envelope=envelope)

    @classmethod
    def from_envelope(cls, envelope: Envelope) -> OptOut:
        return cls.from_record(_data(envelope), envelope)


@dataclass(frozen=True, kw_only=True, slots=True)
class OptOutPage(Page[OptOut]):
    """``GET /api/v1/optouts``: one page of the list, newest first; ``optout_id`` is the
    list's id (what the gateway's ``optoutId`` may name)."""

    optout_id: str

    @classmethod
    def from_envelope(cls, envelope: Envelope) -> OptOutPage:
        return cls(**cls._fields(envelope), optout_id=_str(_data(envelope).get("optoutId")))


@dataclass(frozen=True, kw_only=True, slots=True)
class InboundMessage:
    """A reply from a phone to one of the account's SMS; ``body`` is empty once the
    server's retention period has passed; ``reply_to``: the MessageId it answers."""

    id: str
    from_number: str
    to: str
    body: str
    received_at: datetime | None
    reply_to: str | None
    envelope: Envelope = field(repr=False, compare=False)

    @classmethod
    def from_record(cls, record: object, envelope: Envelope) -> InboundMessage:
        item = record if isinstance(record, dict) else {}
        reply_to = item.get("replyTo")
        return cls(id=_str(item.get("id")), from_number=_str(item.get("from")), to=_str(item.get("to")),
                   body=_str(item.get("body")), received_at=_datetime(item.get("receivedAt")),
                   reply_to=reply_to if isinstance(reply_to, str) else None, envelope=envelope)


@dataclass(frozen=True, kw_only=True, slots=True)
class InboundPage(Page[InboundMessage]):
    """``GET /api/v1/inbound``: one page of the account's replies, newest first."""

    @classmethod
    def from_envelope(cls, envelope: Envelope) -> InboundPage:
        return cls(**cls._fields(envelope))


@dataclass(frozen=True, kw_only=True, slots=True)
class CreditUsageLine:
    """SMS parts sent and credits used under one ``customString`` (``api``: none given)."""

    custom_string: str
    parts: int
    credits: float


@dataclass(frozen=True, kw_only=True, slots=True)
class CreditUsage:
    """``GET /api/v2/report/message/quick-api-credit-usage``: one page of the report."""

    items: tuple[CreditUsageLine, ...]
    total: int
    limit: int
    page: int
    total_pages: int
    has_next_page: bool
    message: str
    envelope: Envelope = field(repr=False, compare=False)

    @classmethod
    def from_envelope(cls, envelope: Envelope) -> CreditUsage:
        data = _data(envelope)
        lines = [i if isinstance(i, dict) else {} for i in _list(data.get("items"))]
        return cls(
            items=tuple(CreditUsageLine(custom_string=_str(i.get("_id")), parts=_int(i.get("total")),
                                        credits=_number(i.get("totalCreditAmount"))) for i in lines),
            total=_int(data.get("total")), limit=_int(data.get("limit")), page=_int(data.get("current")),
            total_pages=_int(data.get("totalPages")), has_next_page=data.get("hasNextPage") is True,
            message=_str(envelope.get("message")), envelope=envelope)
