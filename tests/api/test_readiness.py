"""The readiness check's ping (domain/readiness.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from senderid.domain import readiness
from senderid.domain.context import Context


def test_the_database_answers_unless_too_many_pings_are_in_flight(ctx: Context) -> None:
    assert readiness.database_answers(ctx) is True
    assert readiness.ping_timeout(ctx) == ctx.settings.database_timeout_seconds
    taken = 0
    try:
        while readiness._PINGS.acquire(blocking=False):  # as if MAX_PINGS pings were hanging
            taken += 1
        assert taken == readiness.MAX_PINGS
        assert readiness.database_answers(ctx) is False
    finally:
        for _ in range(taken):
            readiness._PINGS.release()
    assert readiness.database_answers(ctx) is True
