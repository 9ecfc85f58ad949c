"""A real-time run through a server and its worker (the wall clock, settings in decimal
days): a number proven by OTP gets its notice, lapses within 5 s of its reverifyBy (the
check answers not allowed from then), and is released after the hold."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
import sqlalchemy as sa

from senderid.api.app import create_app
from senderid.clock import Clock
from senderid.domain import accounts
from senderid.domain.context import Context
from senderid.domain.types import CLI
from senderid.settings import Settings
from senderid.store.db import Database
from senderid.store.tables import webhook_events
from tests.support.env import TEST_SECRET
from tests.support.live import serve

NUMBER = "+61491570156"
CODE = "123456"
AFTER, NOTICE, HOLD = 0.00005, 0.00002, 0.00002  # 4.3 s, 1.7 s, 1.7 s


@pytest.fixture
def live(database_url: str, db: Database) -> Iterator[tuple[str, Context]]:
    settings = Settings(database_url=database_url, secret_key=TEST_SECRET, test_otps={NUMBER: CODE},
                        reverify_after_days=AFTER, reverify_notice_days=NOTICE, lapsed_hold_days=HOLD,
                        webhook_allow_private=True, worker_poll_seconds=0.2)
    ctx = Context(db=db, settings=settings, clock=Clock(), secret=settings.resolved_secret())
    with serve(create_app(settings, context=ctx, run_worker=True), loop="asyncio", ws="none",
               timeout_graceful_shutdown=5) as base_url:
        yield base_url, ctx


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_number_lapses_and_is_released_in_real_time(live: tuple[str, Context]) -> None:
    base_url, ctx = live
    account = accounts.create_account(ctx, "Live", actor=CLI)
    _record, key = accounts.create_key(ctx, account.id, actor=CLI)
    accounts.set_webhook_url(ctx, account.id, "http://127.0.0.1:9/hook", actor=CLI)
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as http:
        assert http.post("/api/v1/customNumber/add", json={"name": "n", "number": NUMBER}).status_code == 200
        r = http.post("/api/v1/customNumber/verifyCustomNumber", json={"name": "n", "number": NUMBER, "otp": CODE})
        assert r.json()["message"] == "OTP Verified Successfully!", r.text
        [item] = http.get("/api/v1/customNumber/list").json()["data"]["items"]
        reverify_by = _at(item["reverifyBy"])
        assert http.get("/api/v1/senderId/check", params={"sender": NUMBER}).json()["data"]["allowed"] is True

        seen: dict[str, datetime] = {}
        deadline = time.monotonic() + 20
        while "released" not in seen and time.monotonic() < deadline:
            status = http.get(f"/api/v1/customNumber/{item['_id']}").json()["data"]["status"]
            now = datetime.now(reverify_by.tzinfo)
            seen.setdefault(status, now)
            if status == "lapsed" and "check" not in seen:
                assert http.get("/api/v1/senderId/check", params={"sender": NUMBER}).json()["data"]["allowed"] is False
                seen["check"] = now
            time.sleep(0.1)
    assert "active" in seen and seen["active"] < reverify_by
    lapsed_after = (seen["lapsed"] - reverify_by).total_seconds()
    assert 0 <= lapsed_after < 5, seen
    assert 0 <= (seen["released"] - seen["lapsed"]).total_seconds() < 5 + HOLD * 86400, seen
    with ctx.db.read() as conn:
        kinds = conn.execute(sa.select(webhook_events.c.type).where(webhook_events.c.account_id == account.id)
                             .order_by(webhook_events.c.created_at)).scalars().all()
    assert [k for k in kinds if k != "message.cancelled"] == [
        "custom_number.verified", "custom_number.reverify_due", "custom_number.lapsed", "custom_number.released"]
