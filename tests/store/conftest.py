"""Tests of storage (senderid.store): migrations, change-signal triggers, cross-process cache
invalidation, a database in trouble.

The database, context, clock and customer fixtures come from tests/conftest.py (every
storage test runs on SQLite and PostgreSQL); what only this folder needs is defined here."""
