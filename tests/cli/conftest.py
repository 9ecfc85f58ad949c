"""Tests of the command line (senderid.cli): commands, the API client commands, the .env file,
start-up checks.

The database, context, clock and customer fixtures come from tests/conftest.py (every
storage test runs on SQLite and PostgreSQL); what only this folder needs is defined here."""
