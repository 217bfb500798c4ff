"""The error of a study that cannot be opened, created or written, in one line."""

from __future__ import annotations

from pathlib import Path

from data_prep.errors import InputError


class StudyError(InputError):
    """A study that cannot be opened or created: one line naming where and why, and the
    ``details`` behind it where there are more than a line holds (``--verbose`` shows them)."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


def read_only(where: str | Path) -> StudyError:
    """The one line refusing a write to a study whose directory ``where`` this process can
    only read."""
    return StudyError(
        f"{where}: the study directory is read-only; status, best, export and report read "
        "it, nothing can write to it"
    )
