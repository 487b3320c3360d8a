"""What every command's help page shares."""

from __future__ import annotations

from pathlib import Path

import click

PATH = click.Path(path_type=Path)  # a path as the user wrote it; each command says what is wrong with it


def example(command: str) -> str:
    """A help page's closing example, kept on its own line as written (click rewraps other paragraphs)."""
    return f"\b\nExample: {command}"


class CommandGroup(click.Group):
    """A group whose help lists its commands in the order they were added (the order of a user's work: train,
    analyze, compare…), each with its whole summary wrapped, not cut at the terminal's width."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, command.get_short_help_str(limit=1_000)) for name in self.list_commands(ctx)
                if (command := self.get_command(ctx, name)) is not None and not command.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
