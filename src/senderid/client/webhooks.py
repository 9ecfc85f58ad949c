"""Verifying the webhooks senderid sends (Standard Webhooks, symmetric scheme).

    from senderid.client import webhooks

    event = webhooks.verify(secret, request.headers, raw_body)  # the parsed JSON, or raises

The signature is ``v1,`` and base64(HMAC-SHA256(key, f"{webhook-id}.{webhook-timestamp}.{body}"))
where ``key`` is the base64-decoded part of the ``whsec_...`` secret; the header may carry
several space-separated signatures (during a secret rotation), any of which may match. A
timestamp more than ``tolerance`` seconds from now is refused, so a captured delivery
cannot be replayed later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from ._exceptions import SenderIdError

__all__ = ["DEFAULT_TOLERANCE", "WebhookVerificationError", "verify"]

DEFAULT_TOLERANCE = 300  # seconds either side of now


class WebhookVerificationError(SenderIdError):
    """The delivery is not a genuine, fresh senderid webhook: do not act on it."""


def verify(secret: str, headers: Mapping[str, str], body: bytes | str, *,
           tolerance: int = DEFAULT_TOLERANCE, now: float | None = None) -> Any:
    """Check a delivery's ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``
    headers against ``secret`` (``whsec_...``) and the raw body; returns the parsed JSON.
    Raises :class:`WebhookVerificationError` for anything else."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, given = (lower.get(name, "") for name in ("webhook-id", "webhook-timestamp",
                                                             "webhook-signature"))
    if not msg_id or not stamp or not given:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a number") from None
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is too far from now (a replay?)")
    raw = body.encode() if isinstance(body, str) else body
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError("the secret must be 'whsec_' followed by base64") from None
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + raw,
                                         hashlib.sha256).digest()).decode("ascii")
    for entry in given.split():
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            try:
                return json.loads(raw)
            except ValueError:
                raise WebhookVerificationError("the body is not JSON") from None
    raise WebhookVerificationError("no signature matches")
