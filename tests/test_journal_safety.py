"""Issue 33 item 1: the table journal beside a journal study holds data, never statements; it
is append-only; a torn line is sealed and skipped; a writer paused past the lock's grace loses
no one's rows; a torn last line of Optuna's trial journal leaves the study usable."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from search import launch
from search.cli import main
from studies.journal import TableJournal
from studies.results import models, record_model
from tests.conftest import ROOT, SMOKE


def _names(path: Path) -> list[str]:
    return sorted(m.name for m in models(TableJournal(path, writable=False).engine))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def launched(tmp_path_factory) -> tuple[Path, Path]:
    """A smoke study launched on a journal (3 trials planned, none run): its directory and
    journal, copied by each test that changes them."""
    place = tmp_path_factory.mktemp("launched")
    launch(place / "s", SMOKE, trials=3, storage=f"journal:{place / 'j.journal'}")
    return place / "s", place / "j.journal"


def _copy(launched: tuple[Path, Path], to: Path) -> tuple[Path, str]:
    study, journal = launched
    shutil.copytree(study, to / "s")
    for part in ("", ".tables"):
        shutil.copy(f"{journal}{part}", to / f"j.journal{part}")
    storage = f"journal:{to / 'j.journal'}"
    binding = json.loads((to / "s" / "storage.json").read_text())
    (to / "s" / "storage.json").write_text(json.dumps({**binding, "storage": storage}))
    return to / "s", storage


def test_lines_appended_beside_a_journal_never_run_sql(launched, tmp_path, capsys):
    other = tmp_path / "other" / "study.db"  # another study's database the user can write
    other.parent.mkdir()
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE trials(state TEXT)")
        connection.execute("INSERT INTO trials VALUES ('COMPLETE')")
    before = _digest(other)
    study, storage = _copy(launched, tmp_path)
    journal = tmp_path / "j.journal"
    tables = Path(f"{journal}.tables")
    record_model(TableJournal(tables, writable=True).engine, name="m", path="models/m", config={})
    created = tmp_path / "created.db"
    with tables.open("a") as appended:  # the statements of issue 33, and records of no table
        appended.write(
            '{"writes":[["COMMIT",[],false],'
            f"[\"ATTACH DATABASE '{created}' AS x\",[],false],"
            '["CREATE TABLE x.t(a)",[],false],'
            f"[\"ATTACH DATABASE '{other}' AS o\",[],false],"
            "[\"UPDATE o.trials SET state = 'FAIL'\",[],false]]}\n"
            '{"tx":[{"put":"sqlite_master","rows":[{"sql":"x"}]}]}\n'
            '{"tx":[{"delete":"vae_models","where":{"name; DROP TABLE vae_models":"m"}}]}\n'
        )
    args = ["--study", str(study), "--storage", storage]
    for command in (
        ["best", *args],
        ["export", *args, "--out", str(tmp_path / "e.csv")],
        ["score", *args, "--repeats", "1", "--bootstrap", "0"],
    ):
        main(command)
    warned = [line for line in capsys.readouterr().err.splitlines() if "skipped" in line]
    assert len(warned) == 1 and "skipped 3 line(s) that are no records" in warned[0], warned
    assert not created.exists() and _digest(other) == before
    assert _names(tables) == ["m"]  # the study's own rows are as they were


_PAUSED_WRITER = """
import sys, time
from sqlalchemy.orm import Session
from studies.journal import TableJournal
from studies.schema import ModelRow
from datetime import datetime
engine = TableJournal(__import__("pathlib").Path(sys.argv[1]), True, grace_period=1).engine
with Session(engine) as session, session.begin():
    session.add(ModelRow(name="paused", path="p", config={}, recorded_at=datetime.now()))
    session.flush()
    print("locked", flush=True)
    time.sleep(1.0)  # stopped here, holding the lock
print("committed", flush=True)
"""


def test_a_writer_paused_past_the_grace_loses_no_one_s_rows(tmp_path):
    path = tmp_path / "t.journal.tables"
    path.touch()
    mine = TableJournal(path, writable=True, grace_period=1)
    record_model(mine.engine, name="before", path="p", config={})
    start = path.read_bytes()
    writer = subprocess.Popen(
        [sys.executable, "-c", _PAUSED_WRITER, str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "locked"
        os.kill(writer.pid, signal.SIGSTOP)  # past the lock's grace: it is broken
        from sqlalchemy.orm import Session

        from studies.schema import ModelRow

        with Session(mine.engine) as session, session.begin():
            session.merge(ModelRow(name="during", path="p", config={}, recorded_at=datetime.now()))
            session.flush()
            held = Path(f"{path}.lock").read_bytes()
            os.kill(writer.pid, signal.SIGCONT)  # it resumes, commits and "releases" ...
            assert writer.stdout.readline().strip() == "committed"
            assert Path(f"{path}.lock").read_bytes() == held  # ... not the lock held here
    finally:
        os.kill(writer.pid, signal.SIGCONT)
        writer.wait(timeout=60)
    assert writer.returncode == 0
    assert path.read_bytes().startswith(start)  # nothing cut back
    assert _names(path) == ["before", "during", "paused"]
    assert not Path(f"{path}.lock").exists()


def test_a_torn_last_line_of_the_trial_journal_is_reported_then_dropped(launched, tmp_path, capsys):
    study, storage = _copy(launched, tmp_path)
    journal = tmp_path / "j.journal"
    args = ["--study", str(study), "--storage", storage]
    with journal.open("r+b") as torn:  # a writer killed mid-line
        torn.truncate(journal.stat().st_size - 30)
    capsys.readouterr()
    assert main(["status", *args]) == 0
    out, err = capsys.readouterr()
    assert "its last line is torn" in err and "planned" in out
    assert main(["launch", "--spec", str(SMOKE), *args, "--trials", "3"]) == 0
    assert "dropped a torn last line" in capsys.readouterr().err
    assert main(["status", *args]) == 0
    out, err = capsys.readouterr()
    assert "3 planned" in out and not err


def test_two_directories_on_one_journal_are_two_studies(launched, tmp_path, capsys):
    first, storage = _copy(launched, tmp_path)  # 3 trials planned
    second = tmp_path / "second"
    shutil.copytree(first / "cache", second / "cache")  # the same data, prepared once
    assert main(["launch", "--study", str(second), "--storage", storage, "--spec", str(SMOKE),
                 "--trials", "2"]) == 0  # fmt: skip
    assert "2 trials planned" in capsys.readouterr().out
    for study, planned in ((second, 2), (first, 3)):  # no --storage: each knows its own
        assert main(["status", "--study", str(study)]) == 0
        assert f"{planned} planned" in capsys.readouterr().out
    assert main(["studies", "--storage", storage]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:2] for line in listed] == [["s", "3 trials"], ["second", "2 trials"]]
    other = tmp_path / "other.toml"
    other.write_text(SMOKE.read_text().replace("seed = 0", "seed = 1"))
    before = (tmp_path / "j.journal").read_bytes()
    assert main(["launch", "--study", str(second), "--spec", str(other)]) == 2
    assert "not what this study was launched with" in capsys.readouterr().err
    third = tmp_path / "third"  # a new directory cannot take an existing study's name
    assert main(["launch", "--study", str(third), "--storage", storage, "--spec", str(SMOKE),
                 "--name", "s"]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "belongs to another directory" in err[0], err
    assert (tmp_path / "j.journal").read_bytes() == before and not third.exists()


def test_a_launch_whose_data_fail_leaves_no_study_in_a_shared_journal(launched, tmp_path, capsys):
    _, storage = _copy(launched, tmp_path)
    bad = tmp_path / "bad.mat"
    bad.write_bytes(b"not a MAT file")
    fourth = tmp_path / "fourth"
    assert main(["launch", "--study", str(fourth), "--storage", storage, "--spec", str(SMOKE),
                 "--data", str(bad)]) == 2  # fmt: skip
    assert "bad.mat" in capsys.readouterr().err
    assert main(["studies", "--storage", storage]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in listed] == ["s"] and not fourth.exists()


def test_a_storage_and_a_directory_that_do_not_belong_together_are_refused(
    launched, tmp_path, capsys
):
    import optuna

    study, _ = _copy(launched, tmp_path)
    binding = study / "storage.json"
    record = json.loads(binding.read_text())
    binding.write_text(json.dumps({**record, "id": "0" * 32}))  # another study's directory
    journal = tmp_path / "j.journal"
    before = journal.read_bytes()
    assert main(["score", "--study", str(study), "--repeats", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bound to study 's'" in err[0], err
    binding.write_text(json.dumps(record))
    Path(f"{journal}.tables").unlink()  # the journal copied without its companion
    assert main(["best", "--study", str(study)]) == 2
    assert "table journal is missing" in capsys.readouterr().err
    assert journal.read_bytes() == before and not Path(f"{journal}.tables").exists()
    theirs = tmp_path / "theirs.journal"  # another program's Optuna journal
    optuna.create_study(
        study_name="theirs",
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(theirs))
        ),
    )
    held = theirs.read_bytes()
    fresh = tmp_path / "fresh"
    assert main(["launch", "--study", str(fresh), "--storage", f"journal:{theirs}",
                 "--spec", str(SMOKE)]) == 2  # fmt: skip
    assert "an Optuna journal of other studies (theirs)" in capsys.readouterr().err
    assert theirs.read_bytes() == held


def test_no_output_overwrites_what_a_study_is_read_from(launched, tmp_path, capsys):
    study, storage = _copy(launched, tmp_path)
    journal = tmp_path / "j.journal"
    model = study / "models" / "m"
    model.mkdir(parents=True)
    (model / "manifest.json").write_text("{}")
    elsewhere = tmp_path / "saved"  # a model saved outside any study
    elsewhere.mkdir()
    (elsewhere / "manifest.json").write_text("{}")
    held = {p: p.read_bytes() for p in (journal, Path(f"{journal}.tables"), study / "storage.json")}
    s = ["--study", str(study)]
    for command in (
        ["export", *s, "--out", str(journal)],
        ["export", *s, "--out", f"{journal}.tables"],
        ["export", *s, "--out", str(study / "study.db")],
        ["export", *s, "--out", str(study / "storage.json")],
        ["report", *s, "--out", str(study / "models")],
        ["slurm", *s, "--storage", storage, "--out", str(model / "model.keras")],
        ["prepare", "--out", str(elsewhere / "model.keras")],
        ["prepare", "--out", str(journal)],
    ):
        assert main(command) == 2, command
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "it is read, not written" in err[0], (command, err)
    assert all(p.read_bytes() == b for p, b in held.items())
    assert not (study / "study.db").exists() and not (model / "model.keras").exists()


def test_no_value_becomes_a_line_or_word_of_the_slurm_script(launched, tmp_path, capsys):
    study, storage = _copy(launched, tmp_path)
    odd = tmp_path / "my study 50% $(touch PWNED)"
    study.rename(odd)
    script = tmp_path / "job.sh"
    base = ["slurm", "--study", str(odd), "--storage", storage, "--out", str(script)]
    for option, value in (("--partition", "gpu\ntouch F"), ("--time", "30\n"), ("--array", "0\n")):
        assert main([*base, option, value]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and option.lstrip("-") in err[0], err
    assert not script.exists()
    assert main([*base, "--partition", "gpu", "--gpus-per-task", "0"]) == 0
    text = script.read_text()
    logs = f'"{tmp_path}/my study 50%% $(touch PWNED)/logs/slurm-%A_%a.out"'
    assert f"#SBATCH --output={logs}" in text and f"#SBATCH --error={logs}" in text
    shell = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(shell) == 3 and shell[-1].startswith("exec ")  # set, echo, exec: nothing else
    import shlex

    assert str(odd) in shlex.split(shell[-1])  # the path is one word
