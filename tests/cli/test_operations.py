"""The operator's commands: the schema (`db upgrade`, `db current`, `db history`), accounts
suspended, resumed and renamed, `senderid purge` and the worker's retention, and `--json`
on every command that prints data; on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import typer.main
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select, update

from senderid.cli.main import app
from senderid.domain import outbox as domain_outbox
from senderid.domain.context import Context
from senderid.runtime import build_worker
from senderid.store import migrate
from senderid.store.tables import audit_events, outbox
from tests.support.helpers import deliver_all

# -- the schema --------------------------------------------------------------------------


def test_db_upgrade_prints_what_it_applied_and_current_and_history_say_where_it_is(run, db) -> None:
    newest = sorted(migrate.heads())
    oldest_kept = f"{int(newest[0]) - 1:04d}"  # the migration before the newest
    command.downgrade(migrate.alembic_config(db), oldest_kept)
    behind = run("db", "current", "--json")
    assert behind.exit_code == 0, behind.output
    assert json.loads(behind.stdout) == {"current": [oldest_kept], "head": newest, "up_to_date": False}
    history = json.loads(run("db", "history", "--json").stdout)
    assert [m["revision"] for m in history][:2] == ["0001", "0002"]
    assert {m["revision"]: m["applied"] for m in history}[newest[0]] is False
    assert all(m["applied"] for m in history if m["revision"] <= oldest_kept)

    upgraded = run("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    lines = upgraded.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"applied {newest[0]}: ")
    assert "applied 1 migration(s)" in upgraded.stderr

    again = run("db", "upgrade", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout) == []
    assert "nothing to apply" in again.stderr
    current = run("db", "current")
    assert current.stdout == f"{newest[0]}\n" and "newest" in current.stderr
    table = run("db", "history").stdout.splitlines()
    assert table[0].split() == ["REVISION", "APPLIED", "DESCRIPTION"]
    assert all(line.split()[1] == "yes" for line in table[1:])


# -- accounts: suspend, resume, rename ----------------------------------------------------


def _queue(ctx: Context, account_id: str | None, kind: str = "sms") -> str:
    with ctx.db.write() as conn:
        return domain_outbox.enqueue(conn, now=ctx.clock.now(), kind=kind, to="+61491570157", sender="",
                                     body="hello", account_id=account_id)


def _statuses(ctx: Context, ids: list[str]) -> list[str]:
    with ctx.db.read() as conn:
        found = dict(conn.execute(select(outbox.c.id, outbox.c.status).where(outbox.c.id.in_(ids))).all())
    return [found[i] for i in ids]


def test_a_suspended_account_is_refused_and_its_messages_wait_until_it_is_resumed(
        run, ctx: Context, app_client: TestClient, make_customer) -> None:
    held, other = make_customer("Held"), make_customer("Other")
    suspended = run("account", "suspend", held.account.id, "--json")
    assert suspended.exit_code == 0, suspended.output
    assert json.loads(suspended.stdout)["suspended_at"] is not None
    assert json.loads(suspended.stdout)["changed"] is True
    assert "already" in run("account", "suspend", held.account.id).stderr

    r = app_client.get("/api/v1/optouts", headers=held.headers)
    assert r.status_code == 401
    assert r.json() == {"code": 401, "message": "Token expired", "stack": "APIError: Token expired"}

    waiting = [_queue(ctx, held.account.id), _queue(ctx, held.account.id, kind="otp")]
    others = [_queue(ctx, other.account.id), _queue(ctx, None, kind="otp")]
    deliver_all(ctx)
    assert _statuses(ctx, waiting) == ["queued", "queued"]
    assert _statuses(ctx, others) == ["sent", "sent"]

    resumed = run("account", "resume", held.account.id)
    assert resumed.exit_code == 0 and "in use" in resumed.stderr
    assert app_client.get("/api/v1/optouts", headers=held.headers).status_code == 200
    deliver_all(ctx)
    assert _statuses(ctx, waiting) == ["sent", "sent"]
    with ctx.db.read() as conn:
        actions = conn.execute(select(audit_events.c.action).where(audit_events.c.subject == held.account.id)
                               .order_by(audit_events.c.id)).scalars().all()
    assert actions[-2:] == ["account.suspended", "account.resumed"]  # the repeated suspend is not audited


def test_suspending_between_claims_holds_the_bulk_lane_too(run, ctx: Context, make_customer) -> None:
    first, second = make_customer("First"), make_customer("Second")
    mine = [_queue(ctx, first.account.id) for _ in range(3)]
    theirs = [_queue(ctx, second.account.id) for _ in range(3)]
    assert run("account", "suspend", first.account.id).exit_code == 0
    worker = build_worker(ctx, name="one-slot")
    while worker.run_once():
        pass
    assert set(_statuses(ctx, mine)) == {"queued"}
    assert set(_statuses(ctx, theirs)) == {"sent"}


def test_account_rename(run, customer) -> None:
    renamed = run("account", "rename", customer.account.id, "Acme Holdings", "--json")
    assert renamed.exit_code == 0, renamed.output
    assert json.loads(renamed.stdout)["name"] == "Acme Holdings"
    assert run("account", "rename", customer.account.id, "  ").exit_code == 1
    assert run("account", "rename", "0" * 24, "Nobody").exit_code == 1
    listed = json.loads(run("account", "list", "--json").stdout)
    assert [a["name"] for a in listed if a["id"] == customer.account.id] == ["Acme Holdings"]


# -- retention ----------------------------------------------------------------------------


def _age(ctx: Context, message_ids: list[str], days: int, status: str, *, now: datetime | None = None) -> None:
    when = (now or ctx.clock.now()) - timedelta(days=days)
    with ctx.db.write() as conn:
        conn.execute(update(outbox).where(outbox.c.id.in_(message_ids)).values(status=status, updated_at=when))


def _remaining(ctx: Context) -> tuple[set[str], int]:
    with ctx.db.read() as conn:
        return (set(conn.execute(select(outbox.c.id)).scalars()),
                conn.execute(select(func.count()).select_from(audit_events)).scalar_one())


def _old_audit_event(ctx: Context, days: int, *, now: datetime | None = None) -> None:
    with ctx.db.write() as conn:
        conn.execute(insert(audit_events).values(at=(now or ctx.clock.now()) - timedelta(days=days), actor="cli",
                                                 action="account.updated", details={}))


def test_purge_deletes_ended_messages_and_audit_events_past_their_retention(
        run, ctx: Context, customer, monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime.now(UTC)  # the command's clock
    old_sent, old_dead, old_queued, recent_sent = (_queue(ctx, customer.account.id) for _ in range(4))
    _age(ctx, [old_sent], 40, "sent", now=now)
    _age(ctx, [old_dead], 40, "dead", now=now)
    _age(ctx, [old_queued], 40, "queued", now=now)  # still waiting: never deleted, however old
    _age(ctx, [recent_sent], 10, "sent", now=now)
    _old_audit_event(ctx, 400, now=now)
    _, audit_before = _remaining(ctx)

    refused = run("purge")
    assert refused.exit_code == 2 and "SENDERID_MESSAGE_RETENTION_DAYS" in refused.stderr
    assert _remaining(ctx) == ({old_sent, old_dead, old_queued, recent_sent}, audit_before)

    monkeypatch.setenv("SENDERID_MESSAGE_RETENTION_DAYS", "30")
    monkeypatch.setenv("SENDERID_AUDIT_RETENTION_DAYS", "365")
    purged = run("purge", "--json")
    assert purged.exit_code == 0, purged.output
    assert json.loads(purged.stdout) == {"messages": 2, "audit_events": 1, "message_retention_days": 30,
                                         "audit_retention_days": 365}
    assert _remaining(ctx) == ({old_queued, recent_sent}, audit_before - 1)


@pytest.mark.parametrize("settings_overrides", [{"message_retention_days": 30, "audit_retention_days": 365}])
def test_the_workers_housekeeping_purges_when_the_retentions_are_set(ctx: Context, customer) -> None:
    old, recent = _queue(ctx, customer.account.id), _queue(ctx, customer.account.id)
    _age(ctx, [old], 31, "delivered")
    _age(ctx, [recent], 29, "delivered")
    _old_audit_event(ctx, 366)
    _, audit_before = _remaining(ctx)
    swept = build_worker(ctx, name="housekeeper").housekeep()
    assert swept.purged is not None and (swept.purged.messages, swept.purged.audit_events) == (1, 1)
    assert _remaining(ctx) == ({recent}, audit_before - 1)


def test_by_default_the_housekeeping_keeps_every_row(ctx: Context, customer) -> None:
    old = _queue(ctx, customer.account.id)
    _age(ctx, [old], 3650, "delivered")
    _old_audit_event(ctx, 3650)
    before = _remaining(ctx)
    swept = build_worker(ctx, name="housekeeper").housekeep()
    assert swept.purged is None
    assert _remaining(ctx) == before


# -- --json --------------------------------------------------------------------------------

# Commands that print no data (a line for a person on stderr), or data in a format of their
# own: everything else must take --json.
NO_DATA = {
    "serve", "worker", "key revoke", "business approve", "business reject", "business acma",
    "business export",  # the CSV of ACMA's register
    "outbox retry",
}


def _commands(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    found = []
    for name, cmd in group.commands.items():
        path = f"{prefix}{name}"
        if hasattr(cmd, "commands"):  # a group
            found.extend(_commands(cmd, path + " "))
        else:
            found.append((path, cmd))
    return found


def test_every_command_that_prints_data_takes_json() -> None:
    root = typer.main.get_command(app)
    missing = [path for path, cmd in _commands(root)
               if path not in NO_DATA and not path.startswith("api ")  # `api` has --json on the group
               and not any("--json" in p.opts for p in cmd.params)]
    assert missing == []
    for path in ("db current", "db history", "db upgrade", "purge", "account suspend", "account resume",
                 "account rename", "account webhook-secret", "outbox purge"):
        assert path not in NO_DATA


def test_webhook_secret_account_set_and_outbox_purge_as_json(run, customer) -> None:
    secret = run("account", "webhook-secret", customer.account.id, "--json")
    assert secret.exit_code == 0, secret.output
    assert json.loads(secret.stdout)["webhook_secret"].startswith("whsec_")
    changed = run("account", "set", customer.account.id, "--no-otp-required", "--reason", "numbers proven by contract",
                  "--credits", "12", "--json")
    assert changed.exit_code == 0, changed.output
    assert json.loads(changed.stdout) == {"id": customer.account.id, "otp_required": False, "credits": 12}
    purged = run("outbox", "purge", "--dead", "--older-than", "1", "--json")
    assert purged.exit_code == 0 and json.loads(purged.stdout) == {"deleted": 0, "older_than_days": 1}
