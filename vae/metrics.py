"""Anomaly-detection metrics of window scores: higher score, more likely abnormal.

- ``average_precision``: PR-AUC as scikit-learn's average precision (no interpolation);
- ``paper_pr_auc``: the reference study's PR-AUC, so results compare with the paper: a grid of
  thresholds ``numpy.arange(min, max, (max - min) / grid)`` over the scores, a window flagged
  when its score is >= the threshold, precision and recall at each threshold, trapezoid area
  (``sklearn.metrics.auc``) of precision over recall;
  vectorized: one sort and two binary searches instead of a pass over the data per threshold;
- ``roc_auc``: scikit-learn's ROC-AUC;
- ``max_f1_threshold``: the score threshold with the best F1, for verdicts on new data.

A metric that is undefined (one class only, all scores equal) is NaN, never an exception.
scikit-learn is imported where a metric is computed, so the metrics' names cost nothing.
"""

from __future__ import annotations

import numpy as np

PAPER_GRID = 250


def _both_classes(abnormal: np.ndarray) -> bool:
    return 0 < int(abnormal.sum()) < len(abnormal)


def average_precision(abnormal: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(abnormal, scores)) if _both_classes(abnormal) else np.nan


def roc_auc(abnormal: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(abnormal, scores)) if _both_classes(abnormal) else np.nan


def paper_thresholds(scores: np.ndarray, grid: int = PAPER_GRID) -> np.ndarray:
    """The reference grid: ``arange(min, max, |max - min| / grid)`` (empty if all are equal)."""
    low, high = float(np.min(scores)), float(np.max(scores))
    if high == low:
        return np.empty(0)
    return np.arange(low, high, abs(high - low) / grid)


def paper_curve(
    abnormal: np.ndarray, scores: np.ndarray, grid: int = PAPER_GRID
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, precisions, recalls) on the reference grid.

    As in the reference, a threshold where precision is undefined (no window flagged: the
    float grid can end a hair above the highest score) is skipped; without abnormal windows
    (recall undefined) or without normal ones (its false positive rate undefined) it skipped
    every point: empty curves.
    """
    if not _both_classes(abnormal):
        return np.empty(0), np.empty(0), np.empty(0)
    thresholds = paper_thresholds(scores, grid)
    positives = np.sort(scores[abnormal])
    negatives = np.sort(scores[~abnormal])
    # windows flagged at threshold t: those with score >= t
    tp = len(positives) - np.searchsorted(positives, thresholds, side="left")
    fp = len(negatives) - np.searchsorted(negatives, thresholds, side="left")
    defined = tp + fp > 0
    tp, fp = tp[defined], fp[defined]
    return thresholds[defined], tp / (tp + fp), tp / len(positives)


def paper_pr_auc(abnormal: np.ndarray, scores: np.ndarray, grid: int = PAPER_GRID) -> float:
    from sklearn.metrics import auc

    _, precisions, recalls = paper_curve(abnormal, scores, grid)
    if len(recalls) < 2:
        return np.nan
    return float(auc(recalls, precisions))


METRICS = {"ap": average_precision, "paper": paper_pr_auc, "roc": roc_auc}


def max_f1_threshold(abnormal: np.ndarray, scores: np.ndarray) -> float:
    """The lowest score threshold (flag when >= it) with the highest F1; NaN if undefined."""
    from sklearn.metrics import precision_recall_curve

    if not _both_classes(abnormal):
        return np.nan
    precision, recall, thresholds = precision_recall_curve(abnormal, scores)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = 2 * precision * recall / (precision + recall)
    f1 = np.nan_to_num(f1[:-1])  # the last point (recall 0) has no threshold
    return float(thresholds[int(np.argmax(f1))])
