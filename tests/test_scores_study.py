"""The scores study: each scored model as a trial of ``vae-search-scores``, in step with scoring.

One small study (three tiny smoke models, one epoch) is trained and scored once for the module;
the tests that rescore leave it scored as the fixture did.
"""

from __future__ import annotations

import io
import json
import shutil
from wsgiref.util import setup_testing_defaults

import pytest
from optuna.distributions import CategoricalDistribution, IntDistribution

import search.evaluation.stage
from search import best, run, score
from search.cli import main
from search.evaluation.names import score_name
from search.evaluation.scores_study import SCORES_STUDY, score_attrs, split_params
from search.evaluation.scoring import SCORER_VERSION
from search.execution.ledger import Ledger
from search.space.spec import read_spec
from studies.results import CUT, WINDOW, Score
from studies.storage import STUDY_NAME, locate, open_study
from tests.test_run import SMOKE


@pytest.fixture(scope="module")
def scored_study(trained_smoke, scored_smoke, tmp_path_factory):
    """The study, and the study names its storage held before scoring."""
    before = _study_names(trained_smoke)  # the same study, before scoring
    study = tmp_path_factory.mktemp("scores_study") / "study"
    shutil.copytree(scored_smoke, study)
    return study, before


def _opened(study):
    return open_study(locate(study))


def _study_names(study) -> list[str]:
    import optuna

    return [s.study_name for s in optuna.get_all_study_summaries(_opened(study).storage)]


def _scores_study(study):
    import optuna

    return optuna.load_study(study_name=SCORES_STUDY, storage=_opened(study).storage)


def _assert_in_step(study, scorer_version: int = SCORER_VERSION) -> None:
    """One trial per ranked model: its validation score as value, its main trial's params."""
    scores = _scores_study(study)
    assert scores.user_attrs["scorer_version"] == scorer_version
    trials = scores.get_trials(deepcopy=False)
    ranked = {r.name: r for r in best(study, n=None)}
    assert sorted(t.user_attrs["model_name"] for t in trials) == sorted(ranked)
    main_trials = Ledger(_opened(study)).trials("COMPLETE")
    main_params = {t.user_attrs["model_name"]: t.params for t in main_trials}
    for trial in trials:
        name = trial.user_attrs["model_name"]
        assert trial.state.name == "COMPLETE"
        assert trial.value == pytest.approx(ranked[name].val)
        # stored relative to the study (a copied study keeps it); best gives it absolute
        assert str((study / trial.user_attrs["model_path"]).resolve()) == ranked[name].path
        assert trial.params == main_params[name] and trial.params


def test_no_scores_study_before_scoring_then_one_of_maximized_scores(scored_study):
    study, before = scored_study
    assert before == [STUDY_NAME]
    assert _study_names(study) == [STUDY_NAME, SCORES_STUDY]
    scores = _scores_study(study)
    assert scores.direction.name == "MAXIMIZE" and scores.metric_names == ["val_latent_ap"]
    assert scores.user_attrs["abnormal"] == [2]
    _assert_in_step(study)


def test_each_trial_holds_test_scores_and_every_interval(scored_study):
    study, _ = scored_study
    ranked = {r.name: r for r in best(study, n=None)}
    for trial in _scores_study(study).get_trials(deepcopy=False):
        attrs, r = trial.user_attrs, ranked[trial.user_attrs["model_name"]]
        assert attrs["test_latent_ap"] == pytest.approx(r.test)
        assert (attrs["val_latent_ap_low"], attrs["val_latent_ap_high"]) == pytest.approx(
            (r.val_low, r.val_high)
        )
        for split in ("val", "test"):
            for space in ("input", "input_mean", "latent"):
                assert f"{split}_{space}_cut_roc_high" in attrs
                assert f"{split}_{space}_paper_low" in attrs
            assert f"{split}_input_mean_roc" in attrs  # (std: none of one draw)
        assert not any(name.startswith("train_") for name in attrs)
        assert attrs["val_loss"] > 0 and attrs["trial_number"] in range(3)


def test_rescoring_replaces_the_trials(scored_study, monkeypatch):
    study, _ = scored_study
    monkeypatch.setattr(search.evaluation.stage, "SCORER_VERSION", SCORER_VERSION + 1)
    assert score(study, repeats=1, bootstrap=0).scored == 3
    assert len(_scores_study(study).get_trials(deepcopy=False)) == 3
    assert _scores_study(study).user_attrs["scorer_version"] == SCORER_VERSION + 1
    monkeypatch.undo()
    report = score(study, repeats=1, bootstrap=0)  # nothing new, but it showed another scoring
    assert (report.scored, report.current) == (0, 3)
    _assert_in_step(study)
    assert _study_names(study) == [STUDY_NAME, SCORES_STUDY]


def test_the_main_study_is_still_found_and_served_beside_it(scored_study, capsys):
    study, _ = scored_study
    assert main(["status", "--study", str(study)]) == 0
    assert "3 planned: 3 complete" in capsys.readouterr().out
    assert run(study, workers=1, progress=False).counts == {"COMPLETE": 3}
    summaries = _dashboard_get(study, "/api/studies")["study_summaries"]
    assert [s["study_name"] for s in summaries] == [STUDY_NAME, SCORES_STUDY]
    detail = _dashboard_get(study, f"/api/studies/{summaries[1]['study_id']}")
    assert len(detail["trials"]) == 3
    assert {p["name"] for p in detail["intersection_search_space"]} == set(read_spec(SMOKE).space)


def _dashboard_get(study, path: str) -> dict:
    """A GET of optuna-dashboard's API, straight through its WSGI application."""
    from optuna_dashboard import wsgi

    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "wsgi.errors": io.StringIO()}
    setup_testing_defaults(environ)
    statuses = []
    body = b"".join(
        wsgi(_opened(study).storage)(environ, lambda status, headers, *_: statuses.append(status))
    )
    assert statuses == ["200 OK"], environ["wsgi.errors"].getvalue()
    return json.loads(body)


def test_a_value_outside_its_distribution_stays_a_user_attribute():
    distributions = {
        "conv_layers": CategoricalDistribution([1, 2]),
        "dilations": CategoricalDistribution(["1,2", "1,2,4"]),
        "codings_size": IntDistribution(3, 7),
    }
    config = {"conv_layers": 3, "dilations": [1, 2], "codings_size": 10, "seed": 5}
    params, outside = split_params(config, distributions)
    assert params == {"dilations": "1,2"}
    assert outside == {"conv_layers": 3, "codings_size": 10}


def test_score_attributes_are_named_as_the_export_columns():
    scores = [
        Score("val", "latent", "ap", 0.9, None, WINDOW, 0.8, 1.0),
        Score("test", "input", "roc", 0.7, 0.01, CUT, None, None),
        Score("train", "latent", "ap", 0.5),
    ]
    assert score_attrs(scores) == {
        "val_latent_ap": 0.9,
        "val_latent_ap_low": 0.8,
        "val_latent_ap_high": 1.0,
        "test_input_cut_roc": 0.7,
        "test_input_cut_roc_std": 0.01,
    }
    assert score_name("val", "input", CUT, "ap") == "val_input_cut_ap"
