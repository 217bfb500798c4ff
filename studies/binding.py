"""A study directory and its storage know each other: ``STUDY/storage.json``.

A storage (a journal file, a PostgreSQL database) holds many studies, each with its own Optuna
study name: the directory's name, or the one ``launch --name`` gives. The directory records
that name, its storage's URL (later commands need no ``--storage``) and an id that the study
in the storage holds too (its user attribute ``vae_search_id``). A directory used with a
storage whose study of that name has another id (another directory's study, a copy launched
again) is refused before anything is written. A study directory launched before these records
existed has none: its study is Optuna's ``vae-search``, as it was, and nothing is checked.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from data_prep.files import write_text_atomically
from studies.errors import StudyError

BINDING_FILE = "storage.json"
ID_ATTR = "vae_search_id"
LEGACY_NAME = "vae-search"  # every study's name before a storage held many


@dataclass(frozen=True)
class Binding:
    name: str
    study_id: str
    storage: str | None  # None: the directory's own study.db


def read_binding(directory: Path) -> Binding | None:
    path = directory / BINDING_FILE
    try:
        record = json.loads(path.read_text())
        return Binding(str(record["name"]), str(record["id"]), record.get("storage"))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StudyError(f"{path}: not a study's storage record ({exc})") from None


def write_binding(directory: Path, binding: Binding) -> None:
    """Record it (readable by its owner only: a PostgreSQL URL may hold a password)."""
    path = directory / BINDING_FILE
    text = json.dumps({"name": binding.name, "id": binding.study_id, "storage": binding.storage})
    write_text_atomically(path, text + "\n")
    os.chmod(path, 0o600)


def new_id() -> str:
    return uuid.uuid4().hex


def check_name(name: str) -> str:
    """A study name as given to ``launch --name``: printable, one line, not too long."""
    if not name or not name.isprintable() or len(name) > 200 or name != name.strip():
        raise StudyError(f"--name {name!r}: a study name is one printable line of 1-200 chars")
    return name


def check_bound(directory: Path, binding: Binding | None, name: str, held: str | None) -> None:
    """Refuse a storage whose study ``name`` holds id ``held`` when the directory is bound to
    another (or, unbound, when that study belongs to a directory that is)."""
    if binding is not None and held != binding.study_id:
        raise StudyError(
            f"{directory}: bound to study {name!r} (id {binding.study_id[:8]}), but the "
            f"storage's study of that name is another ({_id(held)}); give the study's own "
            "--storage"
        )
    if binding is None and held is not None:
        raise StudyError(
            f"{directory}: the storage's study {name!r} belongs to another directory "
            f"(id {held[:8]}); launch this one with another --name"
        )


def _id(held: str | None) -> str:
    return "made before study ids" if held is None else f"id {held[:8]}"
