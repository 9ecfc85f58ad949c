"""The one source of "now".

Everything that needs the time takes a :class:`Clock`; tests pass a
:class:`FrozenClock` and move it forward instead of sleeping.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class Clock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock(Clock):
    """A clock that only moves when told to (thread-safe)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float = 0, **kwargs: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds, **kwargs)
            return self._now


def iso_ms(value: datetime | None) -> str | None:
    """``2026-01-01T00:00:00.000Z``: the wire format's timestamps (UTC, milliseconds, Z)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_done_date(value: str | None) -> datetime | None:
    """A carrier's receipt time, ``YYMMDDhhmm`` or ``YYMMDDhhmmss`` (SMPP 3.4 Appendix B's
    ``done date``, Twilio's ``RawDlrDoneDate``), read as UTC; None when absent or unreadable.

    The format carries no time zone: the caller decides whether the value is plausible
    (:func:`senderid.domain.outbox.receipts.receipt_time`).
    """
    text = (value or "").strip()
    if len(text) not in (10, 12) or not text.isdigit():
        return None
    try:
        parsed = datetime.strptime(text, "%y%m%d%H%M%S" if len(text) == 12 else "%y%m%d%H%M")
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC)
