"""Alembic environment: the engine comes from senderid.store.migrate."""

from __future__ import annotations

from alembic import context

from senderid.store.db import without_deadline
from senderid.store.tables import metadata

engine = context.config.attributes["engine"]

with engine.connect() as connection, without_deadline(connection):
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # A migration may rewrite a large table: the request-sized statement timeout
            # of the server's connections does not apply to it, nor the deadline on this side.
            connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
            connection.exec_driver_sql("SET LOCAL lock_timeout = '60s'")
        context.run_migrations()
