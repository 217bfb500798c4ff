"""A study on a read-only mount, a damaged database's one line, and messages that name the
file the user gave: issue 27, cases 6, 7 and 8."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from search import score
from search.cli import main
from tests.conftest import ROOT, SMOKE
from tests.test_faults import _one_line, _small_file_system

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="mounting a read-only tmpfs needs root (CI runs as root)"
)


@pytest.fixture(scope="module")
def read_only_study(scored_smoke, tmp_path_factory):
    """The scored smoke study with one more trial planned (so that ``run`` has work), on a
    tmpfs remounted read-only, as an archive is: no ``-shm`` index beside the database, which
    the planning process closed on exit."""
    staging = tmp_path_factory.mktemp("staging") / "study"
    shutil.copytree(scored_smoke, staging)
    plan = f"import search; search.launch({str(staging)!r}, {str(staging / 'spec.toml')!r}, 4)"
    subprocess.run([sys.executable, "-c", plan], cwd=ROOT, check=True, capture_output=True)
    mount = tmp_path_factory.mktemp("ro") / "mount"
    with _small_file_system(mount, "64m"):
        shutil.copytree(staging, mount / "study")
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        yield mount / "study"


@needs_root
@pytest.mark.parametrize("command", ["status", "best", "export", "report"])
def test_a_read_only_study_can_be_read(read_only_study, command, tmp_path, capsys):
    out = {"export": ["--out", str(tmp_path / "r.csv")], "report": ["--out", str(tmp_path)]}
    assert main([command, "--study", str(read_only_study), *out.get(command, [])]) == 0
    captured = capsys.readouterr()
    assert captured.err == "", captured.err
    expected = {
        "status": "4 planned: 3 complete, 1 waiting",
        "best": "models/TBVAE-",
        "export": "(3 models)",
        "report": "pr_roc_curves.png",
    }
    assert expected[command] in captured.out, captured.out


@needs_root
@pytest.mark.parametrize(
    "command", [["score"], ["run", "--no-progress"], ["launch", "--spec", str(SMOKE)]]
)
def test_a_command_that_writes_says_the_study_is_read_only(read_only_study, command, capsys):
    assert main([command[0], "--study", str(read_only_study), *command[1:]]) == 2
    line = _one_line(capsys)
    assert f"{read_only_study}: the study directory is read-only" in line, line


def _damaged_copy(db: Path, page: int, to: Path) -> Path:
    """A study directory holding a copy of ``db`` with ``page`` (from 1) overwritten by seeded
    random bytes."""
    to.mkdir(exist_ok=True)
    copy = to / "study.db"
    shutil.copyfile(db, copy)
    noise = random.Random(page).randbytes(4096)
    with copy.open("r+b") as handle:
        handle.seek(4096 * (page - 1))
        handle.write(noise)
    return to


def test_a_damaged_page_anywhere_is_one_line_with_the_report_behind_verbose(
    scored_smoke, tmp_path, capsys
):
    db = tmp_path / "whole.db"
    with (
        contextlib.closing(sqlite3.connect(scored_smoke / "study.db")) as source,
        contextlib.closing(sqlite3.connect(db)) as target,
    ):
        source.backup(target)  # one file, the WAL folded in
    pages = db.stat().st_size // 4096
    several = []
    for page in range(1, pages + 1):
        study = _damaged_copy(db, page, tmp_path / "study")
        for command in ("status", "best"):
            assert main([command, "--study", str(study)]) == 2, (page, command)
            line = _one_line(capsys)
            assert "study.db" in line, line
            if "problems in all" in line:
                several.append(page)
    assert several, "no page gave SQLite's check more than one problem to report"
    study = _damaged_copy(db, several[0], tmp_path / "study")
    assert main(["status", "--study", str(study), "--verbose"]) == 2
    *report, line = capsys.readouterr().err.strip().splitlines()
    assert len(report) > 2 and "damaged" in line and "Traceback" not in "".join(report)


def _truncated_with_forged_sha256(model_dir: Path) -> None:
    """Cut ``model.keras`` in half and write its new sha256 into the manifest, so that only the
    archive itself can tell."""
    model = model_dir / "model.keras"
    half = model.read_bytes()[: model.stat().st_size // 2]
    model.write_bytes(half)
    manifest = json.loads((model_dir / "manifest.json").read_text())
    manifest["model_sha256"] = hashlib.sha256(half).hexdigest()
    (model_dir / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def scored_with_a_truncated_model(trained_smoke, tmp_path_factory):
    """The trained smoke study, one of its models truncated behind a forged sha256, scored:
    (study, the broken model's directory, the score report)."""
    study = tmp_path_factory.mktemp("truncated") / "study"
    shutil.copytree(trained_smoke, study)
    broken = sorted((study / "models").iterdir())[0]
    _truncated_with_forged_sha256(broken)
    return study, broken, score(study, repeats=1, bootstrap=0)


def test_a_truncated_model_is_refused_as_truncated(scored_with_a_truncated_model):
    _, broken, report = scored_with_a_truncated_model
    assert report.scored == 2 and [name for name, _ in report.failed] == [broken.name]
    reason = report.failed[0][1]
    assert "not a whole .keras archive" in reason and "not found" not in reason, reason


def test_best_names_a_model_that_could_not_be_scored(scored_with_a_truncated_model, capsys):
    study, broken, _ = scored_with_a_truncated_model
    assert main(["best", "--study", str(study)]) == 0
    captured = capsys.readouterr()
    assert broken.name not in captured.out
    line = captured.err.strip()
    assert len(line.splitlines()) == 1, line
    assert f"not scored, not ranked: {broken.name} ({broken}/model.keras: " in line, line


@needs_root
def test_an_output_on_a_read_only_file_system_is_named_not_its_temporary_file(
    scored_smoke, tmp_path, capsys
):
    with _small_file_system(tmp_path / "ro", "1m") as ro:
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        csv, npz = ro / "results.csv", ro / "prepared.npz"
        assert main(["export", "--study", str(scored_smoke), "--out", str(csv)]) == 2
        assert _one_line(capsys) == f"vae-search: error: {csv}: Read-only file system"
        cache = ["--cache-dir", str(tmp_path / "cache")]
        assert main(["prepare", "--out", str(npz), *cache]) == 2
        assert _one_line(capsys) == f"vae-search: error: {npz}: Read-only file system"


@pytest.mark.parametrize("key", ["mat", "labels"])
def test_a_spec_whose_data_file_is_missing_names_its_key(key, tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text(SMOKE.read_text().replace("[data]", f'[data]\n{key} = "gone/file"'))
    study = tmp_path / "study"
    assert main(["launch", "--study", str(study), "--spec", str(spec)]) == 2
    line = _one_line(capsys)
    assert line == f"vae-search: error: {spec}: [data] {key}: {tmp_path}/gone/file: file not found"
    assert not study.exists()
