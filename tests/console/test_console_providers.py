"""The console's overview with several named providers (SENDERID_ROUTES_FILE): one line per
provider with its breaker, and a banner that says whether SMS still leave (another provider
of their routes carries them) or not (every provider failing). Both databases."""

from __future__ import annotations

import re

from senderid.delivery.providers.base import TransientError
from senderid.delivery.worker import Worker
from senderid.domain import outbox
from senderid.domain.context import Context
from senderid.routing import ProviderSpec, Route, Routes
from tests.support.fake_providers import ScriptedProvider, always


def named(provider: ScriptedProvider, name: str) -> ScriptedProvider:
    provider.name = name  # the test provider class names itself "fake"; this one is named
    return provider


def test_the_overview_shows_each_named_provider(console, ctx: Context) -> None:
    routes = Routes({"primary": ProviderSpec("primary", "webhook"), "backup": ProviderSpec("backup", "twilio")},
                    (Route(("primary", "backup")),), from_file=True)
    providers = {"primary": named(always(TransientError("HTTP 503 Service Unavailable")), "primary"),
                 "backup": named(ScriptedProvider(), "backup")}
    worker = Worker(ctx.db, ctx.settings, providers, ctx.clock, name="w1", routes=routes)
    worker._report_health(start=True)
    with ctx.db.write() as conn:
        for i in range(8):
            outbox.enqueue(conn, now=ctx.clock.now(), kind="sms", to=f"+6149157016{i}", sender="", body="Hi")
    worker.run_once()  # five fail at the primary and open its breaker; the rest go to the backup

    page = console.get("/console").text
    lines = dict(re.findall(r'<tr data-provider="(\w+)">.*?<span class="badge badge-\w+">([\w-]+)</span>',
                            page, re.S))
    assert lines == {"backup": "closed", "primary": "open"}
    assert "The primary provider keeps failing: the other providers of their routes carry their SMS" in page
    assert "SMS are not leaving" not in page
    assert "HTTP 503 Service Unavailable" in page

    worker.channels["backup"].breaker.record_failure()  # the backup fails too: nothing leaves
    for _ in range(ctx.settings.delivery_breaker_failures):
        worker.channels["backup"].breaker.record_failure()
    worker._record([])
    page = console.get("/console").text
    assert "SMS are not leaving: the backup, primary providers keep failing" in page
