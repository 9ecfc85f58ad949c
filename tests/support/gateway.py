"""What the gateway tests share: the envelope compared whole, and the bodies of a send."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from senderid import ids
from senderid.domain.context import Context
from senderid.store.tables import outbox

GATEWAY = "/api/v1/gateway"
OWN = "+61491570156"  # the custom number of the `sender` fixtures
CONTACT = "+61491570157"

ENVELOPE = {
    "app_type": "web", "app_version": "1.0", "maintainence": 0, "new_version": 0, "force_update": 0,
    "invalid_token": 0, "refresh_token": "", "is_enc": False, "message_type": "toast",
}
CONTACTS_400 = {
    "code": 400,
    "message": "Contacts must either start with 61 or +61 and be exactly 11 digits long (e.g., 614xxxxxxxx "
               "or +614xxxxxxxx), or be 9 digits without the area code (e.g., 4xxxxxxxx)",
    "stack": "APIError: Contacts are required.",
}


def ok(message: str, data: Any, show_message: int = 0) -> dict[str, Any]:
    return {**ENVELOPE, "show_message": show_message, "status": True, "message": message, "data": data, "error": {}}


def refused(message: str) -> dict[str, Any]:
    """An error that is not a documented body: status false, show_message 1."""
    return {**ENVELOPE, "show_message": 1, "status": False, "message": message, "data": {},
            "error": {"error": message}}


def sent(queue: list[tuple[str, object]], *, invalid: list[object] | None = None,
         unsubscribed: list[object] | None = None, parts: int = 1, encoding: str = "GSM-7",
         **extra: object) -> dict[str, Any]:
    """The gateway's 200 data for ``queue`` = [(Contact, Number as given)]; MessageIds are
    filled in by :func:`with_ids`."""
    invalid, unsubscribed = invalid or [], unsubscribed or []
    return {
        "queueResponse": [{"Contact": contact, "MessageId": "<id>", "Result": "Message added to queue.",
                           "Number": number} for contact, number in queue],
        "message": "success register all valid contacts to queue",
        "invalidContacts": invalid, "unsubscribeContacts": unsubscribed,
        "totalValidContact": len(queue), "totalInvalidContact": len(invalid),
        "totalUnsubscribeContact": len(unsubscribed), "encoding": encoding, "messageParts": parts, **extra,
    }


def with_ids(body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The body with each MessageId (checked: 24 hex) replaced by ``<id>``, and the ids."""
    found = []
    for entry in body.get("data", {}).get("queueResponse", []):
        assert ids.is_id(entry["MessageId"]), entry
        found.append(entry["MessageId"])
        entry["MessageId"] = "<id>"
    return body, found


def post(client: TestClient, headers: dict[str, str], **body: object) -> tuple[int, dict[str, Any], list[str]]:
    r = client.post(GATEWAY, json=body, headers=headers)
    answer, message_ids = with_ids(r.json())
    return r.status_code, answer, message_ids


def sms_rows(ctx: Context) -> list[Any]:
    with ctx.db.read() as conn:
        return conn.execute(sa.select(outbox).where(outbox.c.kind == "sms").order_by(outbox.c.created_at)).all()


def own_number(client: TestClient, customer) -> None:
    """Give an account that needs no OTP its custom number OWN."""
    r = client.post("/api/v1/customNumber/add", json={"name": "own", "number": OWN}, headers=customer.headers)
    assert r.json()["message"] == "Custom number created", r.text
