"""The scoring stage on a real study: scores in the database, rescoring, broken models, best-N.

One small study (three tiny smoke models, one epoch) is trained once for the module; each test
scores a copy of it, so the tests do not depend on each other.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3

import numpy as np
import pytest

import search.evaluation.stage
from data_prep.errors import ParameterError
from search import best, score
from search.cli import main
from search.evaluation.scoring import SCORER_VERSION
from search.outputs.tables import format_ranking
from studies.results import abnormal_key, mark_ties, scorings
from studies.storage import locate, open_study
from tests.conftest import ranked_model
from vae.scores import window_scores
from vae.storage import load_model, read_manifest

SPLITS, SPACES, METRICS = 3, 3, 3


@pytest.fixture
def study(trained_smoke, tmp_path):
    copy = tmp_path / "study"
    shutil.copytree(trained_smoke, copy)
    return copy


def score_rows(study, unit: str = "window"):
    with sqlite3.connect(study / "study.db") as db:
        return db.execute(
            "SELECT model_name, scorer_version, abnormal, split, space, metric, value, std "
            "FROM vae_metric_scores WHERE unit = ? AND space != 'baseline'",
            (unit,),
        ).fetchall()


def intervals(study, unit: str = "window", version: int = SCORER_VERSION):
    with sqlite3.connect(study / "study.db") as db:
        return db.execute(
            "SELECT model_name, split, space, metric, value, low, high FROM vae_metric_scores "
            "WHERE unit = ? AND scorer_version = ? ORDER BY model_name, split, space, metric",
            (unit, version),
        ).fetchall()


def test_every_model_gets_every_score_and_rescoring_is_idempotent(study):
    report = score(study, repeats=3, workers=2)
    assert (report.scored, report.failed, report.current) == (3, (), 0)
    rows = score_rows(study)
    assert len(rows) == 3 * SPLITS * SPACES * METRICS
    for _, version, abnormal, _, space, metric, value, std in rows:
        assert version == SCORER_VERSION and abnormal == "2"
        assert 0.0 <= value <= 1.0, (space, metric, value)
        assert (std is not None) == (space == "input")  # sampled draws only
    # per cut too (a cut's score: its windows' mean), AP and ROC-AUC
    cut_rows = score_rows(study, "cut")
    assert len(cut_rows) == 3 * SPLITS * SPACES * 2
    assert {row[5] for row in cut_rows} == {"ap", "roc"}
    # every score has its bootstrap interval over resampled cuts
    for unit in ("window", "cut"):
        for *_, value, low, high in intervals(study, unit):
            assert 0.0 <= low < high <= 1.0 and 0.0 <= value <= 1.0
    engine = open_study(locate(study)).engine
    before = {s.model_name: s.scored_at for s in scorings(engine, SCORER_VERSION, "2")}
    again = score(study, repeats=3)
    assert (again.scored, again.current) == (0, 3)
    assert score_rows(study) == rows
    after = {s.model_name: s.scored_at for s in scorings(engine, SCORER_VERSION, "2")}
    assert after == before
    # the validation thresholds reach each manifest, for predict
    for model_dir in (study / "models").iterdir():
        manifest = read_manifest(model_dir)
        assert set(manifest["scoring"]["thresholds"]) == {"input_mean", "latent"}
        assert manifest["preprocessing"]["window"] == 64


def test_a_new_scorer_version_rescores_everything(study, monkeypatch):
    score(study, repeats=2, bootstrap=200)
    first = intervals(study)
    monkeypatch.setattr(search.evaluation.stage, "SCORER_VERSION", SCORER_VERSION + 1)
    assert score(study, repeats=2, bootstrap=200).scored == 3
    versions = {row[1] for row in score_rows(study)}
    assert versions == {SCORER_VERSION, SCORER_VERSION + 1}
    assert intervals(study, version=SCORER_VERSION + 1) == first  # seeded: the same


def test_a_study_scored_without_intervals_gets_them_and_an_older_database_is_upgraded(study):
    assert score(study, repeats=1, bootstrap=0).scored == 3
    assert {(low, high) for *_, low, high in intervals(study)} == {(None, None)}
    with sqlite3.connect(study / "study.db") as db:  # a database from before the column
        db.execute("ALTER TABLE vae_scorings DROP COLUMN bootstrap")
    assert score(study, repeats=1, bootstrap=100).scored == 3  # the column is back, rescored
    assert all(low is not None for *_, low, high in intervals(study))
    assert score(study, repeats=1, bootstrap=100).current == 3
    assert score(study, repeats=1, bootstrap=50).current == 3  # fewer resamples: current


def test_a_broken_model_is_recorded_with_its_reason_and_the_rest_are_scored(study):
    broken, *_ = sorted((study / "models").iterdir())
    with (broken / "model.keras").open("ab") as handle:
        handle.write(b"tampered")
    report = score(study, repeats=2, abnormal=(1, 2), bootstrap=100)
    assert report.scored == 2
    [(name, reason)] = report.failed
    assert name == broken.name and "sha256" in reason and "model.keras" in reason
    engine = open_study(locate(study)).engine
    statuses = {
        s.model_name: s.status
        for s in scorings(engine, SCORER_VERSION, "1,2")
        if not s.model_name.startswith("baseline-")
    }
    assert statuses[broken.name] == "failed"
    assert sorted(statuses.values()) == ["failed", "scored", "scored"]


def test_best_ranks_by_validation_and_shows_test(study, capsys):
    score(study, repeats=2, bootstrap=100)
    ranked = best(study, n=10, space="latent", metric="ap")
    assert [r.rank for r in ranked] == [1, 2, 3]
    assert [r.val for r in ranked] == sorted((r.val for r in ranked), reverse=True)
    assert all(r.test is not None and r.val_std is None for r in ranked)
    assert len(best(study, n=2, space="input", metric="paper")) == 2
    assert all(r.val_std is not None for r in best(study, space="input"))

    assert main(["best", "--study", str(study), "-n", "2", "--format", "csv"]) == 0
    records = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [int(r["rank"]) for r in records] == [1, 2]
    assert records[0]["name"] == ranked[0].name and records[0]["beta_value"]
    assert main(["best", "--study", str(study), "--format", "json", "--metric", "roc"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert len(entries) == 3 and {"val", "test", "config", "path"} <= set(entries[0])
    assert main(["best", "--study", str(study)]) == 0
    table = capsys.readouterr().out
    assert "val latent ap" in table and ranked[0].path in table


def test_best_refuses_bad_options(study, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["best", "--study", str(study), "--space", "weird"])
    assert exit_info.value.code == 2
    assert main(["best", "--study", str(study), "-n", "0"]) == 2
    assert "-n must be an integer >= 1" in capsys.readouterr().err
    with pytest.raises(ParameterError, match=r"^n must be an integer >= 1"):
        best(study, n=0)
    assert main(["score", "--study", str(study), "--abnormal", "5"]) == 2
    assert "--abnormal" in capsys.readouterr().err
    assert main(["score", "--study", str(study / "nowhere")]) == 2


def test_window_scores_are_seeded(trained_smoke, paper_data):
    model = load_model(next((trained_smoke / "models").iterdir()))
    X = paper_data.X_val[:300]
    first, second = (window_scores(model, X, repeats=2, seed=5) for _ in range(2))
    np.testing.assert_array_equal(first.input, second.input)
    np.testing.assert_array_equal(first.latent, second.latent)
    assert first.input.shape == (2, 300) and first.input_mean.shape == (300,)
    assert not np.array_equal(first.input[0], first.input[1])  # two different draws


def test_abnormal_key_is_canonical():
    assert abnormal_key([2, 1, 2]) == "1,2"


def test_report_of_an_unscored_study_is_refused(study, tmp_path, capsys):
    assert main(["report", "--study", str(study), "--out", str(tmp_path / "r")]) == 2
    assert "no scored model yet" in capsys.readouterr().err


def test_report_into_a_file_is_refused_in_one_line(scored_smoke, tmp_path, capsys):
    study = scored_smoke  # only read
    a_file = tmp_path / "figures.png"
    a_file.write_bytes(b"keep me")
    assert main(["report", "--study", str(study), "--out", str(a_file)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(a_file) in err and "report directory" in err
    assert a_file.read_bytes() == b"keep me"


def test_a_model_whose_directory_is_gone_is_named_never_ranked(scored_smoke, tmp_path, capsys):
    study = tmp_path / "study"
    shutil.copytree(scored_smoke, study)
    first, second, third = best(study)
    shutil.rmtree(study / first.path)
    assert [r.name for r in best(study)] == [second.name, third.name]
    assert [r.rank for r in best(study)] == [1, 2]
    assert main(["best", "--study", str(study), "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    assert first.name not in out and f"missing, not ranked: {first.name}" in err
    assert main(["export", "--study", str(study), "--out", str(tmp_path / "r.csv")]) == 0
    rows = {
        r["model_name"]: r for r in csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text()))
    }
    assert rows[first.name]["model_missing"] == "1" and rows[second.name]["model_missing"] == "0"
    for ranked in (second, third):
        shutil.rmtree(study / ranked.path)
    capsys.readouterr()
    assert main(["report", "--study", str(study), "--out", str(tmp_path / "figures")]) == 2
    assert "no scored model yet" in capsys.readouterr().err
    assert not (tmp_path / "figures").exists()


def test_models_whose_interval_overlaps_the_first_ones_are_tied_with_it():
    ranked = mark_ties(
        [
            ranked_model(1, 0.50, (0.40, 0.60)),
            ranked_model(2, 0.45, (0.38, 0.41)),  # its high reaches the first one's low: tied
            ranked_model(3, 0.44, (0.30, 0.40)),  # touches it: tied
            ranked_model(4, 0.30, (0.20, 0.39)),  # below it: not
            ranked_model(5, 0.20, None),  # scored without intervals: not known, not tied
        ]
    )
    assert [r.tied for r in ranked] == [False, True, True, False, False]
    assert mark_ties([ranked_model(1, 0.5, None), ranked_model(2, 0.5, None)])[1].tied is False
    table = format_ranking(ranked, "table", "latent ap")
    rows = [line.split(maxsplit=3) for line in table.splitlines()[1:6]]
    assert [row[0] for row in rows] == ["1", "2=", "3=", "4", "5"]
    assert rows[1][1:3] == ["0.450", "[0.380,"] and rows[0][1:3] == ["0.500", "[0.400,"]
    assert "tied with it" in table
    records = list(csv.DictReader(io.StringIO(format_ranking(ranked, "csv", "latent ap"))))
    assert [r["tied"] for r in records] == ["False", "True", "True", "False", "False"]
    assert records[0]["val_low"] == "0.4" and records[0]["val_high"] == "0.6"


def test_best_ranks_by_cut_level_scores_with_intervals(scored_smoke, capsys):
    study = scored_smoke  # only read
    by_cut = best(study, unit="cut")
    assert len(by_cut) == 3 and all(r.val_low <= r.val_high for r in by_cut)
    assert [r.val for r in by_cut] == sorted((r.val for r in by_cut), reverse=True)
    assert {r.val for r in by_cut} != {r.val for r in best(study)}  # another unit, other values
    with pytest.raises(ParameterError, match=r"^metric must be one of ap, roc"):
        best(study, unit="cut", metric="paper")
    assert main(["best", "--study", str(study), "--unit", "cut"]) == 0
    assert "val latent ap per cut [95% interval]" in capsys.readouterr().out
