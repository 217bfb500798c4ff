"""Thresholds a plant can use, and what each flags.

Max-F1 needs labelled failures; a plant rarely has them when it sets an alarm. A percentile of
the healthy validation windows' scores needs healthy data only: at the 99.5th percentile about
one healthy window in 200 is flagged. Two tiers (``watch`` and ``act``, their percentiles set
by the user) give an early and a firm alarm. At each threshold the outcome on a split is the
window confusion matrix with precision and recall, and over cuts (a cut flagged when at least
:data:`CUT_SHARE` of its windows are, as ``predict`` decides) the cut confusion matrix and the
false alarms per 100 healthy cuts: the number a maintenance planner weighs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from data_prep.errors import ParameterError
from search.evaluation.bootstrap import cut_level
from studies.diagnostics import Threshold

CUT_SHARE = 0.5  # a cut is abnormal when at least this share of its windows is flagged
HEALTHY = 0  # tool class of the windows the percentiles are taken over
MAX_F1 = "max-f1"
OUTCOME_SPLITS = ("val", "test")


def check_tiers(tiers: Mapping[str, float]) -> dict[str, float]:
    """The tiers as {name: percentile}, each percentile strictly between 0 and 100, watch's
    no higher than act's."""
    checked = {}
    for name, percentile in tiers.items():
        if not isinstance(percentile, int | float) or not 0 < percentile < 100:
            raise ParameterError(name, f"must be a percentile between 0 and 100 (got {percentile})")
        checked[name] = float(percentile)
    if checked.get("watch", 0) > checked.get("act", 100):
        raise ParameterError(
            "watch",
            f"({checked['watch']:g}) must not be stricter than act ({checked['act']:g}): the "
            "early alarm flags at least what the firm one does",
        )
    return checked


def percentile_thresholds(
    scores: np.ndarray, y: np.ndarray, tiers: Mapping[str, float]
) -> dict[str, float]:
    """Each tier's percentile of the healthy windows' scores (NaN without healthy windows)."""
    healthy = scores[y == HEALTHY]
    if not len(healthy):
        return {name: math.nan for name in tiers}
    return {name: float(np.percentile(healthy, p)) for name, p in tiers.items()}


def confusion(flagged: np.ndarray, abnormal: np.ndarray) -> dict[str, int]:
    return {
        "tp": int((flagged & abnormal).sum()),
        "fp": int((flagged & ~abnormal).sum()),
        "fn": int((~flagged & abnormal).sum()),
        "tn": int((~flagged & ~abnormal).sum()),
    }


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def outcome(
    threshold: float,
    scores: np.ndarray,
    y: np.ndarray,
    cut_no: np.ndarray,
    abnormal: tuple[int, ...],
) -> dict[str, Any]:
    """What ``threshold`` flags on one split: window and cut confusion matrices, precision,
    recall, and false alarms per 100 healthy cuts (healthy cuts flagged)."""
    flagged = scores >= threshold
    windows = confusion(flagged, np.isin(y, abnormal))
    _, cut_class, share = cut_level(cut_no, y, flagged.astype(np.float64))
    cut_flagged = share >= CUT_SHARE
    cuts = confusion(cut_flagged, np.isin(cut_class, abnormal))
    healthy = cut_class == HEALTHY
    false_alarms = int((cut_flagged & healthy).sum())
    per_100 = _ratio(100 * false_alarms, int(healthy.sum()))
    return {
        "precision": _ratio(windows["tp"], windows["tp"] + windows["fp"]),
        "recall": _ratio(windows["tp"], windows["tp"] + windows["fn"]),
        "windows": windows,
        "cut_precision": _ratio(cuts["tp"], cuts["tp"] + cuts["fp"]),
        "cut_recall": _ratio(cuts["tp"], cuts["tp"] + cuts["fn"]),
        "cuts": cuts,
        "healthy_cuts": int(healthy.sum()),
        "false_alarms_per_100_healthy_cuts": per_100,
    }


def thresholds_of(
    space: str,
    values: Mapping[str, float],
    tiers: Mapping[str, float],
    splits: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    abnormal: tuple[int, ...],
) -> list[Threshold]:
    """Each named threshold ``values`` of one space with its outcome on each split of
    ``splits`` (split -> (scores, y, cut_no)); a tier's percentile comes from ``tiers``."""
    return [
        Threshold(
            space,
            tier,
            tiers.get(tier),
            float(value),
            {
                split: outcome(value, *arrays, abnormal)
                for split, arrays in splits.items()
                if math.isfinite(value)
            },
        )
        for tier, value in values.items()
    ]
