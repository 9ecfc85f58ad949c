"""When a number's proof runs out: the re-verification schedule, computed (pure).

A number proven by a code (``verified_by`` ``otp``) must be proven again within
``SENDERID_REVERIFY_AFTER_DAYS`` (or its account's own value; 0: never) of its last proof
(``verified_at``). ``SENDERID_REVERIFY_NOTICE_DAYS`` before that moment its account is
told (``custom_number.reverify_due``), and it never lapses sooner than that long after the
notice: a number whose proof is already older than the setting (after an upgrade, or when
an operator shortens the setting) gets its notice now and its full notice period from now.
A number activated without a code (``operator``) never lapses by time.

A row keeps its schedule (``reverify_after_days``, the days it was computed from;
``reverify_by``; ``reverify_noticed_at``) and ``due_at``, when the worker's tick must next
look at it (:mod:`senderid.domain.custom_numbers.timed`): the notice, then the lapse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from senderid.settings import Settings


def days(value: float) -> timedelta:
    return timedelta(days=value)


def after_days(settings: Settings, account_override: float | None) -> float:
    """The days a proof holds for an account: its own value, else the setting's."""
    return settings.reverify_after_days if account_override is None else account_override


@dataclass(frozen=True, slots=True)
class Schedule:
    after_days: float  # what it was computed from (0: never lapses)
    reverify_by: datetime | None  # when it lapses
    noticed_at: datetime | None  # when its account was told
    due_at: datetime | None  # when the tick next looks at it

    def values(self) -> dict[str, object]:
        """The ``custom_numbers`` columns of this schedule."""
        return {"reverify_after_days": self.after_days, "reverify_by": self.reverify_by,
                "reverify_noticed_at": self.noticed_at, "due_at": self.due_at}


def schedule(verified_at: datetime, after: float, noticed_at: datetime | None, now: datetime,
             notice: float) -> Schedule:
    """The schedule of a number proven at ``verified_at`` whose proof holds ``after`` days.

    A notice already given stands unless the lapse moved more than a notice period away (a
    longer setting): then a new notice comes in time. Before the notice, ``due_at`` is the
    notice's moment (possibly past: the tick gives it at once); after it, the lapse's, never
    sooner than a full notice period after the notice."""
    if not after:
        return Schedule(after, None, None, None)
    lapses = verified_at + days(after)
    if noticed_at is not None and lapses - days(notice) <= now:
        lapses = max(lapses, noticed_at + days(notice))
        return Schedule(after, lapses, noticed_at, lapses)
    return Schedule(after, lapses, None, lapses - days(notice))


def noticed(reverify_by: datetime, now: datetime, notice: float) -> datetime:
    """When a number lapses once its notice is given ``now``: at its moment, but not
    sooner than a full notice period from now."""
    return max(reverify_by, now + days(notice))


def shown_reverify_by(reverify_by: datetime | None, noticed_at: datetime | None, now: datetime,
                      notice: float) -> datetime | None:
    """``reverifyBy`` as get and list show it: when the number lapses, counting the full
    notice period a number not told yet still has ahead."""
    if reverify_by is None or noticed_at is not None:
        return reverify_by
    return noticed(reverify_by, now, notice)
