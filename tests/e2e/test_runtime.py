"""A process's lifecycle is the runtime's: what it starts for a block it stops after it,
and the context it wired is put back as it was."""

from __future__ import annotations

import time

from starlette.testclient import TestClient

from senderid import runtime
from senderid.api.app import create_app
from senderid.delivery.providers.devinbox import list_messages
from senderid.domain import outbox
from senderid.domain.context import Context


def _wait_for_inbox(ctx: Context, body: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not any(m["body"] == body for m in list_messages(ctx.db)):
        assert time.monotonic() < deadline, f"no SMS {body!r} reached the dev inbox"
        time.sleep(0.01)


def test_serving_runs_listener_and_worker_for_the_block_only(ctx: Context) -> None:
    before = ctx.on_enqueue
    with runtime.serving(ctx, worker=True, metrics=False):
        assert ctx.listener is not None and ctx.listener.live
        assert ctx.on_enqueue is not before  # a commit that queues wakes this worker
        with ctx.db.write() as conn:
            outbox.enqueue(conn, now=ctx.clock.now(), kind="sms", to="+61491570110", sender="Acme", body="hello")
            ctx.db.after_commit(ctx.on_enqueue)
        _wait_for_inbox(ctx, "hello")
    assert ctx.listener is None
    assert ctx.on_enqueue is before


def test_serving_keeps_a_listener_it_did_not_start(ctx: Context) -> None:
    listener = runtime.start_listener(ctx)
    try:
        with runtime.serving(ctx, worker=False, metrics=False):
            assert ctx.listener is listener
        assert ctx.listener is listener and listener.wait_live(5)
    finally:
        listener.stop()


def test_the_app_leaves_the_context_as_it_found_it(ctx: Context) -> None:
    before = ctx.on_enqueue
    app = create_app(ctx.settings, context=ctx, run_worker=True)
    with TestClient(app):
        assert ctx.listener is not None
        assert ctx.on_enqueue is not before
    assert ctx.listener is None
    assert ctx.on_enqueue is before
