"""What every command needs: settings (with readable errors) and a context."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import NoReturn

import typer
from pydantic import ValidationError

from senderid.domain.context import Context
from senderid.errors import SenderIdError
from senderid.runtime import build_context
from senderid.settings import Settings, SettingsError


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
    try:
        return Settings()
    except ValidationError as exc:
        lines = [
            f"  SENDERID_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            if err["loc"] else f"  {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        ]
        fail("invalid settings:\n" + "\n".join(lines), code=2)


@lru_cache(maxsize=1)
def context() -> Context:
    settings = settings_or_exit()
    try:
        return build_context(settings)
    except SettingsError as exc:
        fail(str(exc), code=2)


def reset_context() -> None:
    """Forget the cached context and close its connections (tests run many commands in one process)."""
    if context.cache_info().currsize:
        context().db.dispose()
    context.cache_clear()
