"""One split's windows as every score of the scoring stage sees them: which are abnormal, and
the resamples of its cuts behind each score's interval. A model's scores
(``search.evaluation.scoring``), its per-signal checks (``search.evaluation.diagnostics``) and
the baselines' scores all go through it, so they are judged on the same resampled cuts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_prep.prepared import PreparedData
from search.evaluation.bootstrap import CutBootstrap, cut_level, percentile_interval
from search.evaluation.names import CUT_METRICS, SPLITS, score_name
from studies.results import CUT, WINDOW, Score
from vae.metrics import METRICS


@dataclass(frozen=True)
class SplitUnits:
    """One split's windows as the metrics see them: which are abnormal, and the resamples of
    its cuts behind the intervals, per window and per cut (drawn once, shared by every score
    of the split: each space, signal and baseline)."""

    split: str
    y: np.ndarray
    cut_no: np.ndarray
    by_window: CutBootstrap
    by_cut: CutBootstrap

    @classmethod
    def of(
        cls, data: PreparedData, split: str, abnormal: tuple[int, ...], bootstrap: int
    ) -> SplitUnits:
        _, y, cut_no = data.split(split)
        index = SPLITS.index(split)  # the resamples' seed: the same for every model
        _, cut_class, _ = cut_level(cut_no, y, np.zeros(len(y)))
        by_window = CutBootstrap(np.isin(y, abnormal), cut_no, bootstrap, seed=index)
        cuts = np.unique(cut_no)
        by_cut = CutBootstrap(np.isin(cut_class, abnormal), cuts, bootstrap, seed=index)
        return cls(split, y, cut_no, by_window, by_cut)

    def scores(
        self,
        space: str,
        draws: np.ndarray,
        metrics: tuple[str, ...] = tuple(METRICS),
        replicates: dict[str, np.ndarray] | None = None,
    ) -> list[Score]:
        """Each of ``metrics`` (those defined over cuts, at the cut level) of the (draws, n)
        window scores of one space, per window and per cut; each score's resample values go
        into ``replicates`` when given."""
        _, _, cut_draws = cut_level(self.cut_no, self.y, draws)
        cut_metrics = tuple(m for m in metrics if m in CUT_METRICS)
        kept = {} if replicates is None else replicates
        return [
            *_unit_scores(self.split, space, WINDOW, draws, self.by_window, metrics, kept),
            *_unit_scores(self.split, space, CUT, cut_draws, self.by_cut, cut_metrics, kept),
        ]


def _unit_scores(
    split: str,
    space: str,
    unit: str,
    draws: np.ndarray,
    resampled: CutBootstrap,
    metrics: tuple[str, ...],
    replicates: dict[str, np.ndarray],
) -> list[Score]:
    """Each metric of one split, space and unit: its mean and spread over the draws, and its
    interval over the split's resampled cuts (each resample's value kept in ``replicates``)."""
    values_by_resample = resampled.replicates(draws, metrics)
    scores = []
    for metric in metrics:
        values = np.array([METRICS[metric](resampled.abnormal, draw) for draw in draws])
        std = float(values.std()) if len(values) > 1 else None
        low = high = None
        if metric in values_by_resample:
            low, high = percentile_interval(values_by_resample[metric])
            replicates[score_name(split, space, unit, metric)] = values_by_resample[metric]
        scores.append(Score(split, space, metric, float(values.mean()), std, unit, low, high))
    return scores
