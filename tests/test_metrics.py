"""The scoring metrics against values computed by hand, and the paper metric against the
reference's own loop (benchmarks/reference_scoring.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.reference_scoring import reference_pr_auc
from vae.metrics import (
    average_precision,
    max_f1_threshold,
    paper_curve,
    paper_pr_auc,
    paper_thresholds,
    roc_auc,
)

SCORES = np.array([0.1, 0.4, 0.35, 0.8])
ABNORMAL = np.array([False, False, True, True])


def test_average_precision_by_hand():
    # ranked: 0.8 (abnormal) P=1 R=1/2; 0.4 (normal); 0.35 (abnormal) P=2/3 R=1
    assert average_precision(ABNORMAL, SCORES) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_roc_auc_by_hand():
    # of the 4 (abnormal, normal) pairs, 3 are ranked right: 0.8>0.1, 0.8>0.4, 0.35>0.1
    assert roc_auc(ABNORMAL, SCORES) == pytest.approx(3 / 4)


def test_paper_pr_auc_by_hand():
    # grid of 4 from 0.1 by 0.175: 0.1, 0.275, 0.45, 0.625
    thresholds, precisions, recalls = paper_curve(ABNORMAL, SCORES, grid=4)
    np.testing.assert_allclose(thresholds, [0.1, 0.275, 0.45, 0.625])
    np.testing.assert_allclose(precisions, [1 / 2, 2 / 3, 1, 1])
    np.testing.assert_allclose(recalls, [1, 1, 1 / 2, 1 / 2])
    # trapezoids over recall: 1->1: 0; 1->1/2: 1/2 * (2/3 + 1) / 2; 1/2->1/2: 0
    assert paper_pr_auc(ABNORMAL, SCORES, grid=4) == pytest.approx(5 / 12)


def test_max_f1_threshold_by_hand():
    # flag >= 0.35: P=2/3, R=1, F1=0.8, the best (>= 0.8: 0.67; >= 0.4: 0.5; >= 0.1: 0.67)
    assert max_f1_threshold(ABNORMAL, SCORES) == pytest.approx(0.35)


def _classes(abnormal: np.ndarray) -> np.ndarray:
    """Class numbers as the reference takes them: failed (2) where abnormal, else healthy."""
    return np.where(abnormal, 2, 0).astype(np.uint8)


@pytest.mark.parametrize("seed", range(5))
def test_paper_pr_auc_agrees_with_the_reference_loop(seed):
    rng = np.random.default_rng(seed)
    abnormal = rng.random(600) < 0.1
    scores = rng.gamma(2.0, 1.0, 600).astype(np.float32) + abnormal * rng.random(600)
    assert paper_pr_auc(abnormal, scores) == pytest.approx(
        reference_pr_auc(_classes(abnormal), (2,), scores), abs=1e-12
    )


def test_a_grid_ending_above_the_highest_score_skips_that_threshold():
    # float rounding: this arange has 55 elements, the last a hair above the highest score
    low, high = 3.2798228976460253, 6.961544503408927
    scores = np.array([low, 4.0, 5.0, 6.0, high])
    abnormal = np.array([False, True, False, True, True])
    grid = paper_thresholds(scores, grid=54)
    assert len(grid) == 55 and grid[-1] > high
    thresholds, _, _ = paper_curve(abnormal, scores, grid=54)
    assert len(thresholds) == 54
    assert paper_pr_auc(abnormal, scores, grid=54) == pytest.approx(
        reference_pr_auc(_classes(abnormal), (2,), scores, grid_iterations=54), abs=1e-12
    )


@pytest.mark.parametrize("metric", [average_precision, roc_auc, paper_pr_auc, max_f1_threshold])
def test_undefined_metrics_are_nan(metric):
    assert math.isnan(metric(np.zeros(4, bool), SCORES))  # no abnormal window
    assert math.isnan(metric(np.ones(4, bool), SCORES))  # no normal window
    assert math.isnan(paper_pr_auc(ABNORMAL, np.full(4, 0.5)))  # all scores equal
