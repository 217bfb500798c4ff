"""`vae-search launch` and `status` on a real SQLite study: plan, extend, refuse."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from search import launch
from search.cli import main
from search.execution.ledger import CONFIG, PLAN_INDEX
from search.space.plan import plan_trials
from search.space.spec import read_spec
from studies.storage import StudyError, locate, open_study
from tests.conftest import ROOT, SMOKE

PAPER = ROOT / "studies" / "paper.toml"


def ledger(study_dir: Path):
    study = open_study(locate(study_dir)).study
    return {t.user_attrs[PLAN_INDEX]: t for t in study.get_trials(deepcopy=False)}


def test_launch_stores_the_plan_as_waiting_trials(tmp_path):
    result = launch(tmp_path / "s", SMOKE)
    assert (result.planned, result.added) == (3, 3)
    names = {p.name for p in (tmp_path / "s").iterdir()}
    assert {"logs", "models", "spec.toml", "study.db"} <= names  # plus WAL files while open
    with sqlite3.connect(tmp_path / "s" / "study.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    trials = ledger(tmp_path / "s")
    plan = plan_trials(read_spec(SMOKE))
    assert {i: t.state.name for i, t in trials.items()} == {
        0: "WAITING",
        1: "WAITING",
        2: "WAITING",
    }
    for planned in plan.trials:
        assert trials[planned.index].user_attrs[CONFIG] == planned.hyperparameters.to_dict()


def test_launching_again_extends_the_plan(tmp_path):
    launch(tmp_path / "s", SMOKE)
    before = {i: t.user_attrs[CONFIG] for i, t in ledger(tmp_path / "s").items()}
    again = launch(tmp_path / "s", SMOKE, trials=6)
    assert (again.planned, again.added) == (6, 3)
    after = {i: t.user_attrs[CONFIG] for i, t in ledger(tmp_path / "s").items()}
    assert sorted(after) == list(range(6)) and all(after[i] == before[i] for i in before)
    assert launch(tmp_path / "s", SMOKE, trials=6).added == 0


def test_another_spec_or_seed_is_refused(tmp_path):
    launch(tmp_path / "s", SMOKE)
    for spec, seed in ((PAPER, None), (SMOKE, 5)):
        with pytest.raises(StudyError, match="is not what this study was launched with"):
            launch(tmp_path / "s", spec, seed=seed)
    assert sorted(ledger(tmp_path / "s")) == [0, 1, 2]


def test_status_counts_states(capsys, tmp_path):
    launch(tmp_path / "s", SMOKE, trials=4)
    assert main(["status", "--study", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert "4 planned: 4 waiting" in out and "best validation latent PR-AUC: none yet" in out


def run_cli(capsys, *argv: str) -> tuple[int, list[str]]:
    code = main(list(argv))
    return code, capsys.readouterr().err.strip().splitlines()


def test_status_of_no_study(capsys, tmp_path):
    code, lines = run_cli(capsys, "status", "--study", str(tmp_path / "none"))
    assert code == 2 and len(lines) == 1 and "no study here" in lines[0]
    assert not (tmp_path / "none").exists()


def test_a_database_that_is_not_a_study(capsys, tmp_path):
    (tmp_path / "s").mkdir()
    with sqlite3.connect(tmp_path / "s" / "study.db") as db:
        db.execute("CREATE TABLE invoices (id INTEGER)")
    for command in ("launch", "status"):
        extra = ["--spec", str(SMOKE)] if command == "launch" else []
        code, lines = run_cli(capsys, command, "--study", str(tmp_path / "s"), *extra)
        assert code == 2 and len(lines) == 1 and "not a vae-search study" in lines[0]
    with sqlite3.connect(tmp_path / "s" / "study.db") as db:  # left as it was
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master")]
    assert tables == ["invoices"]


def test_a_foreign_optuna_database_or_an_empty_file_is_refused_unwritten(capsys, tmp_path):
    import hashlib

    import optuna

    foreign, empty = tmp_path / "foreign", tmp_path / "empty"
    for directory in (foreign, empty):
        directory.mkdir()
    optuna.create_study(storage=f"sqlite:///{foreign / 'study.db'}", study_name="theirs")
    (empty / "study.db").touch()

    def fingerprint(directory: Path) -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir()}

    before = {d: fingerprint(d) for d in (foreign, empty)}
    cases = [("status", foreign), ("launch", foreign), ("status", empty), ("score", empty)]
    for command, directory in cases:
        extra = ["--spec", str(SMOKE)] if command == "launch" else []
        code, lines = run_cli(capsys, command, "--study", str(directory), *extra)
        assert code == 2 and len(lines) == 1 and "vae-search study" in lines[0], lines
        assert fingerprint(directory) == before[directory]  # not a byte written


@pytest.mark.parametrize("name", ["a?b", "50%", "x#y"])
def test_any_character_of_a_study_path_stays_in_the_path(tmp_path, name):
    study = tmp_path / name / "s"
    launch(study, SMOKE, trials=1)
    assert (study / "study.db").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # nothing written elsewhere
    assert set(ledger(study)) == {0}


def test_a_launch_that_fails_at_the_door_leaves_nothing(capsys, tmp_path):
    bad_labels = tmp_path / "labels.csv"
    bad_labels.write_text("case,run\n1,1\n")
    code, lines = run_cli(
        capsys,
        "launch",
        "--study",
        str(tmp_path / "s"),
        "--spec",
        str(SMOKE),
        "--labels",
        str(bad_labels),
    )
    assert code == 2 and len(lines) == 1 and "labels.csv" in lines[0]
    assert not (tmp_path / "s").exists()


def test_a_file_that_is_not_a_database(capsys, tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "study.db").write_text("hello " * 200)
    code, lines = run_cli(capsys, "status", "--study", str(tmp_path / "s"))
    assert code == 2 and len(lines) == 1 and "not a study database" in lines[0]


def test_study_directory_that_cannot_be_created(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, lines = run_cli(capsys, "launch", "--study", str(blocker / "s"), "--spec", str(SMOKE))
    assert code == 2 and len(lines) == 1 and "cannot create the study" in lines[0]


def test_bad_spec_leaves_no_study(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[space]\ncolour = [1]\n")
    code, lines = run_cli(capsys, "launch", "--study", str(tmp_path / "s"), "--spec", str(bad))
    assert code == 2 and len(lines) == 1 and "bad.toml" in lines[0] and "colour" in lines[0]
    assert not (tmp_path / "s").exists()


def test_a_study_planned_before_the_tcn_choice_is_extended_with_its_own_family(tmp_path):
    """Its first trials carry no ``tcn``: they are keras-tcn models with momentum 0.9, and
    so are the trials a later launch adds, unless the spec itself says otherwise."""
    spec = tmp_path / "old.toml"
    text = SMOKE.read_text().replace('tcn = "hahn2021"', "")
    spec.write_text(text.replace("../../shared", str(ROOT.parent / "shared")))
    launch(tmp_path / "s", spec, trials=2)
    opened = open_study(locate(tmp_path / "s"))
    storage, study = opened.storage, opened.study
    for trial in study.get_trials(deepcopy=False):
        old = {k: v for k, v in trial.user_attrs[CONFIG].items()}
        del old["tcn"], old["batchnorm_momentum"]
        storage.set_trial_user_attr(trial._trial_id, CONFIG, old)
    assert launch(tmp_path / "s", spec, trials=4).added == 2
    configs = {i: t.user_attrs[CONFIG] for i, t in ledger(tmp_path / "s").items()}
    assert all("tcn" not in configs[i] for i in (0, 1))
    assert all(
        (configs[i]["tcn"], configs[i]["batchnorm_momentum"]) == ("keras-tcn", 0.9) for i in (2, 3)
    )


def test_the_cli_names_the_option_where_the_library_names_the_parameter(tmp_path, capsys):
    study = tmp_path / "s"
    assert main(["launch", "--study", str(study), "--spec", str(SMOKE), "--trials", "0"]) == 2
    assert "vae-search: error: --trials must be an integer >= 1, got 0" in capsys.readouterr().err
    assert not study.exists()  # refused at the door: nothing made


def test_a_study_made_before_study_ids_keeps_working_and_is_bound_at_its_next_launch(
    tmp_path, capsys
):
    import json

    study = tmp_path / "s"
    launch(study, SMOKE, trials=2)
    (study / "storage.json").unlink()  # as the previous release left a study
    with sqlite3.connect(study / "study.db") as db:
        db.execute("DELETE FROM study_user_attributes WHERE key = 'vae_search_id'")
    assert main(["status", "--study", str(study)]) == 0
    assert "2 planned" in capsys.readouterr().out
    assert main(["studies", "--storage", f"sqlite:///{study / 'study.db'}"]) == 0
    assert capsys.readouterr().out.startswith("vae-search\t2 trials\tbest -")
    assert launch(study, SMOKE, trials=2).added == 0
    record = json.loads((study / "storage.json").read_text())
    assert record["name"] == "vae-search" and record["storage"] is None
    assert open_study(locate(study)).study.user_attrs["vae_search_id"] == record["id"]
