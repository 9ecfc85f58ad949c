"""``senderid outbox show ID``: one message (never its text) and its timeline, for operators."""

from __future__ import annotations

import json

from senderid.delivery.providers.base import TransientError
from senderid.delivery.worker import Worker
from senderid.domain import outbox
from senderid.domain.context import Context
from tests.support.fake_providers import ScriptedProvider


def test_outbox_show_prints_the_timeline(run, ctx: Context, clock) -> None:
    with ctx.db.write() as conn:
        message_id = outbox.enqueue(conn, now=clock.now(), kind="sms", to="+61491570157", sender="",
                                    body="Secret text", account_id="acct-a")
    worker = Worker(ctx.db, ctx.settings, ScriptedProvider([TransientError("HTTP 503")]), clock, name="w")
    worker.run_once()
    clock.advance(3600)
    worker.run_once()

    shown = run("outbox", "show", message_id)
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert "Secret" not in shown.stdout and "+61491570157" not in shown.stdout  # masked, no text
    header = next(i for i, line in enumerate(lines) if line.startswith("AT"))
    statuses = [line.split()[3] for line in lines[header + 1:]]
    assert statuses == ["queued", "queued", "sent"]
    assert "attempt 1 via fake: HTTP 503" in shown.stdout

    data = json.loads(run("outbox", "show", message_id, "--json").stdout)
    assert [e["status"] for e in data["events"]] == ["queued", "queued", "sent"]
    assert data["status"] == "sent" and data["attempts"] == 2

    missing = run("outbox", "show", "0" * 24)
    assert missing.exit_code == 1
