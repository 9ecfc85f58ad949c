"""Standard Webhooks signatures (https://www.standardwebhooks.com/), symmetric scheme.

A receiver checks that a POST came from us by recomputing

    base64(HMAC-SHA256(key, f"{webhook-id}.{webhook-timestamp}.{raw body}"))

where ``key`` is the base64-decoded part of the ``whsec_...`` secret, and
comparing it (in constant time) with each ``v1,<signature>`` entry of the
``webhook-signature`` header. The SMS ``webhook`` provider and account
webhooks both sign with :func:`sign`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the spec asks for 24 to 64 random bytes


def generate_secret() -> str:
    """A fresh signing secret, ``whsec_`` followed by base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_...`` secret (the prefix is optional)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("webhook secret must be 'whsec_' followed by base64") from None
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, payload: bytes) -> str:
    """The ``webhook-signature`` header value (``v1,<base64>``) for one delivery."""
    if "." in msg_id:
        raise ValueError("webhook id must not contain '.'")
    signed = f"{msg_id}.{int(timestamp)}.".encode() + payload
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secret: str, msg_id: str, timestamp: int, payload: bytes) -> dict[str, str]:
    """The headers of one signed JSON delivery: content type, id, timestamp, signature."""
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": sign(secret, msg_id, timestamp, payload),
    }
