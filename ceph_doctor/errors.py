"""Errors that reach the user as one line and exit code 2.

Anything a user can get wrong (a file, a config key, a value) raises one of
these; the CLI turns it into a single line naming the culprit. Programming
errors stay ordinary exceptions so their tracebacks are not hidden.
"""

from __future__ import annotations

from pathlib import Path


class UserInputError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


class DataError(UserInputError):
    """A dataset file is missing or malformed."""

    def __init__(self, path: str | Path, problem: str, line: int | None = None):
        self.path = Path(path)
        self.problem = problem
        self.line = line
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {problem}")


class ConfigError(UserInputError):
    """An unknown config key or a value out of range."""
