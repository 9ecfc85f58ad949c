"""What is kept and for how long (SECURITY.md): the worker's housekeeping, on a FrozenClock,
on both databases.

The text of an ended SMS is blanked SENDERID_MESSAGE_BODY_RETENTION_DAYS after it ended
(the row stays); a message still on its way keeps its text; expired Idempotency-Key
records and spent limit rows are purged.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from senderid.domain import custom_numbers as cn
from senderid.domain import outbox
from senderid.domain.context import Context
from senderid.domain.types import CLI, Actor
from senderid.errors import Conflict, OtpVerificationFailed
from senderid.runtime import build_worker
from senderid.store.tables import idempotency_keys, otp_failures, otp_sends
from senderid.store.tables import outbox as outbox_table
from tests.support.helpers import deliver_all, latest_code

NUMBER = "+61491570156"
WHO = Actor("key:test", "127.0.0.1")


def queue_sms(ctx: Context, account_id: str, text: str) -> str:
    with ctx.db.write() as conn:
        return outbox.enqueue(conn, now=ctx.clock.now(), kind="sms", to="+61491570157",
                                     sender="", body=text, account_id=account_id)  # the shared sender


def bodies(ctx: Context) -> dict[str, tuple[str, str]]:
    with ctx.db.read() as conn:
        rows = conn.execute(select(outbox_table.c.id, outbox_table.c.status, outbox_table.c.body))
        return {r.id: (r.status, r.body) for r in rows}


def rows(ctx: Context, table) -> int:
    with ctx.db.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_ended_message_text_is_blanked_after_the_retention(ctx, clock, customer) -> None:
    assert ctx.settings.message_body_retention_days == 30
    worker = build_worker(ctx, name="housekeeper")
    sent = queue_sms(ctx, customer.account.id, "Your parcel 4711 is at the depot")
    deliver_all(ctx)
    waiting = queue_sms(ctx, customer.account.id, "Still on its way")  # queued, never handed over
    clock.advance(days=30, seconds=-1)
    assert worker.housekeep().bodies_blanked == 0
    assert bodies(ctx)[sent] == ("sent", "Your parcel 4711 is at the depot")
    clock.advance(seconds=2)
    assert worker.housekeep().bodies_blanked == 1
    assert bodies(ctx) == {sent: ("sent", ""), waiting: ("queued", "Still on its way")}
    assert worker.housekeep().bodies_blanked == 0  # nothing left to do
    # a blanked message cannot be retried into an empty SMS
    with ctx.db.write() as conn:
        conn.execute(outbox_table.update().where(outbox_table.c.id == sent).values(status="dead"))
    with pytest.raises(Conflict, match="no longer kept"):
        outbox.retry(ctx, sent, actor=CLI)


@pytest.mark.parametrize("settings_overrides", [{"message_body_retention_days": 2}])
def test_the_retention_is_a_setting_and_later_sweeps_catch_later_endings(ctx, clock, customer) -> None:
    worker = build_worker(ctx, name="housekeeper")
    first = queue_sms(ctx, customer.account.id, "first")
    deliver_all(ctx)
    clock.advance(days=1)
    second = queue_sms(ctx, customer.account.id, "second")
    deliver_all(ctx)
    clock.advance(days=1, seconds=1)
    assert worker.housekeep().bodies_blanked == 1
    clock.advance(days=1)
    assert worker.housekeep().bodies_blanked == 1  # the sweep that starts where the last one ended
    assert {i: b for i, (_s, b) in bodies(ctx).items()} == {first: "", second: ""}


def test_expired_idempotency_keys_are_purged(ctx, clock, customer) -> None:
    now = clock.now()
    with ctx.db.write() as conn:
        for key, expires in (("old", now + timedelta(hours=1)), ("new", now + timedelta(hours=30))):
            conn.execute(insert(idempotency_keys).values(
                account_id=customer.account.id, key=key, request_hash="0" * 64, status_code=200,
                response_body="{}", response_headers={}, created_at=now, expires_at=expires))
    worker = build_worker(ctx, name="housekeeper")
    clock.advance(hours=2)
    assert worker.housekeep().idempotency_keys == 1
    with ctx.db.read() as conn:
        assert conn.execute(select(idempotency_keys.c.key)).scalars().all() == ["new"]


def test_limit_rows_go_once_no_window_counts_them(ctx, clock, customer) -> None:
    cn.add(ctx, customer.account, name="Mine", number=NUMBER, actor=WHO)
    code = latest_code(ctx, NUMBER)
    with pytest.raises(OtpVerificationFailed):
        cn.verify(ctx, customer.account, name="Mine", number=NUMBER, code=f"{(int(code) + 1) % 10**6:06d}", actor=WHO)
    worker = build_worker(ctx, name="housekeeper")
    clock.advance(hours=23)
    worker.housekeep()
    assert (rows(ctx, otp_sends), rows(ctx, otp_failures)) == (1, 1)
    clock.advance(hours=1, seconds=1)
    assert worker.housekeep().limit_rows == 2
    assert (rows(ctx, otp_sends), rows(ctx, otp_failures)) == (0, 0)
    # and the limits still work from scratch
    cn.add(ctx, customer.account, name="Mine", number=NUMBER, actor=WHO)
    assert cn.verify(ctx, customer.account, name="Mine", number=NUMBER, code=latest_code(ctx, NUMBER), actor=WHO)
