"""Issue 24: the seed is part of the search. Seeds per configuration, the training's own
validation PR-AUC, rankings by configuration with intervals over seeds and cuts, the seed's
share of the variance, racing, ensembles."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys

import numpy as np
import optuna
import pytest

from search import (
    best,
    best_configurations,
    ensemble,
    format_configurations,
    launch,
    missing_models,
    predict,
    report,
    run,
    score,
    status,
)
from search.evaluation.configurations import icc1, seed_share, two_level_interval
from search.evaluation.scores_study import SCORES_STUDY
from search.execution.job import TrialOutcome, TrialStatus, read_epochs
from search.execution.ledger import SEED_NUMBER, Entry, Ledger
from search.execution.racing import decide, race, raced_out, seed_sd
from search.space.spec import SpecError, read_spec
from studies.storage import locate, open_study
from tests.conftest import MILL_SIX, SMOKE
from vae.ensemble import normalise
from vae.naming import parse_name


def _spec(tmp_path, study_table: str, trials: int = 2):
    text = SMOKE.read_text().replace("epochs = 3", "epochs = 1")
    text = text.replace("trials = 3\n", f"trials = {trials}\n{study_table}\n")
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """Two smoke configurations x two seeds of one epoch, each scoring its validation
    windows every epoch, trained by two workers and scored."""
    root = tmp_path_factory.mktemp("seeded")
    study = root / "study"
    launch(study, _spec(root, "seeds = 2\nscore_every = 1"))
    assert run(study, workers=2, progress=False).counts == {"COMPLETE": 4}
    assert score(study, repeats=1, bootstrap=200).scored == 4
    return study


def test_every_configuration_trains_with_each_seed_under_its_own_name(seeded):
    names = [p.name for p in (seeded / "models").iterdir() if not p.name.startswith(".")]
    parsed = sorted((parse_name(n).trial, parse_name(n).seed_number) for n in names)
    assert parsed == [(0, 0), (0, 1), (1, 0), (1, 1)]
    seeds = {}
    for name in names:
        manifest = json.loads((seeded / "models" / name / "manifest.json").read_text())
        seeds[(manifest["trial"], manifest["seed_number"])] = manifest["hyperparameters"]["seed"]
    assert len(set(seeds.values())) == 4  # each training its own seed
    lines = status(seeded).lines()
    assert lines[0].startswith("2 configurations, 4 trainings; 4 planned: 4 complete")


def test_a_launch_with_more_seeds_adds_only_the_new_ones(tmp_path):
    spec = _spec(tmp_path, "seeds = 2")
    first = launch(tmp_path / "s", spec)
    assert (first.planned, first.added, first.seeds) == (2, 4, 2)
    more = launch(tmp_path / "s", spec, seeds=3)
    assert (more.added, more.seeds) == (2, 3)
    assert launch(tmp_path / "s", spec).added == 0  # fewer seeds never remove any
    ledger = Ledger(open_study(locate(tmp_path / "s")))
    waiting = ledger.trials("WAITING")
    entries = sorted(
        (t.user_attrs["plan_index"], t.user_attrs.get(SEED_NUMBER, 0)) for t in waiting
    )
    assert entries == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert str(Entry(1, 2)) == "1 seed 2" and str(Entry(1, 0)) == "1"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("seeds = 0", "[study] seeds must be >= 1, got 0"),
        ("racing = 'yes'", "[study] racing must be bool, got 'yes'"),
        ("racing = true\nscore_every = 0", "racing needs the trainings' scores"),
        ("score_every = -1", "[study] score_every must be >= 0, got -1"),
    ],
)
def test_bad_seed_settings_are_refused_naming_the_key(tmp_path, table, message):
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_spec(_spec(tmp_path, table))


def test_trainings_record_the_scoring_stages_validation_pr_auc(seeded):
    ranked = {r.name: r for r in best(seeded, n=None)}
    ledger = Ledger(open_study(locate(seeded)))
    for trial in ledger.trials("COMPLETE"):
        recorded = trial.user_attrs["val_latent_ap"]
        assert recorded == pytest.approx(ranked[trial.user_attrs["model_name"]].val, abs=1e-6)
        assert trial.user_attrs["val_latent_ap_by_epoch"] == [pytest.approx(recorded)]
        assert trial.user_attrs["best_ap_epoch"] == 1
    records, _ = read_epochs(next((seeded / "logs").glob("*.epochs.jsonl")))
    assert {"val_latent_ap", "val_input_mean_ap"} <= set(records[0].logs)
    log = next((seeded / "logs").glob("*.log")).read_text()
    assert "val_latent_ap: " in log


def test_configurations_rank_by_their_seeds_mean_with_an_interval_over_seeds_and_cuts(seeded):
    configurations = best_configurations(seeded)
    assert [c.seeds for c in configurations] == [2, 2]
    first = configurations[0]
    values = [m.val for m in first.models]
    assert first.val.mean == pytest.approx(np.mean(values))
    assert first.val.sd == pytest.approx(np.std(values, ddof=1))
    assert (first.val.low_seed, first.val.high_seed) == (min(values), max(values))
    assert first.val.low <= first.val.mean <= first.val.high
    assert configurations[0].val.mean >= configurations[1].val.mean
    table = format_configurations(configurations, "table", "latent ap")
    assert "mean±SD over seeds" in table and first.models[0].name in table
    records = json.loads(format_configurations(configurations, "json", "latent ap"))
    assert records[0]["val_sd"] == pytest.approx(first.val.sd)


def test_the_scores_study_holds_one_trial_per_configuration_valued_at_its_mean(seeded):
    storage = open_study(locate(seeded)).storage
    trials = optuna.load_study(study_name=SCORES_STUDY, storage=storage).get_trials()
    means = sorted(c.val.mean for c in best_configurations(seeded))
    assert sorted(t.value for t in trials) == pytest.approx(means)
    assert all(t.user_attrs["seeds"] == 2 and len(t.user_attrs["models"]) == 2 for t in trials)
    assert all(set(t.intermediate_values) == {1} for t in trials)  # the seeds' mean curve


def test_best_prints_the_seeds_share_and_each_models_distance_from_its_mean(seeded):
    out = _cli("best", "--study", str(seeded))
    assert "vs its config (seeds)" in out
    assert "seed's share, val: " in out and "between seeds of one configuration" in out
    by_configuration = _cli("best", "--study", str(seeded), "--by", "configuration")
    assert "mean±SD over seeds" in by_configuration


def _cli(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "search.cli", *args], capture_output=True, text=True, check=True
    )
    return result.stdout


def test_icc_is_the_between_share_of_balanced_groups():
    rng = np.random.default_rng(0)
    means = rng.normal(0, 2.0, 400)  # between-configuration SD 2, seed SD 1: ICC 0.8
    groups = [m + rng.normal(0, 1.0, 3) for m in means]
    assert icc1(groups) == pytest.approx(0.8, abs=0.05)
    assert icc1([np.array([1.0, 2.0]), np.array([1.0, 2.0])]) == 0.0


def test_one_seed_per_configuration_says_the_share_cannot_be_measured(scored_smoke):
    share = seed_share(best_configurations(scored_smoke), "val")
    assert share.between_configurations is None
    assert "cannot be measured with one seed per configuration" in share.line()


def test_one_configuration_of_many_seeds_says_the_share_needs_more_configurations():
    from types import SimpleNamespace

    seeds = [SimpleNamespace(val=v) for v in (0.2, 0.25, 0.3)]
    share = seed_share([SimpleNamespace(models=seeds)], "val")
    assert (share.between_configurations, share.configurations) == (None, 1)
    assert "cannot be measured with one configuration" in share.line()
    assert "one seed per configuration" not in share.line()


def test_the_two_level_interval_of_one_seed_is_its_cut_interval():
    replicates = np.random.default_rng(1).uniform(0, 1, (1, 1000))
    low, high = two_level_interval(replicates)
    assert (low, high) == pytest.approx(tuple(np.percentile(replicates[0], [2.5, 97.5])))
    spread = two_level_interval(np.vstack([replicates, replicates + 0.5]))
    assert spread[1] - spread[0] > high - low  # the seeds widen it


def test_racing_stops_a_configuration_that_trails_by_more_than_its_margin():
    scores = {0: [0.40, 0.42], 1: [0.10], 2: [0.39]}
    assert decide(0, scores, seeds=3).goes_on
    assert decide(2, scores, seeds=3).goes_on  # within a standard error of the leader
    stopped = decide(1, scores, seeds=3)
    assert not stopped.goes_on and "below plan entry 0's" in stopped.reason
    assert not decide(0, {0: [0.4, 0.4, 0.4]}, seeds=3).reason  # all seeds done: no verdict
    # the seed's SD pools the configurations' own variances; a diverged seed (NaN) adds none
    assert seed_sd({0: [0.1, 0.3], 1: [math.nan], 2: [0.5, 0.7]}) == pytest.approx(0.02**0.5)


def test_race_plans_next_seeds_in_the_study_and_records_why_it_stopped(tmp_path):
    spec = _spec(tmp_path, "seeds = 3\nracing = true", trials=3)
    assert launch(tmp_path / "s", spec).added == 3  # first seeds only
    ledger = Ledger(open_study(locate(tmp_path / "s")))
    for value in (0.9, 0.85, 0.1):  # each plan entry finishes its first seed
        claimed = ledger.claim_next("run")
        outcome = TrialOutcome(
            TrialStatus.COMPLETED,
            summary={"val_loss": 1.0, "val_latent_ap": value},
            model_name=f"m{claimed.plan_index}",
            model_path=f"models/m{claimed.plan_index}",
        )
        assert ledger.record_result(claimed, outcome)
    # a spread of 0.448 over the trainings: a margin of 0.634 after one seed; entry 2 trails
    # entry 0 by 0.8, entry 1 by 0.05
    assert race(ledger) == 2
    waiting = ledger.trials("WAITING")
    planned = sorted((t.user_attrs["plan_index"], t.user_attrs[SEED_NUMBER]) for t in waiting)
    assert planned == [(0, 1), (1, 1)]
    stopped = raced_out(ledger.study.user_attrs)
    assert list(stopped) == [2] and "below plan entry 0's 0.900" in stopped[2]
    assert race(ledger) == 0  # decisions are taken once
    assert "1 stopped by the race" in status(tmp_path / "s").lines()[0]


def test_a_racing_study_starts_the_workers_asked_for_however_few_trials_wait(tmp_path):
    """Seeds are planned as trials end: one waiting trial is no measure of the work to come
    in a racing study; in any other, one trial waiting starts one worker."""
    from search.execution.run import Capacity, _workers_to_start

    two = min(2, Capacity.here(None).workers)
    for study_table, started in (("seeds = 3\nracing = true", two), ("seeds = 1", 1)):
        study = tmp_path / str(started)
        launch(study, _spec(tmp_path, study_table, trials=1))
        ledger = Ledger(open_study(locate(study)))
        assert ledger.waiting() == 1
        assert _workers_to_start(2, False, ledger) == started


def test_an_ensemble_is_scored_ranked_as_one_entry_and_predicts(seeded, tmp_path, two_cut_labels):
    study = tmp_path / "study"
    shutil.copytree(seeded, study)
    result = ensemble(study, top=2, repeats=1, bootstrap=200)
    assert len(result.members) == 2 and result.scoring.scored == 1
    ranked = best(study, n=None)
    entry = next(r for r in ranked if r.name == result.name)
    assert entry.config["ensemble"] == list(result.members)
    assert entry.val_low is not None and entry.test is not None
    configurations = best_configurations(study, n=None)
    assert sum(c.seeds == 1 for c in configurations) == 1  # the ensemble stands alone
    prediction = predict(result.path, MILL_SIX, two_cut_labels)
    assert len(prediction.scores) > 0 and math.isfinite(prediction.threshold)
    shutil.rmtree(study / "models" / result.members[1])  # a member deleted: the ensemble
    assert result.name not in {r.name for r in best(study, n=None)}  # cannot load, so
    assert result.name in dict(missing_models(study))  # it is named, not ranked
    assert report(study, tmp_path / "report")  # and the figures show a model that loads


def test_an_ensemble_needs_two_members(scored_smoke, tmp_path):
    from data_prep.errors import ParameterError

    with pytest.raises(ParameterError, match="top"):
        ensemble(scored_smoke, top=1)


def test_normalising_keeps_order_everywhere():
    reference = np.array([1.0, 2.0, 3.0, 4.0])
    scores = np.array([-5.0, 0.5, 1.0, 2.5, 4.0, 9.0, 20.0])
    normalised = normalise(scores, reference)
    assert np.all(np.diff(normalised) > 0)
    assert normalised[2] == pytest.approx(0.125) and normalised[4] == pytest.approx(0.875)
