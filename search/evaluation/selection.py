"""What choosing on validation buys: the best of N trainings, against a baseline.

One training of a β-VAE is a draw: the same configuration spans a wide range of test PR-AUC
with the seed alone. A search trains many and keeps the one validation ranks first, so the
question a reviewer asks is how good that chosen model is in expectation, for a budget of N
trainings, and how often it beats the baseline. That is the "expected maximum" of Dodge et al.
(*Show Your Work*, EMNLP 2019), here of the test score of the validation-chosen model: with the
study's n trainings as the population, N of them drawn with replacement, the training with the
i-th lowest validation score is the one chosen with probability (i/n)^N - ((i-1)/n)^N. The
chosen model's test score is then a discrete distribution, whose mean, 5th and 95th
percentiles and share above the baseline are exact, not simulated.

Beside it, the paired difference of the study's chosen model and the baseline on the shared
cut resamples: every model and baseline is scored on the same resampled sets of cuts, so their
difference, resample by resample, gives an interval that the two intervals side by side
cannot (their errors are correlated through the cuts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from search.evaluation.bootstrap import percentile_interval
from search.evaluation.names import DEFAULT_ABNORMAL, DEFAULT_METRIC, DEFAULT_SPACE, score_name
from studies.results import WINDOW, Ranked

BAND = (5.0, 95.0)  # the band's percentiles of the chosen model's test score


@dataclass(frozen=True)
class BestOfN:
    """The validation-chosen model's test score among ``n`` trainings: its expectation, its
    ``BAND`` percentiles, and the probability that it beats the baseline (None: none)."""

    n: int
    expected: float
    low: float
    high: float
    beats: float | None


@dataclass(frozen=True)
class Comparison:
    """A study's trainings against its best baseline: the best of N for every N up to the
    trainings scored, and the paired test difference of its validation-chosen model."""

    trainings: int
    baseline: str | None
    baseline_test: float | None
    curve: list[BestOfN]
    chosen: str | None = None
    difference: float | None = None  # chosen minus baseline, on test
    difference_low: float | None = None
    difference_high: float | None = None

    def line(self, label: str) -> str:
        """``best``'s line: what the best of all the study's trainings is worth (``label``:
        the score's space and metric, as the ranking names them)."""
        if not self.curve:
            return "best of N: no training scored on validation and test yet"
        last = self.curve[-1]
        text = (
            f"best of {last.n} training(s) chosen on validation, {label} on test: "
            f"expected {last.expected:.3f} ({BAND[0]:g}-{BAND[1]:g} % "
            f"{last.low:.3f}-{last.high:.3f})"
        )
        if self.baseline is None or last.beats is None:
            return text
        text += f"; {self.baseline} {self.baseline_test:.3f}; beats it in {last.beats:.0%} of draws"
        if self.difference_low is not None:
            text += (
                f"; the chosen model minus {self.baseline}: {self.difference:+.3f} "
                f"[{self.difference_low:+.3f}, {self.difference_high:+.3f}] (paired, 95 %)"
            )
        return text


def best_of_n(
    val: Sequence[float], test: Sequence[float], baseline: float | None = None
) -> list[BestOfN]:
    """For N = 1 .. len(val): the test score of the training that ranks first on validation
    among N drawn with replacement from these (exact, see the module's docstring)."""
    val, test = np.asarray(val, dtype=float), np.asarray(test, dtype=float)
    if val.shape != test.shape or val.ndim != 1:
        raise ValueError(
            f"val and test must be two lists of one length, got {val.shape} and {test.shape}"
        )
    n = len(val)
    by_val = np.argsort(val, kind="stable")
    tests = test[by_val]
    ranks = np.arange(1, n + 1) / n
    by_test = np.argsort(tests, kind="stable")
    curve = []
    for draws in range(1, n + 1):
        chosen = ranks**draws - (ranks - 1 / n) ** draws  # P(the i-th by val is chosen)
        cumulative = np.cumsum(chosen[by_test])
        low, high = (
            tests[by_test][min(int(np.searchsorted(cumulative, q / 100)), n - 1)] for q in BAND
        )
        beats = None if baseline is None else float(chosen[tests > baseline].sum())
        curve.append(BestOfN(draws, float(chosen @ tests), float(low), float(high), beats))
    return curve


def compare_with_baseline(
    study: str | Path,
    storage: str | None = None,
    *,
    space: str = DEFAULT_SPACE,
    metric: str = DEFAULT_METRIC,
    abnormal: Sequence[int] = DEFAULT_ABNORMAL,
    unit: str = WINDOW,
    baseline: str | None = None,
) -> Comparison:
    """The study's trainings (every scored model, ensembles left out) against ``baseline``
    (its name, ``baseline-pca`` say; None: the one validation ranks first): the best of N,
    and the paired test difference of the model validation ranks first."""
    from search.evaluation.baselines import BASELINE_SPACE, baselines_beside
    from search.evaluation.ranking import best, check_abnormal
    from search.evaluation.scoring import baseline_replicates, read_npz, read_replicates
    from studies.storage import locate
    from vae.ensemble import members_of

    classes = check_abnormal(abnormal)
    location = locate(study, storage)
    ranked = [
        r
        for r in best(
            study, storage, n=None, space=space, metric=metric, abnormal=classes, unit=unit
        )
        if r.test is not None and not members_of(r.config)
    ]
    found = [
        b
        for b in baselines_beside(study, storage, metric=metric, unit=unit, abnormal=classes)
        if baseline in (None, b.name)
    ]
    base: Ranked | None = found[0] if found else None
    curve = best_of_n([r.val for r in ranked], [r.test for r in ranked], base and base.test)
    comparison = Comparison(len(ranked), base and base.name, base and base.test, curve)
    if not ranked or base is None:
        return comparison
    chosen = ranked[0]
    ours = read_replicates(location.model_path(chosen.path), classes).get(
        score_name("test", space, unit, metric)
    )
    theirs = read_npz(baseline_replicates(location.directory, base.name, classes)).get(
        score_name("test", BASELINE_SPACE, unit, metric)
    )
    if ours is None or theirs is None or ours.shape != theirs.shape:
        return replace(comparison, chosen=chosen.name)
    low, high = percentile_interval(ours - theirs)
    return replace(
        comparison,
        chosen=chosen.name,
        difference=chosen.test - base.test,
        difference_low=low,
        difference_high=high,
    )
