"""What every command needs: settings (with readable errors) and a context."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from pydantic import ValidationError

from senderid.domain.context import Context
from senderid.errors import SenderIdError
from senderid.runtime import build_context, routes_of
from senderid.settings import Settings, SettingsError, load_settings


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def refusals() -> Iterator[None]:
    """Turn a domain refusal into its message on stderr and exit code 1."""
    try:
        yield
    except SenderIdError as exc:
        fail(exc.message)


def settings_or_exit() -> Settings:
    """The settings, or one line on stderr naming each setting that cannot be used (exit 2)."""
    try:
        return load_settings()
    except SettingsError as exc:
        fail(str(exc), code=2)
    except ValidationError as exc:
        problems = [
            f"SENDERID_{'_'.join(str(p) for p in err['loc']).upper()}: "
            f"{err['msg'].removeprefix('Value error, ')}"
            if err["loc"] else err["msg"].removeprefix("Value error, ")
            for err in exc.errors()
        ]
        fail("invalid settings: " + "; ".join(problems), code=2)


_built: list[Context] = []  # this process's context, once built


def context(*, migrated: bool = True) -> Context:
    """The context every command works in, built once per process.

    ``migrated`` (every command but ``db upgrade``, ``serve`` and ``worker``): the
    database must exist and be at the newest migration; otherwise the command stops with
    one line that says where the database is and to run ``senderid db upgrade``, before
    anything is created (no empty SQLite file, no development secret beside it)."""
    if _built:
        return _built[0]
    settings = settings_or_exit()
    try:  # the routes file is a setting: refused (exit 2) before the database is looked at
        routes = routes_of(settings)
    except SettingsError as exc:
        fail(str(exc), code=2)
    if migrated:
        from senderid.store.migrate import schema_problem

        problem = schema_problem(settings.database_url)
        if problem:
            fail(problem)
    try:
        _built.append(build_context(settings, routes=routes))
    except SettingsError as exc:
        fail(str(exc), code=2)
    return _built[0]


def reset_context() -> None:
    """Forget the cached context and close its connections (tests run many commands in one process)."""
    while _built:
        _built.pop().db.dispose()
