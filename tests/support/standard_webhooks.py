"""Standard Webhooks signatures checked by the reference library (``standardwebhooks`` from
PyPI), an oracle independent of :mod:`senderid.signing`.

The library's ``Webhook.verify`` also refuses a timestamp more than five minutes from the
real clock; tests run on a FrozenClock, so the check here recomputes the signature with the
library's ``Webhook.sign`` for the headers' id and timestamp and looks for it among the
``v1`` entries, which is what ``verify`` does after its clock check.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook


def signature_ok(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        sent_at = datetime.fromtimestamp(int(lower["webhook-timestamp"]), tz=UTC)
        expected = Webhook(secret).sign(lower["webhook-id"], sent_at, body.decode())
    except (KeyError, ValueError, UnicodeDecodeError):
        return False
    return any(hmac.compare_digest(entry, expected) for entry in lower.get("webhook-signature", "").split(" "))
