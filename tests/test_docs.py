"""Docs that cannot drift: every setting and every CLI command is in the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

from senderid.cli.main import app
from senderid.settings import Settings, markdown_table

README = (Path(__file__).parents[1] / "README.md").read_text()


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
def test_configuration_table_is_the_generated_one() -> None:
    """Regenerate with `python -m senderid.settings` when a setting changes."""
    assert markdown_table() in README


def _commands(group: typer.main.TyperGroup, prefix: str = "senderid") -> set[str]:  # type: ignore[name-defined]
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
    for command in _commands(group):  # type: ignore[arg-type]
        assert command in README, f"`{command}` is not documented in the README"
