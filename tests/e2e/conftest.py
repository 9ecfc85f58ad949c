"""Tests of the whole: the README and walkthrough as written, deploy files, docs, the benchmark
smoke test, structure rules, metrics, runtime, secrets never logged.

The database, context, clock and customer fixtures come from tests/conftest.py (every
storage test runs on SQLite and PostgreSQL); what only this folder needs is defined here."""
