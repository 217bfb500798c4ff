"""The bootstrap by cut: weighted metrics against scikit-learn and the paper metric on repeated
windows, the stratified cluster weights, the intervals, and the cut-level unit."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from search.evaluation.bootstrap import (
    bootstrap_interval,
    cluster_weights,
    cut_level,
    weighted_average_precision,
    weighted_paper_pr_auc,
    weighted_roc_auc,
)

WEIGHTED = {
    "ap": weighted_average_precision,
    "paper": weighted_paper_pr_auc,
    "roc": weighted_roc_auc,
}


def _paper_pr_auc():
    from vae.metrics import paper_pr_auc

    return paper_pr_auc


def _unweighted(metric: str, abnormal: np.ndarray, scores: np.ndarray) -> float:
    """The metric on plain arrays: scikit-learn's, or the scoring's paper metric."""
    if metric == "paper":
        return _paper_pr_auc()(abnormal, scores)
    if not 0 < abnormal.sum() < len(abnormal):
        return np.nan
    function = average_precision_score if metric == "ap" else roc_auc_score
    return float(function(abnormal, scores))


def _repeated(metric: str, abnormal, scores, weights) -> np.ndarray:
    """Row by row, the metric of the windows repeated as many times as their weight."""
    return np.array(
        [_unweighted(metric, np.repeat(abnormal, w), np.repeat(scores, w)) for w in weights]
    )


def _windows(seed: int, n: int = 60, dtype=np.float64):
    """Abnormal flags, scores with ties (two decimals), and cuts of 4 windows, one class each."""
    rng = np.random.default_rng(seed)
    cut_no = np.repeat(np.arange(n // 4) * 3 + 1, 4)
    abnormal = np.repeat(rng.random(n // 4) < 0.3, 4)
    scores = np.round(rng.gamma(2.0, 1.0, n) + abnormal, 2).astype(dtype)
    return cut_no, abnormal, scores


def _synthetic(cuts: int, abnormal_cuts: int, seed: int, copies: int = 1, per_cut: int = 20):
    """A split of ``cuts`` cuts: abnormal ones score higher, and each cut has its own level.

    With ``copies``, each cut comes that many times (new cuts of the same level, windows
    drawn anew): the same population, more cuts.
    """
    rng = np.random.default_rng(seed)
    cut_level_ = np.tile(rng.normal(0.0, 0.6, cuts), copies)
    cut_no = np.repeat(np.arange(cuts * copies), per_cut)
    abnormal = np.repeat(np.tile(np.arange(cuts) < abnormal_cuts, copies), per_cut)
    level = np.repeat(cut_level_, per_cut) + abnormal
    return cut_no, abnormal, level + rng.gamma(2.0, 1.0, len(cut_no))


@pytest.mark.parametrize("metric", sorted(WEIGHTED))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weighted_metrics_equal_the_metric_of_repeated_windows(metric, dtype):
    _, abnormal, scores = _windows(seed=1, dtype=dtype)
    weights = np.random.default_rng(2).integers(0, 4, size=(30, len(scores)))
    weights[0, abnormal] = 0  # no abnormal window left
    weights[1, ~abnormal] = 0  # no normal window left
    weights[2] = 0
    weights[2, [np.flatnonzero(abnormal)[0], np.flatnonzero(~abnormal)[0]]] = 1  # one of each
    got = WEIGHTED[metric](abnormal, scores, weights)
    expected = _repeated(metric, abnormal, scores, weights)
    assert np.isnan(got[:2]).all()
    assert not np.isnan(expected[3:]).any()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("metric", sorted(WEIGHTED))
def test_weighted_metrics_by_cut_equal_the_metric_of_repeated_windows(metric):
    cut_no, abnormal, scores = _windows(seed=3)
    weights = cluster_weights(cut_no, abnormal, resamples=30, seed=4)
    weights[0, abnormal] = 0  # a row no stratified draw gives: the abnormal cuts left out
    got = WEIGHTED[metric](abnormal, scores, weights, cut_no=cut_no)
    np.testing.assert_allclose(got, WEIGHTED[metric](abnormal, scores, weights), rtol=1e-12)
    np.testing.assert_allclose(
        got, _repeated(metric, abnormal, scores, weights), rtol=1e-12, atol=1e-12
    )
    assert np.isnan(got[0])


def test_ties_across_classes_count_as_sklearn_counts_them():
    abnormal = np.array([True, False, True, False, False, True])
    scores = np.array([0.5, 0.5, 0.2, 0.2, 0.1, 0.9])
    weights = np.array([[1, 1, 1, 1, 1, 1], [2, 1, 0, 3, 1, 1], [1, 2, 3, 1, 0, 0]])
    for metric in ("ap", "roc"):
        np.testing.assert_allclose(
            WEIGHTED[metric](abnormal, scores, weights),
            _repeated(metric, abnormal, scores, weights),
            rtol=1e-12,
        )


@pytest.mark.parametrize("metric", sorted(WEIGHTED))
def test_weights_of_one_equal_the_unweighted_metric(metric):
    from vae.metrics import METRICS

    _, abnormal, scores = _synthetic(cuts=12, abnormal_cuts=3, seed=5)
    got = WEIGHTED[metric](abnormal, scores, np.ones((2, len(scores)), dtype=int))
    np.testing.assert_allclose(got, METRICS[metric](abnormal, scores), rtol=1e-12)


def test_weights_must_be_counts_and_by_cut_must_share_the_cut_count():
    cut_no, abnormal, scores = _windows(seed=6)
    with pytest.raises(ValueError, match="non-negative integer"):
        weighted_roc_auc(abnormal, scores, -np.ones((1, len(scores))))
    with pytest.raises(ValueError, match="non-negative integer"):
        weighted_roc_auc(abnormal, scores, np.full((1, len(scores)), 0.5))
    with pytest.raises(ValueError, match="one cut"):
        weighted_roc_auc(abnormal, scores, np.eye(1, len(scores), dtype=int), cut_no=cut_no)


def test_cluster_weights_draw_whole_cuts_by_stratum():
    cut_no, abnormal, _ = _synthetic(cuts=30, abnormal_cuts=4, seed=7)
    cut_no = np.random.default_rng(8).permutation(30)[cut_no]  # cut ids in no order
    weights = cluster_weights(cut_no, abnormal, resamples=200, seed=9)
    assert weights.shape == (200, len(cut_no))
    ids, first = np.unique(cut_no, return_index=True)
    per_cut = weights[:, first]  # (resamples, cuts)
    for index, cut in enumerate(ids):
        assert (weights[:, cut_no == cut] == per_cut[:, [index]]).all()
    abnormal_cut = abnormal[first]
    np.testing.assert_array_equal(per_cut[:, abnormal_cut].sum(axis=1), 4)
    np.testing.assert_array_equal(per_cut[:, ~abnormal_cut].sum(axis=1), 26)
    assert (weights[:, abnormal].sum(axis=1) > 0).all()
    assert len(np.unique(per_cut, axis=0)) > 190  # resamples differ from one another


def test_cluster_weights_are_seeded():
    cut_no, abnormal, _ = _synthetic(cuts=10, abnormal_cuts=2, seed=10)
    first = cluster_weights(cut_no, abnormal, resamples=50, seed=11)
    np.testing.assert_array_equal(first, cluster_weights(cut_no, abnormal, 50, seed=11))
    assert not np.array_equal(first, cluster_weights(cut_no, abnormal, 50, seed=12))


def test_interval_contains_the_point_value_and_is_seeded():
    cut_no, abnormal, scores = _synthetic(cuts=30, abnormal_cuts=4, seed=13)
    interval = bootstrap_interval(abnormal, scores, cut_no, resamples=500, seed=0)
    assert sorted(interval) == ["ap", "paper", "roc"]
    for metric, (low, high) in interval.items():
        assert low <= _unweighted(metric, abnormal, scores) <= high, metric
        assert high - low > 0.01, metric
    assert bootstrap_interval(abnormal, scores, cut_no, resamples=500, seed=0) == interval
    other = bootstrap_interval(abnormal, scores, cut_no, resamples=500, seed=1)
    assert all(other[metric] != interval[metric] for metric in interval)


def test_interval_narrows_with_more_cuts():
    widths = []
    for copies in (1, 4):  # four times the cuts: about half the width
        cut_no, abnormal, scores = _synthetic(cuts=30, abnormal_cuts=4, seed=14, copies=copies)
        interval = bootstrap_interval(abnormal, scores, cut_no)
        widths.append({metric: high - low for metric, (low, high) in interval.items()})
    for metric, width in widths[0].items():
        assert widths[1][metric] < 0.7 * width, metric


def test_interval_by_cut_is_wider_than_by_window():
    cut_no, abnormal, scores = _synthetic(cuts=30, abnormal_cuts=4, seed=15)
    by_cut = bootstrap_interval(abnormal, scores, cut_no, ("roc",))["roc"]
    by_window = bootstrap_interval(abnormal, scores, np.arange(len(cut_no)), ("roc",))["roc"]
    assert by_cut[1] - by_cut[0] > 1.2 * (by_window[1] - by_window[0])


def test_interval_of_draws_is_the_percentile_of_the_mean_over_draws():
    cut_no, abnormal, scores = _synthetic(cuts=15, abnormal_cuts=3, seed=16)
    draws = np.stack([scores, scores + np.random.default_rng(17).normal(0, 1, len(scores))])
    interval = bootstrap_interval(abnormal, draws, cut_no, resamples=200, seed=18, level=0.9)
    weights = cluster_weights(cut_no, abnormal, resamples=200, seed=18)
    for metric, function in WEIGHTED.items():
        values = np.mean([function(abnormal, draw, weights) for draw in draws], axis=0)
        np.testing.assert_allclose(interval[metric], np.percentile(values, [5, 95]), rtol=1e-12)


def test_interval_off_unknown_or_undefined():
    cut_no, abnormal, scores = _synthetic(cuts=6, abnormal_cuts=2, seed=19)
    assert bootstrap_interval(abnormal, scores, cut_no, resamples=0) == {}
    with pytest.raises(ValueError, match="unknown metric"):
        bootstrap_interval(abnormal, scores, cut_no, ("f1",))
    normal_only = np.zeros_like(abnormal)
    interval = bootstrap_interval(normal_only, scores, cut_no, resamples=20)
    assert all(np.isnan(bound) for bounds in interval.values() for bound in bounds)


def test_cut_level_by_hand():
    # cuts 7 and 3 abnormal, 5 and 9 normal; windows of each cut interleaved
    cut_no = np.array([7, 5, 3, 7, 9, 5, 3, 9, 5])
    classes = np.array([2, 0, 2, 2, 1, 0, 2, 1, 0])
    scores = np.array([0.8, 0.4, 0.2, 1.0, 0.1, 0.5, 0.4, 0.1, 0.6])
    ids, labels, means = cut_level(cut_no, classes, scores)
    np.testing.assert_array_equal(ids, [3, 5, 7, 9])
    np.testing.assert_array_equal(labels, [2, 0, 2, 1])
    np.testing.assert_allclose(means, [0.3, 0.5, 0.9, 0.1])
    # ranked: 7 (abnormal) P=1 R=1/2; 5 (normal); 3 (abnormal) P=2/3 R=1
    abnormal = labels == 2
    ap = weighted_average_precision(abnormal, means, np.ones((1, 4), dtype=int))
    np.testing.assert_allclose(ap, [0.5 * 1 + 0.5 * 2 / 3])
    _, _, per_draw = cut_level(cut_no, classes, np.stack([scores, 2 * scores]))
    np.testing.assert_allclose(per_draw, [[0.3, 0.5, 0.9, 0.1], [0.6, 1.0, 1.8, 0.2]])


def test_cut_level_refuses_a_cut_of_two_labels():
    cut_no = np.array([1, 1, 4, 4])
    with pytest.raises(ValueError, match="cut 4 "):
        cut_level(cut_no, np.array([False, False, True, False]), np.zeros(4))


def test_cut_level_bootstrap_resamples_cuts_as_units():
    cut_no, abnormal, scores = _synthetic(cuts=30, abnormal_cuts=4, seed=20)
    ids, cut_abnormal, means = cut_level(cut_no, abnormal, scores)
    interval = bootstrap_interval(cut_abnormal, means, ids, ("ap", "roc"), resamples=300)
    weights = cluster_weights(ids, cut_abnormal, resamples=300, seed=0)
    np.testing.assert_array_equal(weights[:, cut_abnormal].sum(axis=1), 4)
    for metric, (low, high) in interval.items():
        values = WEIGHTED[metric](cut_abnormal, means, weights)
        np.testing.assert_allclose((low, high), np.percentile(values, [2.5, 97.5]), rtol=1e-12)
        assert low <= _unweighted(metric, cut_abnormal, means) <= high
