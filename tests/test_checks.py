"""What an engineer checks before trusting a detector (issue 25), on the real scored smoke
study: baselines ranked beside the models, each signal's own score, percentile alert tiers
with their outcomes and history, pictures of a model, and collapse flags.

The scored study is the session's (three one-epoch smoke models, baselines included); a test
that writes works on a copy.
"""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3

import numpy as np
import pytest

from data_prep.prepared import load_prepared
from search import best, export, predict, report, score, show
from search.cli import main
from search.evaluation.baselines import BASELINES, baselines_beside
from search.evaluation.diagnostics import ACTIVE_KL, latent_check, leading_signals
from search.evaluation.scoring import SCORER_VERSION
from search.evaluation.thresholds import outcome
from search.outputs.tables import format_ranking
from studies.diagnostics import signal_scores_by_model, threshold_history
from studies.storage import locate, open_study
from tests.conftest import LABELS, MILL
from vae.metrics import average_precision
from vae.model import CODINGS_LOG_VAR, CODINGS_MEAN
from vae.scores import window_scores
from vae.storage import load_model, read_manifest

NEW_FIGURES = ("signal_heatmap.png", "reconstructions.png", "latent_means.png")


@pytest.fixture
def study_copy(scored_smoke, tmp_path):
    copy = tmp_path / "study"
    shutil.copytree(scored_smoke, copy)
    return copy


def _engine(study):
    return open_study(locate(study)).engine


def _data(study):
    return load_prepared(open_study(locate(study)).prepared_file())


def test_best_lists_the_three_baselines_with_intervals(scored_smoke, capsys):
    rows = best(scored_smoke, n=None)
    beside = baselines_beside(scored_smoke, first=rows[0])
    assert sorted(b.name for b in beside) == sorted(b.name for b in BASELINES)
    for b in beside:
        assert 0 <= b.val_low <= b.val_high <= 1 and 0 <= b.test_low <= b.test_high <= 1
        overlaps = b.val_high >= rows[0].val_low and b.val_low <= rows[0].val_high
        assert b.tied == overlaps
    assert main(["best", "--study", str(scored_smoke)]) == 0
    out = capsys.readouterr().out
    for b in beside:
        assert b.name in out
    assert "chosen on validation" in out
    table = format_ranking(rows, "table", "latent ap", beside)
    assert table.index(rows[-1].path) < table.index("baseline-pca")  # under the models
    assert len(format_ranking(rows, "csv", "latent ap", beside).splitlines()) == 1 + len(rows)


def test_a_baseline_is_the_setting_best_on_validation_scored_as_models_are(scored_smoke):
    paper_data = _data(scored_smoke)
    with sqlite3.connect(scored_smoke / "study.db") as db:
        settings, tried = db.execute(
            "SELECT settings, tried FROM vae_baselines WHERE name = 'baseline-pca'"
        ).fetchone()
        stored = db.execute(
            "SELECT value FROM vae_metric_scores WHERE model_name = 'baseline-pca' "
            "AND split = 'test' AND metric = 'ap' AND unit = 'window'"
        ).fetchone()[0]
    tried = json.loads(tried)
    assert json.loads(settings)["components"] == max(tried, key=lambda t: t["val_ap"])["components"]
    pca = next(b for b in BASELINES if b.kind == "pca")
    scorer = pca.fit(pca.learn(paper_data.X_train_slim), **json.loads(settings))
    assert stored == pytest.approx(
        average_precision(paper_data.y_test == 2, scorer(paper_data.X_test)), abs=1e-12
    )


def test_each_signal_is_scored_by_its_own_reconstruction_error(scored_smoke):
    location = locate(scored_smoke)
    first = best(scored_smoke, n=1)[0]
    stored = {
        (s.split, s.signal, s.unit): s
        for s in signal_scores_by_model(_engine(scored_smoke), SCORER_VERSION, "2")[first.name]
    }
    data = load_prepared(open_study(location).prepared_file())
    assert {k[1] for k in stored} == set(data.signal_names)
    scores = window_scores(load_model(location.model_path(first.path)), data.X_val, 1, seed=0)
    # the signals' errors are the window's error split by signal (the MSE is their mean)
    assert np.allclose(scores.signals.mean(axis=1), scores.input_mean)
    for column, name in enumerate(data.signal_names):
        s = stored[("val", name, "window")]
        assert s.value == pytest.approx(
            average_precision(data.y_val == 2, scores.signals[:, column]), abs=1e-12
        )
        assert s.low <= s.high
        assert stored[("test", name, "cut")].value is not None


def test_export_has_signal_columns_active_dimensions_and_baseline_rows(scored_smoke, tmp_path):
    out = tmp_path / "results.csv"
    export(scored_smoke, out)
    rows = list(csv.DictReader(out.open()))
    models = [r for r in rows if not r["baseline"]]
    assert len(models) == 3 and sorted(r["baseline"] for r in rows if r["baseline"]) == sorted(
        b.kind for b in BASELINES
    )
    for r in models:
        for signal in ("smcAC", "smcDC", "vib_table", "vib_spindle", "AE_table"):
            assert 0 <= float(r[f"test_signal_{signal}_ap"]) <= 1
            assert float(r[f"val_signal_{signal}_cut_ap_low"]) <= float(
                r[f"val_signal_{signal}_cut_ap_high"]
            )
        assert 0 <= int(r["active_dims"]) <= int(r["codings_size"])
        assert r["collapsed"] == str(int(r["active_dims"] == "0"))
    baseline = next(r for r in rows if r["baseline"] == "pca")
    assert 0 <= float(baseline["val_baseline_ap"]) <= 1 and baseline["val_baseline_cut_roc_high"]


def test_a_collapsed_posterior_has_no_active_dimension(scored_smoke, paper_data):
    location = locate(scored_smoke)
    model = load_model(location.model_path(best(scored_smoke, n=1)[0].path))
    alive = latent_check(window_scores(model, paper_data.X_val[:300], 0, seed=0).kl_dims)
    # the encoder's mean and log-variance heads set to zero: every coding is N(0, I), KL 0
    for name in (CODINGS_MEAN, CODINGS_LOG_VAR):
        for weight in model.encoder.get_layer(name).weights:
            weight.assign(np.zeros(weight.shape, weight.dtype))
    collapsed = latent_check(window_scores(model, paper_data.X_val[:300], 0, seed=0).kl_dims)
    assert collapsed.active_dims == 0 and collapsed.collapsed
    assert max(collapsed.kl_per_dim) <= ACTIVE_KL < max(alive.kl_per_dim)


def test_every_ranking_marks_a_collapsed_model(study_copy, capsys):
    first = best(study_copy, n=1)[0]
    with sqlite3.connect(study_copy / "study.db") as db:
        db.execute(
            "UPDATE vae_latent_checks SET active_dims = 0 WHERE model_name = ?", (first.name,)
        )
    rows = best(study_copy, n=None)
    assert [r.active_dims == 0 for r in rows] == [True, False, False]
    assert main(["best", "--study", str(study_copy)]) == 0
    assert "COLLAPSED" in capsys.readouterr().out.splitlines()[1]
    assert '"collapsed": true' in format_ranking(rows, "json", "latent ap")


def test_thresholds_keep_their_history_and_say_what_they_flag(study_copy):
    paper_data = _data(study_copy)
    name = best(study_copy, n=1)[0].name
    first = threshold_history(_engine(study_copy), name)
    assert {(t.space, t.tier) for t in first} == {
        (space, tier) for space in ("latent", "input_mean") for tier in ("max-f1", "watch", "act")
    }
    assert score(study_copy, repeats=1, bootstrap=200, tiers={"watch": 99, "act": 99.9}).scored == 3
    history = threshold_history(_engine(study_copy), name)
    assert [t.id for t in history[: len(first)]] == [t.id for t in first]  # kept, not replaced
    watch = [t for t in history if t.tier == "watch" and t.space == "latent"]
    assert [t.percentile for t in watch] == [99.5, 99.0]
    location = locate(study_copy)
    model = load_model(location.model_path(best(study_copy, n=1)[0].path))
    val = window_scores(model, paper_data.X_val, 0, seed=0).latent
    assert watch[-1].value == pytest.approx(np.percentile(val[paper_data.y_val == 0], 99))
    test = watch[-1].outcome["test"]
    assert sum(test["windows"].values()) == len(paper_data.y_test)
    manifest = read_manifest(location.model_path(best(study_copy, n=1)[0].path))
    assert [h["watch"]["percentile"] for h in manifest["scoring"]["threshold_history"]] == [
        99.5,
        99.0,
    ]
    lines = show(study_copy, name)
    assert any("false alarms per 100 healthy cuts" in line for line in lines)
    assert any("active latent dimensions" in line for line in lines)


def test_outcome_counts_windows_cuts_and_false_alarms_per_100_healthy_cuts():
    y = np.array([0, 0, 0, 0, 2, 2, 1, 1])
    cut_no = np.array([1, 1, 2, 2, 3, 3, 4, 4])
    scores = np.array([5.0, 5.0, 0.0, 0.0, 5.0, 0.0, 5.0, 5.0])
    o = outcome(1.0, scores, y, cut_no, (2,))
    assert o["windows"] == {"tp": 1, "fp": 4, "fn": 1, "tn": 2}
    assert (o["precision"], o["recall"]) == (0.2, 0.5)
    assert o["cuts"] == {"tp": 1, "fp": 2, "fn": 0, "tn": 1}  # half of cut 3: flagged
    assert o["false_alarms_per_100_healthy_cuts"] == 50.0  # cut 1 of the healthy 1 and 2


def test_predict_names_its_threshold_and_the_signals_and_logs_beside_the_model(scored_smoke):
    location = locate(scored_smoke)
    model_dir = location.model_path(best(scored_smoke, n=1)[0].path)
    prediction = predict(model_dir, MILL, LABELS, tier="watch")
    summary = prediction.summary()
    assert summary[2].startswith("score: latent (KL divergence), threshold ")
    assert "watch: 99.5th percentile of healthy validation scores, set " in summary[2]
    names = set(read_manifest(model_dir)["preprocessing"]["signals"])
    flagged = [line.split(",") for line in prediction.window_table() if ",abnormal," in line]
    assert flagged
    for fields in flagged:
        named = [part.split(":")[0] for part in fields[-1].split(";")]
        assert named and set(named) <= names
    assert prediction.log.parent == model_dir / "predictions"
    windows = (prediction.log / "windows.csv").read_text().splitlines()
    assert windows == prediction.window_table()
    assert (prediction.log / "summary.txt").read_text().splitlines() == summary


def test_leading_signals_reach_half_of_the_error():
    names = ("a", "b", "c")
    assert leading_signals(np.array([1.0, 6.0, 3.0]), names) == "b:0.60"
    assert leading_signals(np.array([3.0, 4.0, 3.0]), names) == "b:0.40;a:0.30"


def test_report_draws_the_chosen_model(scored_smoke, tmp_path):
    second = best(scored_smoke, n=2)[1]
    paths = report(scored_smoke, tmp_path / "figures", model=second.name)
    written = {p.name for p in paths}
    assert set(NEW_FIGURES) | {"learning_curves.png"} <= written


def test_an_older_study_database_gets_the_new_tables(study_copy, capsys):
    with sqlite3.connect(study_copy / "study.db") as db:
        for table in ("vae_signal_scores", "vae_latent_checks", "vae_baselines", "vae_thresholds"):
            db.execute(f"DROP TABLE {table}")
    assert main(["best", "--study", str(study_copy)]) == 0
    out = capsys.readouterr().out
    assert "baseline" not in out.split("\n\n")[0] and "?" in out.splitlines()[1]


def test_the_scores_study_marks_baselines_and_collapse(scored_smoke):
    import optuna

    from search.evaluation.scores_study import SCORES_STUDY

    study = optuna.load_study(
        study_name=SCORES_STUDY, storage=open_study(locate(scored_smoke)).storage
    )
    for b in BASELINES:
        attrs = study.user_attrs[b.name]
        assert attrs["baseline"] == b.kind and 0 <= attrs["test_baseline_ap"] <= 1
    for trial in study.get_trials(deepcopy=False):
        assert trial.user_attrs["collapsed"] == (trial.user_attrs["active_dims"] == 0)
