"""Fixtures of the console's tests: an admin token in the settings, and a console client
that has signed in through the form (CSRF token and all), on the test's database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from senderid.api.app import create_app
from senderid.domain.context import Context
from tests.support.console_support import ADMIN_TOKEN, csrf_of


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"admin_token": ADMIN_TOKEN}


@pytest.fixture
def console(ctx: Context) -> Iterator[TestClient]:
    """The console, signed in as the operator."""
    with TestClient(create_app(ctx.settings, context=ctx, run_worker=False), raise_server_exceptions=False) as client:
        form = client.get("/console/login")
        answer = client.post("/console/login", data={"csrf": csrf_of(form.text), "token": ADMIN_TOKEN},
                             follow_redirects=False)
        assert answer.status_code == 303
        yield client
