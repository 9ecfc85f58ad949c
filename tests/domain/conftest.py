"""Tests of the rules (senderid.domain): numbers, OTPs, custom numbers, business names and
ACMA's register, credits, opt-outs, audit, retention, CSV cells.

The database, context, clock and customer fixtures come from tests/conftest.py (every
storage test runs on SQLite and PostgreSQL); what only this folder needs is defined here."""
