"""/docs and /redoc show the public API and the admin API as separate sections: the
document's tags are listed public first, then admin, each tag belonging to one section
(``x-tagGroups`` for ReDoc), and no admin operation shares a tag with a public one."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from senderid.api.app import create_app
from senderid.settings import Settings


def _document(tmp_path: Path) -> dict:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", secret_key="s" * 40,
                        admin_token="a" * 40, sms_provider="devinbox")
    with TestClient(create_app(settings, run_worker=False)) as client:
        r = client.get("/openapi.json")
        assert r.status_code == 200
        return r.json()


def test_public_and_admin_operations_are_in_sections_of_their_own(tmp_path: Path) -> None:
    document = _document(tmp_path)
    groups = {group["name"]: group["tags"] for group in document["x-tagGroups"]}
    assert list(groups) == ["Public API", "Admin API", "Service"]
    public, admin = set(groups["Public API"]), set(groups["Admin API"])
    assert public and admin and not public & admin
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            tags = set(operation["tags"])
            if path.startswith("/admin/"):
                assert tags <= admin and all(t.startswith("admin: ") for t in tags), (method, path, tags)
            elif path.startswith("/api/"):
                assert tags <= public, (method, path, tags)
            else:
                assert tags <= set(groups["Service"]), (method, path, tags)
    assert {"admin: accounts", "admin: keys", "admin: business names", "admin: audit"} <= admin
    assert {"custom numbers", "business names", "sending", "token"} <= public


def test_swagger_lists_the_public_tags_first_each_saying_its_section(tmp_path: Path) -> None:
    tags = _document(tmp_path)["tags"]
    sections = [tag["description"].split(".**")[0].removeprefix("**") for tag in tags]
    assert sections == sorted(sections, key=["Public API", "Admin API", "Service"].index)
    assert all(tag["description"].startswith("**Admin API.**") for tag in tags if tag["name"].startswith("admin"))
    assert len({tag["name"] for tag in tags}) == len(tags)
