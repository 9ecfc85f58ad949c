"""Delivery receipts (SMPP 3.4 Appendix B) and the folding of a long message's parts."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from datetime import datetime

from senderid.clock import parse_done_date
from senderid.domain.types import OutboxStatus

_RECEIPT_ID = re.compile(r"(?:^|\s)id:(\S+)", re.IGNORECASE)
_RECEIPT_STAT = re.compile(r"(?:^|\s)stat:(\S+)", re.IGNORECASE)
_RECEIPT_TEXT = re.compile(r"\stext:", re.IGNORECASE)
_RECEIPT_DONE = re.compile(r"(?:^|\s)done date:(\d+)", re.IGNORECASE)
DELIVERED, FAILED, SENT = OutboxStatus.DELIVERED, OutboxStatus.FAILED, OutboxStatus.SENT
_FINAL_STATES = {"DELIV": DELIVERED, "EXPIR": FAILED, "DELET": FAILED, "UNDEL": FAILED, "REJEC": FAILED}
MESSAGE_STATES = {2: DELIVERED, 3: FAILED, 4: FAILED, 5: FAILED, 8: FAILED}


def receipt_status(stat: str) -> str:
    """Our status for a receipt ``stat`` (DELIVRD, UNDELIV, ...): sent/delivered/failed."""
    return _FINAL_STATES.get(stat.upper()[:5], SENT)


def parse_receipt(short_message: bytes | str) -> tuple[str, str]:
    """``(message_id, status)`` of a receipt text ``id:... sub:... stat:DELIVRD ...``.

    Raises ValueError when the text is not a delivery receipt.
    """
    text = short_message.decode("latin-1") if isinstance(short_message, bytes) else short_message
    head = _RECEIPT_TEXT.split(text, maxsplit=1)[0]
    found_id, found_stat = _RECEIPT_ID.search(head), _RECEIPT_STAT.search(head)
    if not found_id or not found_stat:
        raise ValueError("not a delivery receipt")
    return found_id.group(1), receipt_status(found_stat.group(1))


def receipt_done_at(short_message: bytes | str) -> datetime | None:
    """The ``done date:`` of a receipt text (``YYMMDDhhmm``, read as UTC), or None."""
    text = short_message.decode("latin-1") if isinstance(short_message, bytes) else short_message
    found = _RECEIPT_DONE.search(_RECEIPT_TEXT.split(text, maxsplit=1)[0])
    return parse_done_date(found.group(1)) if found else None


class PartGroup:
    """The parts of one long message, as their submit_sm_resp come in."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.head: str | None = None  # the first part's id: the message's id
        self.delivered: set[str] = set()
        self.done = False
        self.latest: datetime | None = None  # the latest done date of its delivered parts


class ReceiptBook:
    """Folds the receipts of a long message's parts into one receipt for its first id.

    Shared by every bind: an SMSC may send a part's receipt on another transceiver
    session than the one that submitted it.
    """

    def __init__(self, limit: int = 50_000) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._parts: OrderedDict[str, PartGroup] = OrderedDict()

    def add_part(self, group: PartGroup, part_id: str) -> None:
        with self._lock:
            group.head = group.head or part_id
            self._parts[part_id] = group
            while len(self._parts) > self._limit:
                self._parts.popitem(last=False)

    def resolve(self, part_id: str, status: str,
                at: datetime | None = None) -> tuple[str, str, datetime | None] | None:
        """The receipt to report for a part's receipt, or None while parts are pending.

        ``at`` is the time the part's receipt gives; a message delivered in parts is
        delivered at the latest of its parts' times, a failed one at its failed part's."""
        with self._lock:
            group = self._parts.get(part_id)
            if group is None:
                return part_id, status, at
            if group.done or group.head is None:
                return None
            if status == FAILED:
                group.done = True
                return group.head, FAILED, at
            if status == DELIVERED:
                group.delivered.add(part_id)
                if at is not None and (group.latest is None or at > group.latest):
                    group.latest = at
                if len(group.delivered) == group.total:
                    group.done = True
                    return group.head, DELIVERED, group.latest
            return None
