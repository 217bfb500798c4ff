"""Faults outside the code: a damaged database, a read-only file system, a full disk."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
from pathlib import Path

import pytest

from search import launch
from search.cli import main
from tests.conftest import LABELS, MILL
from tests.test_run import SMOKE, _states


@contextlib.contextmanager
def _small_file_system(path: Path, size: str):
    """A tmpfs of ``size`` at ``path`` (root can mount one here, as on CI)."""
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)])
    if done.returncode != 0:
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_a_damaged_database_is_one_line_for_every_command(tmp_path, capsys):
    study = tmp_path / "study"
    launch(study, SMOKE, trials=2)
    with contextlib.closing(sqlite3.connect(study / "study.db")) as db:  # all in the file
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with (study / "study.db").open("r+b") as db:  # one page overwritten
        db.seek(4096 * 3)
        db.write(b"\xde\xad\xbe\xef" * 1024)
    commands = {
        "status": [],
        "run": ["--no-progress"],
        "score": [],
        "best": [],
        "export": ["--out", str(tmp_path / "r.csv")],
        "report": ["--out", str(tmp_path / "figures")],
        "launch": ["--spec", str(SMOKE)],
    }
    for command, extra in commands.items():
        assert main([command, "--study", str(study), *extra]) == 2, command
        line = _one_line(capsys)
        assert "study.db" in line and "damaged" in line, line
    assert not (tmp_path / "r.csv").exists() and not (tmp_path / "figures").exists()


def test_writing_onto_a_read_only_file_system_is_one_line(tmp_path, capsys, paper_data):
    study = tmp_path / "study"
    launch(study, SMOKE, trials=1)
    with _small_file_system(tmp_path / "ro", "1m") as ro:
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        target = ro / "results.csv"
        assert main(["export", "--study", str(study), "--out", str(target)]) == 2
        assert "Read-only file system" in _one_line(capsys)
        out = ro / "prepared.npz"
        assert (
            main(["prepare", "--data", str(MILL), "--labels", str(LABELS), "--out", str(out)]) == 2
        )
        assert "Read-only file system" in _one_line(capsys)


def test_a_full_disk_under_the_database_is_one_line_and_trains_nothing(tmp_path, capsys):
    with _small_file_system(tmp_path / "small", "2m") as small:
        storage = f"sqlite:///{small / 'study.db'}"
        study = tmp_path / "study"
        launch(study, SMOKE, trials=1, storage=storage)
        filler = small / "filler"
        with contextlib.suppress(OSError), filler.open("wb") as handle:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        assert main(["run", "--study", str(study), "--storage", storage, "--no-progress"]) == 2
        line = _one_line(capsys)
        assert "study.db" in line and "full" in line, line
        assert not [p for p in (study / "models").iterdir() if not p.name.startswith(".")]
        filler.unlink()
        assert _states(small) == {"WAITING": 1}  # claimed by no one, to train when space is back
