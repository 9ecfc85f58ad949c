"""One worker, several named providers (SENDERID_ROUTES_FILE): each message goes by its
route, failover moves messages off a provider whose breaker is open without spending an
attempt, round robin shares them among the healthy ones, and every attempt, health row,
metric and /readyz answer names the provider by its name in the file.

Real local peers (peers/): a Standard Webhooks receiver for the ``webhook`` kind and the
Twilio peer for the ``twilio`` kind, each over loopback; ``run_once`` rounds (a
FrozenClock), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from sqlalchemy import select

from peers.twilio import TwilioPeer
from peers.webhook import WebhookPeer
from senderid import metrics, signing
from senderid.delivery.worker import Worker
from senderid.domain import outbox, overview, readiness
from senderid.domain.context import Context
from senderid.routing import parse_routes
from senderid.runtime import build_worker
from senderid.store.tables import message_events, provider_health, rate_buckets
from senderid.store.tables import outbox as outbox_table

ALPHA, NUMBER = "Acme", "+61491570001"  # a business name; a custom number


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    # two failures open a breaker for 30 s; a failed attempt is due again within a second
    return {"webhook_allow_private": True, "delivery_breaker_failures": 2, "delivery_backoff_seconds": 1.0}


@dataclasses.dataclass
class Peers:
    alphas: WebhookPeer  # the "alphas" provider (webhook kind)
    numbers: TwilioPeer  # the "numbers" provider (twilio kind)
    spare: WebhookPeer  # the "spare" provider (webhook kind)
    alphas_rate: float = 0  # their max_per_second (0: no cap)
    spare_rate: float = 0

    def providers(self) -> str:
        return f"""
[providers.alphas]
kind = "webhook"
provider_url = "{self.alphas.url}/sms"
provider_secret = "{signing.generate_secret()}"
max_per_second = {self.alphas_rate}

[providers.numbers]
kind = "twilio"
base_url = "{self.numbers.url}"
account_sid = "{self.numbers.account_sid}"
auth_token = "{self.numbers.auth_token}"
from = "+61491570199"

[providers.spare]
kind = "webhook"
provider_url = "{self.spare.url}/sms"
provider_secret = "{signing.generate_secret()}"
max_per_second = {self.spare_rate}
"""

    def alpha_ids(self) -> list[str]:
        return [request.headers["webhook-id"] for _, request in self.alphas.accepted]

    def spare_ids(self) -> list[str]:
        return [request.headers["webhook-id"] for _, request in self.spare.accepted]

    def number_tos(self) -> list[str]:
        return [m["To"] or "" for m in self.numbers.messages.values()]


@pytest.fixture
def peers() -> Iterator[Peers]:
    with WebhookPeer() as alphas, TwilioPeer() as numbers, WebhookPeer() as spare:
        yield Peers(alphas, numbers, spare)


@pytest.fixture
def routed(ctx: Context, peers: Peers) -> Iterator[Any]:
    """``routed(routes)``: a worker of ``build_worker`` serving the providers of the file
    with these [[routes]]; closed after the test."""
    with ExitStack() as stack:
        def make(routes: str) -> Worker:
            ctx.routes = parse_routes(peers.providers() + routes, ctx.settings)
            worker = build_worker(ctx, name="w1")
            stack.callback(worker.close)
            return worker

        yield make


def queue(ctx: Context, sender: str, to: str, count: int = 1) -> list[str]:
    with ctx.db.write() as conn:
        return [outbox.enqueue(conn, now=ctx.clock.now(), kind="sms", to=to, sender=sender, body="Hello")
                for _ in range(count)]


def rows(ctx: Context, ids: list[str]) -> dict[str, Any]:
    with ctx.db.read() as conn:
        found = conn.execute(select(outbox_table).where(outbox_table.c.id.in_(ids))).all()
    return {r.id: r for r in found}


def attempts_by(ctx: Context, message_id: str) -> list[tuple[str, str | None, int | None]]:
    with ctx.db.read() as conn:
        return [(r.status, r.provider, r.attempt) for r in conn.execute(
            select(message_events).where(message_events.c.message_id == message_id)
            .order_by(message_events.c.id))]


SPLIT = """
[[routes]]
sender = "alpha"
providers = ["alphas"]

[[routes]]
sender = "number"
to = "+6149157*"
providers = ["numbers"]

[[routes]]
providers = ["spare"]
"""


def test_messages_go_by_sender_kind_and_recipient_prefix(ctx, peers, routed) -> None:
    worker = routed(SPLIT)
    alpha = queue(ctx, ALPHA, "+61491570157", 3)
    number = queue(ctx, NUMBER, "+61491570158", 2)
    other_prefix = queue(ctx, NUMBER, "+61412345678")  # a number, but not to +6149157...
    shared = queue(ctx, "", "+61491570159")  # the shared sender (the provider's default)
    assert worker.run_once() == 7
    assert sorted(peers.alpha_ids()) == sorted(alpha)
    assert peers.number_tos() == ["+61491570158"] * 2
    assert sorted(peers.spare_ids()) == sorted(other_prefix + shared)
    found = rows(ctx, alpha + number + other_prefix + shared)
    assert {i: (r.status, r.provider) for i, r in found.items()} == {
        **{i: ("sent", "alphas") for i in alpha}, **{i: ("sent", "numbers") for i in number},
        **{i: ("sent", "spare") for i in other_prefix + shared}}
    # the history names the provider of each attempt
    assert attempts_by(ctx, number[0]) == [("sent", "numbers", 1)]


@pytest.mark.parametrize("settings_overrides", [{"webhook_allow_private": True, "shared_sender": "Shop"}])
def test_the_shared_sender_as_the_settings_name_it_takes_the_shared_route(ctx, peers, routed) -> None:
    worker = routed("""
[[routes]]
sender = "shared"
providers = ["alphas"]

[[routes]]
providers = ["spare"]
""")
    shared = queue(ctx, "Shop", "+61491570157")
    alpha = queue(ctx, ALPHA, "+61491570157")
    worker.run_once()
    assert peers.alpha_ids() == shared
    assert peers.spare_ids() == alpha


FAILOVER = """
[[routes]]
sender = "alpha"
providers = ["alphas"]

[[routes]]
providers = ["spare", "alphas"]
mode = "failover"
"""


def test_failover_moves_messages_off_an_open_provider_and_spends_no_attempt(ctx, peers, routed, clock) -> None:
    worker = routed(FAILOVER)
    peers.spare.fail(2, 503)  # two transient failures in a row: the spare's breaker opens
    tried = queue(ctx, NUMBER, "+61491570157", 2)
    assert worker.run_once() == 2
    assert worker.channels["spare"].breaker.state == "open"
    assert worker.channels["alphas"].breaker.state == "closed"
    assert {r.status for r in rows(ctx, tried).values()} == {"queued"}

    peers.spare.reset()
    numbers = queue(ctx, NUMBER, "+61491570158", 3)
    clock.advance(seconds=1)  # the two retries are due too; the spare's cool-off is not over
    assert worker.run_once() == 5
    assert peers.spare.requests == []  # nothing handed to the open provider
    assert sorted(peers.alpha_ids()) == sorted(tried + numbers)  # its route's next provider took them
    assert {i: (r.status, r.provider) for i, r in rows(ctx, tried + numbers).items()} == {
        i: ("sent", "alphas") for i in tried + numbers}
    assert attempts_by(ctx, tried[0]) == [("queued", "spare", 1), ("sent", "alphas", 2)]


def test_a_route_whose_providers_are_all_open_defers_without_spending_an_attempt(ctx, peers, routed) -> None:
    worker = routed(FAILOVER)
    peers.alphas.fail(2, 503)
    queue(ctx, ALPHA, "+61491570157", 2)
    worker.run_once()
    assert worker.channels["alphas"].breaker.state == "open"
    peers.alphas.reset()
    held = queue(ctx, ALPHA, "+61491570158", 3)  # their route: alphas only, which is open
    numbers = queue(ctx, NUMBER, "+61491570159", 2)  # their route: spare first, healthy
    assert worker.run_once() == 5  # claimed (the spare admits messages), the three held go back
    assert peers.alphas.requests == []
    found = rows(ctx, held)
    assert {(r.status, r.attempts, r.provider) for r in found.values()} == {("queued", 0, None)}
    reopens = worker.channels["alphas"].breaker.reopens_at
    assert {r.next_attempt_at for r in found.values()} == {reopens}
    assert attempts_by(ctx, held[0]) == []  # no attempt: nothing in its history
    assert sorted(peers.spare_ids()) == sorted(numbers)


ROUND_ROBIN = """
[[routes]]
providers = ["alphas", "spare"]
mode = "round_robin"
"""


def test_round_robin_shares_among_the_healthy_providers(ctx, peers, routed) -> None:
    worker = routed(ROUND_ROBIN)
    first = queue(ctx, ALPHA, "+61491570157", 10)
    assert worker.run_once() == 10
    assert len(peers.alpha_ids()) == 5 and len(peers.spare_ids()) == 5
    assert sorted(peers.alpha_ids() + peers.spare_ids()) == sorted(first)

    peers.spare.fail(2, 503)
    queue(ctx, ALPHA, "+61491570158", 2)  # one each: the spare fails it
    queue(ctx, ALPHA, "+61491570159", 2)  # ... and again: its breaker opens
    worker.run_once()
    assert worker.channels["spare"].breaker.state == "open"
    before = len(peers.spare.requests)
    later = queue(ctx, ALPHA, "+61491570160", 6)
    worker.run_once()
    assert len(peers.spare.requests) == before  # only the healthy one takes its turns
    assert set(later) <= set(peers.alpha_ids())


def test_each_provider_reports_its_own_health_metrics_and_readiness(ctx, peers, routed) -> None:
    worker = routed(FAILOVER)
    sent_before = metrics.REGISTRY.get_sample_value(
        "senderid_sms_sends_total", {"provider": "alphas", "outcome": "sent"}) or 0
    worker._report_health(start=True)
    peers.spare.fail(2, 503)
    queue(ctx, NUMBER, "+61491570157", 3)  # two fail at the spare, the third goes to alphas
    worker.run_once()
    with ctx.db.read() as conn:
        health = {(r.worker, r.provider): r.breaker for r in conn.execute(select(provider_health))}
    assert health == {("w1", "alphas"): "closed", ("w1", "spare"): "open", ("w1", "numbers"): "closed"}
    assert metrics.REGISTRY.get_sample_value("senderid_sms_sends_total",
                                             {"provider": "alphas", "outcome": "sent"}) == sent_before + 1
    assert metrics.REGISTRY.get_sample_value("senderid_provider_breaker_state", {"provider": "spare"}) == 1

    ready = readiness.check(ctx)
    assert ready.providers_failing == ["spare"] and not ready.all_failing
    lines = {p.provider: p.worst.breaker for p in overview.provider_health(ctx).by_provider}
    assert lines == {"alphas": "closed", "numbers": "closed", "spare": "open"}
    worker._report_health(start=False)
    with ctx.db.read() as conn:
        assert conn.execute(select(provider_health)).all() == []


def test_readyz_lists_each_failing_provider(ctx, peers, routed, app_client) -> None:
    worker = routed(FAILOVER)
    worker._report_health(start=True)
    peers.spare.fail(2, 503)
    queue(ctx, NUMBER, "+61491570157", 2)
    worker.run_once()
    body = app_client.get("/readyz").json()
    assert body["message"] == ("ready; the spare provider keeps failing: "
                               "the other providers of their routes carry their SMS")
    assert body["data"]["providers_failing"] == ["spare"]
    peers.alphas.fail(2, 503)
    queue(ctx, ALPHA, "+61491570157", 2)
    worker.run_once()
    # the numbers provider serves no route of this file: its breaker opened by hand
    worker.channels["numbers"].breaker.record_failure()
    worker.channels["numbers"].breaker.record_failure()
    worker._record([])  # the breaker change reaches the row with the next record
    body = app_client.get("/readyz").json()
    assert body["data"]["providers_failing"] == ["alphas", "numbers", "spare"]
    assert body["message"].startswith("ready; SMS are not leaving: the alphas, numbers, spare providers keep failing")


@pytest.mark.parametrize("settings_overrides", [{"webhook_allow_private": True, "unregistered_alpha": "warn"}])
def test_with_warn_a_name_goes_by_its_route(ctx, peers, routed) -> None:
    worker = routed("""
[[routes]]
providers = ["spare", "alphas"]
""")
    message = outbox.Claimed("m1", "sms", "+61491570157", ALPHA, "Hi", 1, None, "acct",
                             authorised_providers=("alphas",))
    assert worker.router.choose(message) is worker.channels["spare"]  # message.sent tells


@pytest.mark.parametrize("settings_overrides", [{"webhook_allow_private": True, "unregistered_alpha": "refuse"}])
def test_with_refuse_a_name_goes_only_through_providers_that_authorised_it(ctx, peers, routed) -> None:
    worker = routed("""
[[routes]]
providers = ["spare", "alphas"]
""")
    message = outbox.Claimed("m1", "sms", "+61491570157", ALPHA, "Hi", 1, None, "acct",
                             authorised_providers=("alphas",))
    assert worker.router.choose(message) is worker.channels["alphas"]
    anyone = dataclasses.replace(message, id="m2", authorised_providers=())  # authorised everywhere
    assert worker.router.choose(anyone) is worker.channels["spare"]


@pytest.mark.parametrize("settings_overrides", [{"webhook_allow_private": True, "unregistered_alpha": "refuse"}])
def test_with_refuse_a_name_no_provider_of_its_route_authorised_fails(ctx, peers, routed) -> None:
    worker = routed("""
[[routes]]
providers = ["spare", "alphas"]
""")
    nobody = outbox.Claimed("m1", "sms", "+61491570157", ALPHA, "Hi", 1, None, "acct",
                            authorised_providers=("numbers",))
    channel, outcome = worker._place(nobody)
    assert channel is None and outcome is not None
    assert (outcome.status, outcome.error) == ("failed", "no provider of its route is authorised for its "
                                                         "business name on ACMA's SMS Sender ID Register")


def test_failover_waits_for_a_busy_provider_and_round_robin_takes_the_free_one(ctx, peers, routed) -> None:
    worker = routed("""
[[routes]]
sender = "alpha"
providers = ["spare", "alphas"]

[[routes]]
providers = ["spare", "alphas"]
mode = "round_robin"
""")
    spare, alphas = worker.channels["spare"], worker.channels["alphas"]
    spare.in_flight = spare.window  # its window is full
    alpha = outbox.Claimed("m1", "sms", "+61491570157", ALPHA, "Hi", 1, None)
    number = dataclasses.replace(alpha, id="m2", sender=NUMBER)
    assert worker.router.choose(alpha) is spare  # busy is not failing: the message waits for it
    assert [worker.router.choose(number) for _ in range(3)] == [alphas] * 3  # the free one, in turn
    spare.in_flight = 0
    assert [worker.router.choose(number) for _ in range(4)] == [spare, alphas, spare, alphas]


def test_each_provider_has_its_own_rate_cap(ctx, peers, routed, clock) -> None:
    peers.alphas_rate, peers.spare_rate = 10, 30  # a tenth of a second's worth: 1 and 3 at once
    worker = routed(SPLIT)
    queue(ctx, ALPHA, "+61491570157", 10)
    queue(ctx, "", "+61491570158", 10)
    assert worker.run_once() == 20  # claimed: the numbers provider has no cap
    assert (len(peers.alphas.accepted), len(peers.spare.accepted)) == (1, 3)
    clock.advance(seconds=0.1)
    worker.run_once()
    assert (len(peers.alphas.accepted), len(peers.spare.accepted)) == (2, 6)
    with ctx.db.read() as conn:
        assert {r.name for r in conn.execute(select(rate_buckets))} == {"alphas", "spare"}
    with ctx.db.read() as conn:  # what was claimed past a provider's tokens went back unspent
        assert conn.execute(select(outbox_table.c.attempts).where(outbox_table.c.status == "queued")
                            ).scalars().all() == [0] * 12
