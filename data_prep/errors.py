"""Errors raised for bad user input.

Every layer of vae-search raises :class:`InputError` (or a subclass) when something a user
supplied is wrong. The CLI turns it into one line on stderr and exit code 2, so the message must
name the file (or option) and the problem on its own.
"""

from __future__ import annotations

from numbers import Integral
from pathlib import Path


class InputError(Exception):
    """A user-supplied input (file, option, parameter) is invalid."""


class DataFileError(InputError):
    """A data file is missing, unreadable or does not hold what vae-search needs."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ParameterError(InputError):
    """An argument of a library function out of its range, named as the function names it.

    A notebook user reads ``workers must be an integer >= 1``; the CLI, which knows which flag
    fills which parameter, says ``--workers must be an integer >= 1`` instead.
    """

    def __init__(self, parameter: str, problem: str) -> None:
        self.parameter = parameter
        self.problem = problem
        super().__init__(f"{parameter} {problem}")


def check_integer(parameter: str, value: object, low: int, high: int | None = None) -> int:
    """``value`` as an int from ``low`` (to ``high``), or a ParameterError naming ``parameter``."""
    in_range = isinstance(value, Integral) and value >= low and (high is None or value <= high)
    if isinstance(value, bool) or not in_range:
        bounds = f">= {low}" if high is None else f"from {low} to {high}"
        raise ParameterError(parameter, f"must be an integer {bounds}, got {value!r}")
    return int(value)


def check_choice(parameter: str, value: object, allowed: tuple) -> None:
    """Refuse a ``value`` not among ``allowed`` with a ParameterError naming ``parameter``."""
    if value not in allowed:
        known = ", ".join(map(str, allowed))
        raise ParameterError(parameter, f"must be one of {known}, got {value!r}")
