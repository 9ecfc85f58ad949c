"""Helpers shared by the console tests (TestClient and browser)."""

from __future__ import annotations

import re

from senderid.delivery import lanes
from senderid.domain import outbox
from senderid.domain.context import Context

ADMIN_TOKEN = "console-admin-token-" + "k" * 30
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def dead_message(
    ctx: Context, *, to: str = "+61491570157", sender: str = "Acme", account_id: str | None = None,
    body: str = "Your parcel is on its way",
) -> str:
    """An SMS that ran out of attempts, put there through the outbox's own functions.

    Nothing else may be due: the claim takes the oldest due message.
    """
    with ctx.db.write() as conn:
        now = ctx.clock.now()
        message_id = outbox.enqueue(conn, now=now, kind="sms", to=to, sender=sender, body=body,
                                    account_id=account_id)
        # ``sender`` is taken for the shared sender: the claim hands over only a message
        # whose sender its account holds
        claimed = lanes.claim(conn, now=now, worker="test", lease_seconds=30, limit=1, shared_sender=sender)
        assert [c.id for c in claimed] == [message_id]
        outbox.mark_ended(conn, message_id, now=now, status=outbox.DEAD,
                          error="gave up after 8 attempts: provider unreachable")
    return message_id


def handed_over(
    ctx: Context, *, to: str, sender: str, account_id: str, body: str = "Your booking is confirmed",
    receipt: str | None = None, error: str | None = None,
) -> str:
    """An SMS the provider took (``receipt``: then delivered or failed by a receipt) or
    refused (``error``: failed), at the clock's time, through the outbox's own functions."""
    with ctx.db.write() as conn:
        now = ctx.clock.now()
        message_id = outbox.enqueue(conn, now=now, kind="sms", to=to, sender=sender, body=body,
                                    account_id=account_id)
        claimed = lanes.claim(conn, now=now, worker="test", lease_seconds=30, limit=1, shared_sender=sender)
        assert [c.id for c in claimed] == [message_id]
        if error is not None:
            outbox.mark_ended(conn, message_id, now=now, status=outbox.FAILED, error=error)
            return message_id
        outbox.mark_sent(conn, message_id, now=now, provider="devinbox", provider_message_id=f"dev-{message_id}")
        if receipt is not None:
            assert outbox.record_receipt(conn, provider="devinbox", provider_message_id=f"dev-{message_id}",
                                         status=receipt, now=now)
    return message_id
