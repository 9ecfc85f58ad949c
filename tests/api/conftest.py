"""Tests of the HTTP edge (senderid.api): the contract's bodies, errors, Idempotency-Key, query
budgets, the OpenAPI document, receipts and the gateway route.

The database, context, clock and customer fixtures come from tests/conftest.py (every
storage test runs on SQLite and PostgreSQL); what only this folder needs is defined here."""
