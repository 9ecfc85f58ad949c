"""``senderid.client.webhooks.verify``: a genuine, fresh delivery passes; anything else is refused."""

from __future__ import annotations

import json

import pytest

from senderid import signing
from senderid.client import webhooks

pytestmark = pytest.mark.unit

SECRET = signing.generate_secret()
BODY = json.dumps({"type": "message.delivered", "data": {"id": "x"}}).encode()
NOW = 1_800_000_000


def headers(secret: str = SECRET, body: bytes = BODY, at: int = NOW, msg_id: str = "msg_1") -> dict[str, str]:
    return signing.headers(secret, msg_id, at, body)


def test_a_genuine_delivery_is_parsed() -> None:
    assert webhooks.verify(SECRET, headers(), BODY, now=NOW) == json.loads(BODY)
    upper = {k.title(): v for k, v in headers().items()}  # header names in any case
    assert webhooks.verify(SECRET, upper, BODY.decode(), now=NOW + 299)["type"] == "message.delivered"
    rotated = headers()
    rotated["webhook-signature"] = "v1,bm90LWl0 " + rotated["webhook-signature"]  # any of several
    assert webhooks.verify(SECRET, rotated, BODY, now=NOW)


@pytest.mark.parametrize("case", ["other secret", "body changed", "stale", "future", "no signature", "v2 only",
                                  "id changed"])
def test_anything_else_is_refused(case: str) -> None:
    given, body, now = headers(), BODY, NOW
    if case == "other secret":
        given = headers(secret=signing.generate_secret())
    elif case == "body changed":
        body = BODY.replace(b"delivered", b"failed")
    elif case == "stale":
        now = NOW + 301
    elif case == "future":
        now = NOW - 301
    elif case == "no signature":
        del given["webhook-signature"]
    elif case == "v2 only":
        given["webhook-signature"] = given["webhook-signature"].replace("v1,", "v2,")
    elif case == "id changed":
        given["webhook-id"] = "msg_2"
    with pytest.raises(webhooks.WebhookVerificationError):
        webhooks.verify(SECRET, given, body, now=now)
