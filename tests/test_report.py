"""The report on a real scored study (two tiny smoke models, one epoch, bootstrap intervals),
and the pure pieces its new figures draw from: the forest plot's rows and the cut-level scores.

The study is trained and scored once for the module; the reports write into their own
directories, so the tests do not depend on each other.
"""

from __future__ import annotations

import numpy as np
import pytest

from data_prep.prepared import load_prepared
from search import best, report
from search.outputs.report import SplitScores, cut_level_scores, forest_rows
from studies.results import mark_ties
from studies.storage import locate, open_study
from tests.conftest import ranked_model
from vae.metrics import average_precision
from vae.scores import window_scores
from vae.storage import load_model

PNG = b"\x89PNG\r\n\x1a\n"
FIGURES = sorted(
    [
        "best_of_n.png",
        "cut_pr_curve.png",
        "cut_scores_vs_vb.png",
        "latent_means.png",
        "learning_curves.png",
        "pr_roc_curves.png",
        "prauc_vs_hyperparameters.png",
        "reconstructions.png",
        "score_distributions.png",
        "signal_heatmap.png",
        "test_prauc_by_condition.png",
        "top_models_forest.png",
    ]
)


@pytest.fixture
def scored_study(scored_smoke):
    return scored_smoke  # the report only reads it


@pytest.mark.parametrize("unit", ["window", "cut"])
def test_report_writes_every_figure_as_a_png(scored_study, tmp_path, unit):
    out = tmp_path / "figures"
    paths = report(scored_study, out, unit=unit)
    assert sorted(p.name for p in paths) == FIGURES
    assert sorted(p.name for p in out.iterdir()) == FIGURES  # no temporary file left
    for path in paths:
        assert path.read_bytes()[:8] == PNG and path.stat().st_size > 10_000, path.name
    # one seed per configuration, and three configurations, too few for PED-ANOVA: no blank
    # figure, and the reason instead
    assert sorted(paths.skipped) == ["importance.png", "seed_share.png"]
    assert "one seed per configuration" in paths.skipped["seed_share.png"]
    assert paths.skipped["importance.png"]


def test_report_says_which_figures_it_left_out_and_why(scored_study, tmp_path, capsys):
    from search.cli import main

    assert main(["report", "--study", str(scored_study), "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "left out seed_share.png: the seed's share cannot be measured with one seed" in out
    assert "left out importance.png: " in out


def test_each_figure_asks_its_question_and_names_what_it_shows():
    """The figures as report draws them, before they are written: each title's first line
    is the figure's question, its second the model (or the models) it shows."""
    import matplotlib.pyplot as plt

    from search.outputs.report import OF_MODELS, QUESTIONS, _titled

    figure = plt.figure()
    figure.suptitle("model: M")
    assert _titled(figure, QUESTIONS["latent_means.png"], "x").get_suptitle() == (
        f"{QUESTIONS['latent_means.png']}\nmodel: M"
    )
    assert _titled(plt.figure(), "Q?", "3 models").get_suptitle() == "Q?\n3 models"
    assert set(OF_MODELS) <= set(QUESTIONS)
    assert all(q.endswith("?") for q in QUESTIONS.values())
    plt.close("all")


def test_the_scored_study_has_intervals_for_the_forest_to_draw(scored_study):
    rows = forest_rows(best(scored_study, n=None))
    assert [r.label.rstrip("=") for r in rows] == ["1", "2", "3"]
    for row in rows:
        for value, (low, high) in ((row.val, row.val_interval), (row.test, row.test_interval)):
            assert 0 <= low <= high <= 1 and 0 <= value <= 1


def test_the_cut_curve_scores_the_best_model_as_the_cut_level_ranking_does(scored_study):
    first = best(scored_study, n=1, space="latent", metric="ap", unit="cut")[0]
    location = locate(scored_study)
    X, y, cut_no = load_prepared(open_study(location).prepared_file()).split("val")
    latent = window_scores(load_model(location.model_path(first.path)), X, 0, seed=0).latent
    split = SplitScores(y == 2, y, cut_no, {"latent": latent})
    abnormal, scores = cut_level_scores(split, "latent")
    assert len(scores) == len(np.unique(cut_no)) and 0 < abnormal.sum() < len(abnormal)
    assert average_precision(abnormal, scores) == pytest.approx(first.val, rel=1e-6)


def test_forest_rows_mark_the_models_tied_with_the_first():
    rows = forest_rows(
        mark_ties(
            [
                ranked_model(1, 0.9, (0.8, 0.95), test=0.5),
                ranked_model(2, 0.85, (0.78, 0.9), test=0.5),  # reaches past 0.8: tied
                ranked_model(3, 0.6, (0.5, 0.7), test=0.5),
                ranked_model(4, 0.55, (0.4, 0.81), test=0.5),  # wide enough to reach 0.8: tied too
            ]
        )
    )
    assert [r.label for r in rows] == ["1", "2=", "3", "4="]
    assert rows[1].val == 0.85 and rows[1].val_interval == (0.78, 0.9)
    assert rows[0].test_interval == pytest.approx((0.4, 0.6))


def test_forest_rows_without_the_bootstrap_are_points_and_stop_at_n():
    rows = forest_rows(mark_ties([ranked_model(i, 1 - i / 100, None) for i in range(1, 31)]), n=20)
    assert len(rows) == 20 and [r.label for r in rows[:3]] == ["1", "2", "3"]
    assert all(r.val_interval is None and r.test_interval is None for r in rows)
    assert np.isnan(rows[0].test)


def test_cut_level_scores_are_each_cuts_mean_and_label():
    split = SplitScores(
        abnormal=np.array([False, False, True, True, True, False]),
        y=np.array([0, 0, 2, 2, 2, 1]),
        cut_no=np.array([7, 7, 3, 3, 3, 5]),
        scores={"latent": np.array([1.0, 3.0, 10.0, 20.0, 60.0, 0.5])},
    )
    abnormal, scores = cut_level_scores(split, "latent")
    np.testing.assert_array_equal(abnormal, [True, False, False])  # cuts 3, 5, 7
    np.testing.assert_allclose(scores, [30.0, 0.5, 2.0])
    assert abnormal.dtype == bool


def test_chance_is_the_share_of_abnormal_units_or_a_half_for_roc():
    from search.outputs.report import SPACES, _chance

    space = next(iter(SPACES))
    split = SplitScores(
        abnormal=np.array([False, True, True, True, True, False]),
        y=np.array([0, 2, 2, 2, 2, 1]),
        cut_no=np.array([7, 3, 3, 3, 3, 5]),
        scores={space: np.zeros(6)},
    )
    splits = {"val": split, "test": split}
    assert _chance(splits, "ap", "window") == {"val": 4 / 6, "test": 4 / 6}
    assert _chance(splits, "ap", "cut") == {"val": 1 / 3, "test": 1 / 3}
    assert _chance(splits, "roc", "cut") == {"val": 0.5, "test": 0.5}


def test_forest_rows_are_named_by_what_sets_their_models_apart():
    from search.outputs.report import _distinct

    names = [
        "TBVAE-20261207-071425_t=5_b=5.18_c=6_tcn=hahn2021_eps=3",
        "TBVAE-20261207-070857_t=1_b=6.11_c=6_tcn=hahn2021_eps=3",
        "ENSEMBLE-20261207-080000_k=3_seeds-of-t=5",
    ]
    assert _distinct(names[:2]) == ["t=5 b=5.18", "t=1 b=6.11"]
    assert _distinct(names)[2] == "k=3 seeds-of-t=5"
