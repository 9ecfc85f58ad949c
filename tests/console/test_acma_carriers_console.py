"""The console's side of a business name's per-carrier authorisations on ACMA's SMS Sender ID
Register: the review page shows which providers authorised a name and records them with its
status (one checkbox per provider of the routes file; none ticked: every provider)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from senderid.api.app import create_app
from senderid.domain import acma, business_names
from senderid.domain.context import Context
from senderid.domain.types import CLI, Actor
from tests.console.test_console_security import sign_in
from tests.domain.test_acma_providers import ctx, write_routes  # noqa: F401  (the fixture)
from tests.support.console_support import ADMIN_TOKEN


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, object]:
    return {"admin_token": ADMIN_TOKEN, "routes_file": write_routes(tmp_path)}


@pytest.fixture
def console(ctx: Context) -> Iterator[TestClient]:  # noqa: F811  (the fixture)
    """The console of a server whose context has the routes file's providers."""
    with TestClient(create_app(ctx.settings, context=ctx, run_worker=False), raise_server_exceptions=False) as c:
        yield c


def test_the_review_page_shows_and_records_the_authorised_providers(
    console: TestClient, ctx: Context, customer  # noqa: F811  (the fixtures)
) -> None:
    name = business_names.request(ctx, customer.account, businessname="Acme", actor=CLI)
    business_names.approve(ctx, name.id, actor=Actor("operator"))
    csrf = sign_in(console)
    page = console.get("/console/business-names?status=APPROVED")
    assert "<dt>Authorised by</dt><dd>every provider</dd>" in page.text
    for provider in ("backup", "other", "primary"):  # every provider of the routes file, none ticked
        assert f'name="provider.{provider}" value="on">' in page.text

    path = f"/console/business-names/{name.id}/acma"
    r = console.post(path, data={"csrf": csrf, "acma_status": "registered", "acma_reference": "SID-7",
                                 "provider.primary": "on", "provider.backup": "on"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/business-names?done=acma-updated"
    got = business_names.get(ctx, name.id)
    assert (got.acma_status, got.acma_reference, got.acma_providers) == ("registered", "SID-7", ("backup", "primary"))
    page = console.get("/console/business-names?status=APPROVED")
    assert "<dt>Authorised by</dt><dd>backup, primary</dd>" in page.text
    assert 'name="provider.primary" value="on" checked>' in page.text
    assert 'name="provider.other" value="on">' in page.text

    bad = console.post(path, data={"csrf": csrf, "acma_status": "registered", "acma_reference": "SID-7",
                                   "provider.twilio": "on"})
    assert bad.status_code == 400
    assert "&#39;twilio&#39; is not a provider of this deployment; the providers are backup, other, primary" in bad.text
    assert business_names.get(ctx, name.id).acma_providers == ("backup", "primary")

    # none ticked: every provider
    r = console.post(path, data={"csrf": csrf, "acma_status": "registered", "acma_reference": "SID-7"},
                     follow_redirects=False)
    assert r.status_code == 303
    assert business_names.get(ctx, name.id).acma_providers == ()
    assert [h["acmaAuthorisedProviders"] for h in acma.history(ctx, name.id)] == [[], ["backup", "primary"]]
