"""Write a file so that readers see the old content or the new, never half of it."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from data_prep.errors import DataFileError


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary name beside ``path`` to write to; renamed onto ``path`` when the block ends
    without error, removed otherwise. An error on the temporary file names ``path``: the
    name the user chose, not one they never heard of."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        if exc.filename != str(tmp):
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    finally:
        if tmp.exists():  # unlink(missing_ok) is no help: a read-only file system refuses it
            tmp.unlink()


def write_text_atomically(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def copy_atomically(source: Path, target: Path) -> None:
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def writable_directory(path: Path, role: str) -> Path:
    """Create ``path``, or refuse it in one line (a file, no permission) before any work."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataFileError(path, f"cannot create the {role} ({exc.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise DataFileError(path, f"{role} is not writable")
    return path
