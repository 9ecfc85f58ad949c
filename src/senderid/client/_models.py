"""Typed results of the client's calls.

Each result is a frozen dataclass built from the response envelope by its
``from_envelope`` class method, and keeps that envelope, untouched, as ``.envelope``
(left out of ``repr``, equality and hashing). Parsing is lenient: a missing or
mistyped field becomes an empty value rather than an exception, so a server that
adds fields, or a Cellcast answer that differs in a detail, does not break callers;
whatever the typed fields miss is still in ``.envelope``. Lists come as one generic
:class:`Page` of records; an item of a page keeps the envelope of the page it came in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar, get_args, get_origin

__all__ = [
    "AddResult",
    "BusinessNamePage",
    "BusinessNameRequest",
    "CustomNumber",
    "CustomNumberPage",
    "Page",
    "QueuedMessage",
    "SendResult",
    "SenderCheck",
    "TokenInfo",
    "VerifyResult",
]

Envelope = dict[str, Any]


def _data(envelope: Envelope) -> dict[str, Any]:
    data = envelope.get("data")
    return data if isinstance(data, dict) else {}


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "" if value is None or isinstance(value, (dict, list)) else str(value)


def _opt_str(value: Any) -> str | None:
    return _str(value) or None


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else 0
    try:
        return int(str(value))
    except ValueError:
        return 0


def _datetime(value: Any) -> datetime | None:
    """ISO-8601 (``2024-05-01T10:00:00.000Z``) to an aware datetime; ``None`` if not one."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _next_offset(offset: int, count: int, total: int) -> int | None:
    following = offset + count
    return following if count and following < total else None


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(_str(item) for item in value)


@dataclass(frozen=True, kw_only=True, slots=True)
class TokenInfo:
    """``GET /api/v1/user/token/verify``: the key the server accepted."""

    token: str
    envelope: Envelope = field(repr=False, compare=False)

    @classmethod
    def from_envelope(cls, envelope: Envelope) -> TokenInfo:
        return cls(token=_str(_data(envelope).get("token")), envelope=envelope)


@dataclass(frozen=True, kw_only=True, slots=True)
class AddResult:
    """``POST /api/v1/customNumber/add``.

    ``otp_sent`` is true when the account requires verification and a code is on its
    way (verify it with ``verify_custom_number``); false when the number was created
    active at once.
    """

    otp_sent: bool
    message: str
    envelope: Envelope = field(repr=False, compare=False)

    @classmethod
    def from_envelope(cls, envelope: Envelope) -> AddResult:
        message = _str(envelope.get("message"))
        detail = _str(_data(envelope).get("message"))
        otp_sent = any("otp sent" in text.casefold() for text in (message, detail))
        return cls(otp_sent=otp_sent, message=message, envelope=envelope)


@dataclass(frozen=True, kw_only=True, slots=True)
class VerifyResult:
    """``POST /api/v1/customNumber/verifyCustomNumber``: the number is now active."""

    message: str
    envelope: Envelope = field(repr=False, compare=False)

    @classmethod
    def from_envelope(cls, envelope: Envelope) -> VerifyResult:
        return cls(message=_str(envelope.get("message")), envelope=envelope)


@dataclass(frozen=True, kw_only=True, slots=True)
class BusinessNameRequest:
    """A business name (alpha ID) request record, as ``business/add``, ``business/list``,
    ``business/{id}`` and its ``DELETE`` return it.

    ``status`` is ``REQUESTED``, then ``APPROVED`` or ``REJECTED`` (an operator's
    decision, with ``reason``), or ``WITHDRAWN`` (by the account; ``is_deleted`` is then
    true). ``customer_contact`` and ``reason`` are ``None`` when the record has none.
    """

    id: str
    businessname: str
    status: str
    requested_at: datetime | None
    user: str
    created_by: str
    created_at: datetime | None
    updated_at: datetime | None
    is_default: bool
    is_deleted: bool
    customer_contact: str | None = None
    reason: str | None = None
    message: str
    envelope: Envelope = field(repr=False, compare=False)

    @classmethod
    def from_envelope(cls, envelope: Envelope) -> BusinessNameRequest:
        return cls.from_record(_data(envelope), envelope)

    @classmethod
    def from_record(cls, record: Any, envelope: Envelope) -> BusinessNameRequest:
        """One record (``data``, or an item of a list's ``data.items``)."""
        data = record if isinstance(record, dict) else {}
        return cls(
            id=_str(data.get("_id")),
            businessname=_str(data.get("businessname")),
            status=_str(data.get("status")),
            requested_at=_datetime(data.get("requestedAt")),
            user=_str(data.get("user")),
            created_by=_str(data.get("createdBy")),
            created_at=_datetime(data.get("createdAt")),
            updated_at=_datetime(data.get("updatedAt")),
            is_default=data.get("isDefault") is True,
            is_deleted=data.get("isDeleted") is True,
            customer_contact=_opt_str(data.get("customerContact")),
            reason=_opt_str(data.get("reason")),
            message=_str(envelope.get("message")),
            envelope=envelope,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class CustomNumber:
    """A custom number registration, as ``customNumber/list``, ``customNumber/{id}``, its
    ``DELETE`` and ``customNumber/{id}/resend`` return it (senderid extras; Cellcast v1
    documents no such routes).

    ``status`` is ``pending`` (a code is out, until ``otp_expires_at``), ``expired`` (a
    pending registration whose code ran out; ``resend_otp`` revives it), ``active``
    (usable as a sender), ``cancelled`` (another account verified the number first) or
    ``deleted``. ``number`` is E.164. ``otp_expires_at`` is set only while pending;
    ``verified_at`` once it was verified; ``ended_at`` once cancelled or deleted.
    """

    id: str
    name: str
    number: str
    status: str
    otp_expires_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    verified_at: datetime | None
    ended_at: datetime | None
    message: str
    envelope: Envelope = field(repr=False, compare=False)

    @classmethod
    def from_envelope(cls, envelope: Envelope) -> CustomNumber:
        return cls.from_record(_data(envelope), envelope)

    @classmethod
    def from_record(cls, record: Any, envelope: Envelope) -> CustomNumber:
        """One record (``data``, or an item of a list's ``data.items``)."""
        data = record if isinstance(record, dict) else {}
        return cls(
            id=_str(data.get("_id")),
            name=_str(data.get("name")),
            number=_str(data.get("number")),
            status=_str(data.get("status")),
            otp_expires_at=_datetime(data.get("otpExpiresAt")),
            created_at=_datetime(data.get("createdAt")),
            updated_at=_datetime(data.get("updatedAt")),
            verified_at=_datetime(data.get("verifiedAt")),
            ended_at=_datetime(data.get("endedAt")),
            message=_str(envelope.get("message")),
            envelope=envelope,
        )


class _Record(Protocol):
    @classmethod
    def from_record(cls, record: Any, envelope: Envelope) -> Any: ...


R = TypeVar("R")


@dataclass(frozen=True, kw_only=True, slots=True)
class Page(Generic[R]):
    """One page of a list: ``items`` (records of type ``R``), from ``offset`` on, at most
    ``limit`` of them; ``total`` counts every match; ``next_offset`` is where the next page
    starts (``None`` on the last page).

    A list's page class names its record type, ``class CustomNumberPage(Page[CustomNumber])``,
    and reads the page with that type's ``from_record``.
    """

    items: tuple[R, ...]
    total: int
    limit: int
    offset: int
    message: str
    envelope: Envelope = field(repr=False, compare=False)

    _record: ClassVar[type[_Record] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super(Page, cls).__init_subclass__(**kwargs)  # Page by name: slots=True made a new class
        for base in getattr(cls, "__orig_bases__", ()):
            if get_origin(base) is Page:
                (cls._record,) = get_args(base)

    @property
    def next_offset(self) -> int | None:
        return _next_offset(self.offset, len(self.items), self.total)

    @classmethod
    def from_envelope(cls, envelope: Envelope) -> Self:
        return cls(**cls._fields(envelope))

    @classmethod
    def _fields(cls, envelope: Envelope) -> dict[str, Any]:
        """The page's keyword arguments, read leniently from the envelope."""
        record = cls._record
        if record is None:
            raise TypeError(f"{cls.__name__} names no record type: subclass Page[SomeRecord]")
        data = _data(envelope)
        return {
            "items": tuple(record.from_record(item, envelope) for item in _list(data.get("items"))),
            "total": _int(data.get("total")),
            "limit": _int(data.get("limit")),
            "offset": _int(data.get("offset")),
            "message": _str(envelope.get("message")),
            "envelope": envelope,
        }


class CustomNumberPage(Page[CustomNumber]):
    """``GET /api/v1/customNumber/list``: the account's registrations, newest first."""

    __slots__ = ()


class BusinessNamePage(Page[BusinessNameRequest]):
    """``GET /api/v1/business/list``: the account's business names, oldest first."""

    __slots__ = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class QueuedMessage:
    """One entry of the gateway's ``queueResponse``."""

    contact: str
    message_id: str
    result: str
    number: str

    @classmethod
    def from_wire(cls, item: Any) -> QueuedMessage:
        item = item if isinstance(item, dict) else {}
        return cls(
            contact=_str(item.get("Contact")),
            message_id=_str(item.get("MessageId")),
            result=_str(item.get("Result")),
            number=_str(item.get("Number")),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class SendResult:
    """``POST /api/v1/gateway``: what was queued and which contacts were refused.

    ``encoding`` (``GSM-7`` or ``UCS-2``), ``message_parts`` (SMS segments per
    contact) and ``scheduled_at`` are senderid extras; ``None`` from a server that does
    not send them.
    """

    queued: tuple[QueuedMessage, ...]
    invalid_contacts: tuple[str, ...]
    unsubscribed_contacts: tuple[str, ...]
    total_valid: int
    total_invalid: int
    total_unsubscribed: int
    encoding: str | None
    message_parts: int | None
    message: str
    envelope: Envelope = field(repr=False, compare=False)
    scheduled_at: datetime | None = None  # when a scheduled send is due (``scheduledAt``)

    @classmethod
    def from_envelope(cls, envelope: Envelope) -> SendResult:
        data = _data(envelope)
        queue = data.get("queueResponse")
        return cls(
            queued=tuple(QueuedMessage.from_wire(item) for item in queue)
            if isinstance(queue, list)
            else (),
            invalid_contacts=_strings(data.get("invalidContacts")),
            unsubscribed_contacts=_strings(data.get("unsubscribeContacts")),
            total_valid=_int(data.get("totalValidContact")),
            total_invalid=_int(data.get("totalInvalidContact")),
            total_unsubscribed=_int(data.get("totalUnsubscribeContact")),
            encoding=_opt_str(data.get("encoding")),
            message_parts=_int(data["messageParts"]) if "messageParts" in data else None,
            message=_str(envelope.get("message")),
            envelope=envelope,
            scheduled_at=_datetime(data.get("scheduledAt")),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class SenderCheck:
    """``GET /api/v1/senderId/check``: may the calling account send as ``sender``?

    Read from ``data``: ``allowed`` (a boolean; anything else reads as *not* allowed, so
    a surprise in the answer never grants a sender), ``type`` as ``kind`` (which kind of
    sender matched, e.g. a custom number or a business name) and ``sendAs`` as
    ``send_as`` (the sender as the server will use it, e.g. the number in E.164);
    ``kind`` and ``send_as`` are ``None`` when the sender is not allowed.
    """

    sender: str
    allowed: bool
    kind: str | None
    send_as: str | None
    message: str
    envelope: Envelope = field(repr=False, compare=False)

    @classmethod
    def from_envelope(cls, envelope: Envelope, *, sender: str = "") -> SenderCheck:
        data = _data(envelope)
        return cls(
            sender=_str(data.get("sender")) or sender,
            allowed=data.get("allowed") is True,
            kind=_opt_str(data.get("type")),
            send_as=_opt_str(data.get("sendAs")),
            message=_str(envelope.get("message")),
            envelope=envelope,
        )
