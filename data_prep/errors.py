"""Errors raised for bad user input.

Every layer of vae-search raises :class:`InputError` (or a subclass) when something a user
supplied is wrong. The CLI turns it into one line on stderr and exit code 2, so the message must
name the file (or option) and the problem on its own.
"""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """A user-supplied input (file, option, parameter) is invalid."""


class DataFileError(InputError):
    """A data file is missing, unreadable or does not hold what vae-search needs."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
