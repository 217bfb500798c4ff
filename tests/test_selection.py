"""The best of N trainings chosen on validation, against the best baseline."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from search.evaluation.selection import BAND, best_of_n, compare_with_baseline

VAL = [0.30, 0.10, 0.25, 0.40]
TEST = [0.20, 0.35, 0.05, 0.28]


def test_the_best_of_n_is_what_every_draw_of_n_trainings_chooses_on_average():
    """Exact against every one of the n**N draws with replacement (n = 4, N = 1..4): the mean
    test score of the validation-chosen training, its band's percentiles and the share of
    draws in which it beats the baseline."""
    curve = best_of_n(VAL, TEST, baseline=0.25)
    assert [point.n for point in curve] == [1, 2, 3, 4]
    for point in curve:
        draws = itertools.product(range(len(VAL)), repeat=point.n)
        chosen = np.array([TEST[max(d, key=lambda i: VAL[i])] for d in draws])
        assert point.expected == pytest.approx(chosen.mean())
        assert point.beats == pytest.approx(np.mean(chosen > 0.25))
        low, high = np.percentile(chosen, BAND, method="inverted_cdf")
        assert (point.low, point.high) == (low, high)
    assert curve[0].expected == pytest.approx(np.mean(TEST))  # one training: any of them
    assert best_of_n(VAL, TEST)[0].beats is None  # no baseline, no comparison


def test_val_and_test_must_pair_up():
    with pytest.raises(ValueError, match="val and test must be two lists of one length"):
        best_of_n([0.1, 0.2], [0.3])


def test_a_scored_study_compares_its_trainings_with_its_best_baseline(scored_smoke, capsys):
    """Three trainings and the baselines of a scored study: the curve for N = 1..3, and the
    chosen model's paired difference from the baseline over the shared cut resamples (the
    baselines keep their resample values as models do); `best` prints it in one line."""
    from search.cli import main

    comparison = compare_with_baseline(scored_smoke)
    assert comparison.trainings == 3 and len(comparison.curve) == 3
    assert comparison.baseline.startswith("baseline-")
    assert comparison.difference == pytest.approx(compare_with_baseline(scored_smoke).difference)
    assert comparison.difference_low <= comparison.difference <= comparison.difference_high
    assert main(["best", "--study", str(scored_smoke)]) == 0
    out = capsys.readouterr().out
    assert "best of 3 training(s) chosen on validation, latent ap on test: expected" in out
    assert f"{comparison.baseline} {comparison.baseline_test:.3f}" in out
