"""Docs that cannot drift: every setting and every CLI command is in the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

from senderid.cli.main import app
from senderid.settings import Settings, markdown_table, refused, sections

README = (Path(__file__).parents[2] / "README.md").read_text()


@pytest.mark.unit
def test_readme_starts_with_the_two_commands() -> None:
    first_block = README.split("```")[1]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()[1:] if line.strip()]
    assert commands == ["make run", "make test"]


@pytest.mark.unit
def test_every_setting_is_in_the_configuration_table() -> None:
    documented = set(re.findall(r"^\| `(SENDERID_[A-Z0-9_]+)` \|", README, re.MULTILINE))
    expected = {f"SENDERID_{name.upper()}" for name in Settings.model_fields}
    assert documented == expected


@pytest.mark.unit
def test_every_setting_is_in_one_section() -> None:
    """Settings are grouped under ``# -- Title --`` comments in the classes of the settings
    package that Settings is made of; each field sits in exactly one section, in Settings'
    field order, and the README shows the sections' titles."""
    grouped = [name for _title, names in sections() for name in names]
    assert grouped == list(Settings.model_fields)
    titles = [title for title, _names in sections()]
    assert len(titles) == len(set(titles)) and len(titles) > 10
    for title in titles:
        assert f"**{title}**" in README


@pytest.mark.unit
def test_configuration_table_is_the_generated_one() -> None:
    """Regenerate with `python -m senderid.settings` when a setting changes."""
    assert markdown_table() in README


@pytest.mark.unit
def test_every_validated_setting_says_what_it_refuses() -> None:
    """A setting checked by a validator of its own names what the check refuses, in the
    table's "refused at start" column."""
    validated = {name for decorator in Settings.__pydantic_decorators__.field_validators.values()
                 for name in decorator.info.fields}
    assert {"otp_template", "log_level", "database_url"} <= validated
    for name in validated:
        extra = Settings.model_fields[name].json_schema_extra
        assert isinstance(extra, dict) and extra.get("refused"), name
        assert str(extra["refused"]) in refused(name)


def _commands(group: typer.main.TyperGroup, prefix: str = "senderid") -> set[str]:
    found: set[str] = set()
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if hasattr(command, "commands"):
            found |= _commands(command, path)
        else:
            found.add(path)
    return found


@pytest.mark.unit
def test_every_cli_command_is_in_the_readme() -> None:
    group = typer.main.get_command(app)
    for command in _commands(group):
        assert command in README, f"`{command}` is not documented in the README"


def test_every_operation_has_a_written_summary(tmp_path: Path) -> None:
    from senderid.api.app import create_app
    from senderid.api.summaries import SUMMARIES

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", secret_key="s" * 40,
                        admin_token="a" * 40, sms_provider="devinbox")
    document = create_app(settings, run_worker=False).openapi()
    operations = {(method, path): op for path, ops in document["paths"].items() for method, op in ops.items()}
    assert set(operations) == set(SUMMARIES)  # every operation has one, none is stale
    for key, operation in operations.items():
        assert operation["summary"] == SUMMARIES[key]


def test_docs_pages_load_their_assets_from_this_server(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from senderid.api.app import create_app

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", secret_key="s" * 40)
    with TestClient(create_app(settings, run_worker=False)) as client:
        for page in ("/docs", "/redoc"):
            html = client.get(page).text
            sources = re.findall(r'(?:src|href)="([^"]+)"', html)
            assert sources and all(s.startswith("/docs/assets/") for s in sources), (page, sources)
            assert "googleapis" not in html and "cdn." not in html
            for source in sources:
                assert client.get(source).status_code == 200, source
