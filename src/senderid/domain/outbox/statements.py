"""What the outbox's statements share: the statuses, the text an ended message keeps, the
length of an error.

Every statement that changes an outbox row is built once, at import, in the module of
its transition, from these pieces.
"""

from __future__ import annotations

from sqlalchemy import func

from senderid.domain.types import OutboxStatus
from senderid.store.tables import outbox

QUEUED, SENDING, SENT, DELIVERED, FAILED, DEAD, CANCELLED = OutboxStatus
STATUSES = tuple(OutboxStatus)
# Not a stored status: a queued message whose scheduled time (outbox.scheduled_at) is ahead.
SCHEDULED = "scheduled"
OTP, SMS = "otp", "sms"  # the kinds: a code, a gateway message
KINDS = (OTP, SMS)
MAX_ERROR_LENGTH = 500  # outbox.last_error

# A message that leaves queued/sending for good keeps its redacted text (an OTP's code
# blanked out; a gateway message's text as it was) and drops its lease.
ENDING = {"body": func.coalesce(outbox.c.redacted_body, outbox.c.body), "lease_until": None}


def cut_error(text: str | None) -> str | None:
    """An error as ``last_error`` keeps it (cut to the column)."""
    return text[:MAX_ERROR_LENGTH] if text else None
