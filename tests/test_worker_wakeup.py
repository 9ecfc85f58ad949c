"""A worker in another process is woken by the commit that queues a message (PostgreSQL
LISTEN/NOTIFY), not by its poll.

The worker polls every 60 s here, so a message it hands over within seconds can only have
woken it through the notification. The latency is printed (``pytest -s``), not asserted:
timing belongs to the benchmarks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from senderid.domain import outbox
from senderid.domain.context import Context
from senderid.store.tables import dev_inbox

pytestmark = pytest.mark.slow


def test_a_commit_wakes_a_worker_in_another_process(ctx: Context, database_url: str, tmp_path: Path) -> None:
    if ctx.db.is_sqlite:
        pytest.skip("SQLite has no notifications: workers of other processes find messages by polling")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SENDERID_")},
           "SENDERID_DATABASE_URL": database_url, "SENDERID_SECRET_KEY": ctx.settings.secret_key,
           "SENDERID_WORKER_POLL_SECONDS": "60", "SENDERID_LOG_LEVEL": "INFO"}
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - closed below
    worker = subprocess.Popen([sys.executable, "-m", "senderid.cli.main", "worker"], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=log)
    try:
        # let it start, claim nothing and go to sleep on its 60 s poll
        deadline = time.monotonic() + 30
        while b"worker started" not in (tmp_path / "worker.log").read_bytes():
            assert worker.poll() is None and time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
            time.sleep(0.05)
        time.sleep(1.0)
        latencies = []
        for i in range(3):
            with ctx.db.write() as conn:
                message_id = outbox.enqueue(conn, now=ctx.clock.now(), kind="sms", to=f"+6149157020{i}",
                                            sender="Acme", body=f"wake {i}")
            committed = time.monotonic()
            deadline = committed + 20  # far below the 60 s poll
            while True:
                with ctx.db.read() as conn:
                    if conn.execute(select(dev_inbox.c.id).where(dev_inbox.c.message_id == message_id)).first():
                        break
                assert time.monotonic() < deadline, "the worker was not woken by the commit"
                time.sleep(0.002)
            latencies.append(time.monotonic() - committed)
            time.sleep(0.5)
        print(f"\ncommit -> handed to the provider by another process: "
              f"{', '.join(f'{s * 1000:.0f} ms' for s in latencies)}")
    finally:
        worker.terminate()
        worker.wait(15)
        log.close()
