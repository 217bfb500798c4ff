"""The main study ranks detectors: its value is the validation PR-AUC ``best`` ranks by.

The scored smoke study of the session is read, never changed; a study of the previous
release (minimizing validation loss) is made by launching one and setting its direction as
that release recorded it.
"""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess

import optuna
import pytest
from optuna_dashboard import get_note

from search import best, launch, status
from search.evaluation.scores_study import SCORES_STUDY
from search.execution.job import TrialJob, TrialOutcome, TrialStatus
from search.execution.ledger import (
    CLAIMANT,
    CONFIG,
    DESCRIPTION,
    INTERRUPTED,
    REASON,
    Ledger,
    _claimants_gone,
    _this_machine,
    state_counts,
)
from search.execution.run import RunReport
from search.execution.trial import run_job
from studies.storage import locate, open_study
from tests.conftest import SMOKE


def _ledger(study) -> Ledger:
    return Ledger(open_study(locate(study)))


def test_the_main_study_maximizes_and_its_best_trial_is_best_s_first(scored_smoke):
    ledger = _ledger(scored_smoke)
    main = ledger.study
    assert main.direction.name == "MAXIMIZE" and main.metric_names == ["val_latent_ap"]
    ranked = best(scored_smoke, n=None)
    assert main.best_trial.user_attrs["model_name"] == ranked[0].name
    by_name = {r.name: r.val for r in ranked}
    for trial in ledger.trials("COMPLETE"):  # the monitor's value is the scoring stage's
        assert trial.value == pytest.approx(by_name[trial.user_attrs["model_name"]], abs=1e-6)
        assert trial.user_attrs["val_loss"] > 0 and trial.intermediate_values
    first = main.best_trial
    line = f"best validation latent PR-AUC: {first.value:.5g} (trial {first.number}, "
    assert any(text.startswith(line) for text in status(scored_smoke).lines())


def test_each_study_says_what_it_is_with_the_ranking_and_baselines(scored_smoke):
    storage = open_study(locate(scored_smoke)).storage
    main = _ledger(scored_smoke).study
    scores = optuna.load_study(study_name=SCORES_STUDY, storage=storage)
    first = best(scored_smoke, n=1)[0]
    for study in (main, scores):
        note = get_note(study)
        assert note.startswith(study.user_attrs[DESCRIPTION])
        assert f"| 1 | {first.name} | {first.val:.3f}" in note
        assert "## Baselines" in note and "| baseline-" in note
    assert "seeds" in scores.user_attrs[DESCRIPTION]


def test_a_study_of_the_previous_release_runs_on_minimizing_validation_loss(tmp_path):
    study = tmp_path / "s"
    launch(study, SMOKE, trials=2)
    with sqlite3.connect(study / "study.db") as db:  # as the previous release created it
        db.execute("UPDATE study_directions SET direction = 'MINIMIZE'")
    ledger = _ledger(study)
    for outcome in (_outcome("m0", 0.7, 0.4), _outcome("m1", 0.5, 0.2)):
        assert ledger.record_result(ledger.claim_next("r"), outcome)
    assert [t.value for t in ledger.trials("COMPLETE")] == [0.7, 0.5]
    assert ledger.study.best_trial.number == 1
    assert "best validation loss: 0.5 (trial 1, m1)" in status(study).lines()


def test_a_new_study_records_the_pr_auc_and_an_undefined_one_ranks_last(tmp_path):
    study = tmp_path / "s"
    launch(study, SMOKE, trials=2)
    ledger = _ledger(study)
    for outcome in (_outcome("m0", 0.7, 0.4), _outcome("m1", 0.5, math.nan)):
        assert ledger.record_result(ledger.claim_next("r"), outcome)
    assert [t.value for t in ledger.trials("COMPLETE")] == [0.4, -math.inf]
    assert ledger.study.best_trial.number == 0


def _outcome(name: str, val_loss: float, ap: float) -> TrialOutcome:
    """A completed training's outcome as its job reports it (no model saved: none is read)."""
    summary = {"val_loss": val_loss, "val_latent_ap": ap, "epochs_trained": 1}
    return TrialOutcome(TrialStatus.COMPLETED, None, summary, 1.0, name, f"models/{name}")


@pytest.mark.parametrize("score_every", [0, 2])
def test_a_training_s_value_exists_and_its_log_has_no_nan(
    trained_smoke, tmp_path, capsys, score_every
):
    """score_every 0: no epoch scored, the kept weights are; 2 of 1 epoch: the epoch is not
    scored, and its log line leaves the score out instead of printing nan."""
    (trial, *_) = _ledger(trained_smoke).trials("COMPLETE")
    job = TrialJob(
        plan_index=0,
        config=trial.user_attrs[CONFIG],
        prepared=str(open_study(locate(trained_smoke)).prepared_file()),
        models_dir=str(tmp_path),
        threads=1,
        worker_pid=0,
        score_every=score_every,
    )
    outcome = run_job(job, tmp_path / "epochs.jsonl")
    assert outcome.completed and math.isfinite(outcome.summary["val_latent_ap"])
    (epoch_line,) = [line for line in capsys.readouterr().out.splitlines() if "Epoch 1/1" in line]
    assert "nan" not in epoch_line and "val_loss: " in epoch_line


def test_interrupted_attempts_are_counted_and_said_as_such():
    from optuna.trial import TrialState, create_trial

    stopped = {REASON: "interrupted: SIGTERM; planned again", INTERRUPTED: True}
    trials = [
        create_trial(state=TrialState.FAIL, user_attrs=stopped),
        create_trial(state=TrialState.FAIL, user_attrs={REASON: "nan", "training_failed": True}),
        create_trial(state=TrialState.COMPLETE, value=0.5),
    ]
    counts = state_counts(trials)
    assert counts == {"INTERRUPTED": 1, "FAIL": 1, "COMPLETE": 1}
    line = RunReport((), counts).lines()[0]
    assert line.endswith("study: complete 1, fail 1, interrupted 1")


def test_a_claimant_is_named_readably_and_known_gone_in_either_form(trained_smoke):
    trial = _ledger(trained_smoke).trials("COMPLETE")[0]
    (key, value) = next((k, v) for k, v in trial.user_attrs.items() if k.startswith(CLAIMANT))
    assert key.startswith(f"{CLAIMANT}") and " pid " in key and "pid:[" not in key
    assert value.startswith(_this_machine())
    # its claimant is the process that ran the run (its workers are threads): one of this
    # session's, still running; a process that has ended is known gone
    assert not _claimants_gone(trial.user_attrs)
    ended = subprocess.Popen(["true"])
    ended.wait()
    assert _claimants_gone({key: f"{value.rpartition(' ')[0]} {ended.pid}"})
    older = {f"{CLAIMANT}{_this_machine()} {ended.pid}": "host pid 1"}  # an earlier release's
    assert _claimants_gone(older)
    assert not _claimants_gone({f"{CLAIMANT}{_this_machine()} {os.getpid()}": "host pid 1"})
