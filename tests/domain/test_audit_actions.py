"""Audit action names are a registry (``audit.Action``): every record names one of them,
and every place that writes a record names it through the registry."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import sqlalchemy as sa

from senderid.domain import audit
from senderid.domain.context import Context
from senderid.domain.types import CLI
from senderid.store.tables import audit_events
from tests.e2e.test_structure import PACKAGE, SRC


def test_a_record_with_an_unregistered_action_is_refused(ctx: Context) -> None:
    now = ctx.clock.now()
    with pytest.raises(ValueError, match="unregistered audit action 'account.exploded'"):
        with ctx.db.write() as conn:
            audit.record(conn, at=now, actor=CLI, action="account.exploded")
    with pytest.raises(ValueError, match="unregistered audit action"):
        with ctx.db.write() as conn:
            audit.record_many(conn, at=now, actor=CLI, entries=[
                audit.Entry(audit.Action.ACCOUNT_CREATED), audit.Entry("key.lost")])
    with ctx.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_events)).scalar_one() == 0
    with ctx.db.write() as conn:
        audit.record(conn, at=now, actor=CLI, action=audit.Action.ACCOUNT_CREATED, subject="x")
    with ctx.db.read() as conn:
        assert [e["action"] for e in audit.events(conn)] == ["account.created"]


@pytest.mark.unit
def test_every_action_written_is_registered() -> None:
    """Each ``audit.record(..., action=X)`` and ``audit.Entry(X, ...)`` in the package names X
    as ``audit.Action.MEMBER`` (or a variable set from them): never a string spelled out."""
    written: list[str] = []
    spelled: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            value = None
            if name in ("audit.record", "record"):
                value = next((k.value for k in node.keywords if k.arg == "action"), None)
            elif name in ("audit.Entry", "Entry") and node.args:
                value = node.args[0]
            if value is None:
                continue
            where = f"{path.relative_to(SRC)}:{node.lineno}"
            if isinstance(value, ast.Attribute) and ast.unparse(value.value) == "audit.Action":
                written.append(value.attr)
            elif isinstance(value, ast.Name):
                written.append(value.id)
            else:
                spelled.append(f"{where}: {ast.unparse(value)}")
    assert spelled == []
    members = set(audit.Action.__members__)
    assert {w for w in written if w.isupper()} <= members
    assert len(written) >= 15  # the scan sees the real calls


@pytest.mark.unit
def test_the_console_offers_every_registered_action() -> None:
    from senderid.console.audit import AUDIT_ACTIONS

    assert set(AUDIT_ACTIONS) == audit.ACTIONS
    assert all(a.count(".") == 1 and a == a.lower() for a in audit.ACTIONS)
    assert Path(audit.__file__).parent == PACKAGE / "domain"
