"""Tests of what leaves the process (senderid.delivery): the worker, lanes, breaker, providers
against their protocol peers, SMPP windows, webhooks, the crash test.

The database, context, clock and customer fixtures come from tests/conftest.py (every
storage test runs on SQLite and PostgreSQL); what only this folder needs is defined here."""
