"""Plain help for every command: click's layout (words wrapped whole), values named by
what they are (``--webhook-url URL``, ``ACCOUNT_ID``) instead of typer's type labels
(``<str>``, ``<bool>``, ``{account_id}``).

:func:`command` builds the ``senderid`` click command from the typer app and gives its
parameters these two small classes; the console script runs it (``main``).
"""

from __future__ import annotations

from typer import _click as click  # the click that typer vendors and runs (not the click package)
from typer.core import TyperArgument, TyperOption


class _Argument(TyperArgument):
    def display_type_rich(self, ctx: click.Context) -> str | None:
        return None

    def _usage_display_name(self) -> str:
        name = self.display_name_raw.upper()
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 and not name.endswith("...") else "")

    def _rich_display_name(self) -> str:
        return self.display_name_raw.upper()


class _Option(TyperOption):
    def display_type_rich(self, ctx: click.Context) -> str | None:
        if self.metavar is not None:
            return self.metavar
        if self.is_flag or self.count:
            return None
        described = self.type_descriptor
        if described.is_choice and described.choices:
            return "|".join(str(getattr(choice, "value", choice)) for choice in described.choices)
        return (self.name or "value").upper()


def tidy(command: click.Command) -> click.Command:
    """``command`` and its subcommands, with plain parameter labels."""
    for param in command.params:
        if type(param) is TyperArgument:
            param.__class__ = _Argument
        elif type(param) is TyperOption:
            param.__class__ = _Option
    for sub in getattr(command, "commands", {}).values():
        tidy(sub)
    return command
