"""A live SQLite study database copied to somewhere SQLite itself must not run (Google Drive).

SQLite on a network or FUSE file system (Google Drive on Colab) can corrupt its file: its locks
are not honoured there (optuna#2582). So the database stays on local disk and is copied with
SQLite's backup API, which reads a consistent snapshot while workers keep writing, first to a
local temporary file and then to a temporary name beside the target, renamed into place: the
copy on Drive is always a whole database, the previous one until the new one is complete.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from data_prep.files import copy_atomically
from studies.storage import BUSY_TIMEOUT_S, StudyError


def backup_sqlite(source: str | Path, target: str | Path) -> None:
    """Copy the database ``source`` (in use or not) to ``target``, whole or not at all."""
    source, target = Path(source), Path(target)
    if not source.is_file():
        raise StudyError(f"{source}: no database to back up")
    with tempfile.TemporaryDirectory(dir=source.parent, prefix=".backup-") as scratch:
        snapshot = Path(scratch) / source.name
        reader = sqlite3.connect(source, timeout=BUSY_TIMEOUT_S)
        writer = sqlite3.connect(snapshot)
        try:
            reader.backup(writer)
        finally:
            writer.close()
            reader.close()
        copy_atomically(snapshot, target)


def restore_sqlite(backup: str | Path, target: str | Path) -> bool:
    """Copy ``backup`` to ``target`` when ``target`` is missing (a new session resuming).

    Returns True when it copied; a ``target`` that exists is the newer database and is kept.
    """
    backup, target = Path(backup), Path(target)
    if target.exists() or not backup.is_file():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    copy_atomically(backup, target)
    return True
