"""The migrations build exactly the schema the code declares, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from senderid.store import migrate
from senderid.store.db import Database
from senderid.store.tables import metadata


def test_migrations_match_the_tables(db: Database) -> None:
    assert migrate.is_current(db)
    with db.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []
