"""Bootstrap intervals of the anomaly-detection metrics, resampling cuts rather than windows.

Windows of one cut (milling run) are strongly correlated, so a bootstrap over windows
understates how much a metric would move on other cuts. ``cluster_weights`` resamples whole
cuts, stratified: the cuts holding abnormal windows and the others are drawn separately, each
stratum keeping its number of cuts, so every resample has both classes when the split has.

A resample is a row of integer counts, one per window: its metric is the metric of the
windows repeated that many times. The weighted metrics compute every row at once and equal
scikit-learn's ``average_precision_score`` and ``roc_auc_score`` (ties included) and the
reference study's PR-AUC (``paper``) on the repeated arrays; a row with one class only is NaN,
as the unweighted metrics are.

All three need one thing from a row: the weight of a class at or above a threshold, that is
at or above a rank of the class's sorted scores. With one count per window, that is a
cumulative sum of the sorted weights of every row. With one count per cut (the cluster
bootstrap) it is the cut counts (B, cuts) times a table of each cut's windows at or above each
rank (cuts, ranks): one matrix product whose size grows with cuts, not windows.

``bootstrap_interval`` gives the percentile interval of each metric; ``cut_level`` turns
window scores into one score per cut (the mean), so the same interval serves both units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vae.metrics import METRICS, PAPER_GRID

__all__ = [
    "METRIC_NAMES",
    "CutBootstrap",
    "bootstrap_interval",
    "cluster_weights",
    "cut_level",
    "percentile_interval",
    "weighted_average_precision",
    "weighted_paper_pr_auc",
    "weighted_roc_auc",
]

METRIC_NAMES = tuple(METRICS)
FLOAT32_EXACT = 2**24  # integers below this add exactly in float32
ALL = slice(None)
ROW_BLOCK = 128  # resamples at a time: their (rows, scores) arrays stay in cache
CLASSES = (True, False)  # abnormal, normal
SINGLE_THREAD_PRODUCT = 2**19  # multiply-adds: OpenBLAS computes fewer on the calling thread


# ---------------------------------------------------------------------------------------------
# weight at or above a rank


class _WindowCounts:
    """Weight at or above a rank when each window has its own count in each row.

    Per class, each row's counts in ascending score order, summed from the top: column i is
    the weight of the windows of rank >= i.
    """

    def __init__(self, weights: np.ndarray, abnormal: np.ndarray, scores: np.ndarray):
        self.sorted: dict[bool, np.ndarray] = {}
        self._above: dict[bool, np.ndarray] = {}
        for positive in CLASSES:
            members = np.flatnonzero(abnormal == positive)
            order = members[np.argsort(scores[members], kind="stable")]
            self.sorted[positive] = scores[order]
            above = np.zeros((len(weights), len(order) + 1))
            np.cumsum(weights[:, order[::-1]], axis=1, out=above[:, -2::-1])
            self._above[positive] = above
        present = weights > 0
        self.low = np.where(present, scores, np.inf).min(axis=1, initial=np.inf)
        self.high = np.where(present, scores, -np.inf).max(axis=1, initial=-np.inf)

    def total(self, positive: bool) -> np.ndarray:
        return self._above[positive][:, 0]

    def table(self, positive: bool, ranks: np.ndarray) -> np.ndarray:
        """What ``weigh`` reads the weight at ``ranks`` from: the ranks themselves."""
        return ranks

    def weigh(
        self, positive: bool, table: np.ndarray, rows: np.ndarray | slice = ALL
    ) -> np.ndarray:
        """(rows, ranks): weight of the class's windows of rank >= r, for ``table(ranks)``."""
        return self._above[positive][rows][:, table]


@dataclass(frozen=True)
class _Units:
    """How windows form units (cuts) and how often each resample draws each unit, by class.

    Shared by every draw of the scores: only a window's class and unit matter here.
    """

    unit: np.ndarray  # (n,) unit of each window
    members: dict[bool, np.ndarray]  # class -> (n,) mask of its windows
    local: dict[bool, np.ndarray]  # class -> unit of each of its windows, among its units
    counts: dict[bool, np.ndarray]  # class -> (B, its units) counts, float
    total: dict[bool, np.ndarray]  # class -> (B,) its windows in each resample
    drawn: np.ndarray  # (B, units): whether the resample holds the unit

    @classmethod
    def of(cls, counts: np.ndarray, unit: np.ndarray, abnormal: np.ndarray) -> _Units:
        """Units of ``counts`` (B, units); float32 while sums of integers stay exact in it."""
        sizes = np.bincount(unit, minlength=counts.shape[1])
        dtype = np.float32 if (counts @ sizes).max(initial=0) < FLOAT32_EXACT else np.float64
        members, local, class_counts, total = {}, {}, {}, {}
        for positive in CLASSES:
            members[positive] = abnormal == positive
            present, inverse = np.unique(unit[members[positive]], return_inverse=True)
            local[positive] = inverse.ravel()
            class_counts[positive] = counts[:, present].astype(dtype)
            total[positive] = (counts[:, present] @ np.bincount(local[positive])).astype(float)
        return cls(unit, members, local, class_counts, total, counts > 0)


class _UnitCounts:
    """Weight at or above a rank when all windows of a unit (cut) share its count.

    Per class, a table of each unit's windows among the highest ranks; a row's weight at
    rank r is its unit counts times the column of the windows of rank >= r.
    """

    def __init__(self, units: _Units, scores: np.ndarray):
        self._units = units
        self.sorted: dict[bool, np.ndarray] = {}
        self._top: dict[bool, np.ndarray] = {}
        for positive in CLASSES:
            class_scores = scores[units.members[positive]]
            order = np.argsort(class_scores, kind="stable")
            self.sorted[positive] = class_scores[order]
            self._top[positive] = _top_counts(
                units.local[positive][order], units.counts[positive].shape[1]
            )
        k = units.drawn.shape[1]
        unit_low, unit_high = np.full(k, np.inf), np.full(k, -np.inf)
        np.minimum.at(unit_low, units.unit, scores)
        np.maximum.at(unit_high, units.unit, scores)
        self.low = _first_drawn(units.drawn, unit_low)
        self.high = -_first_drawn(units.drawn, -unit_high)

    def total(self, positive: bool) -> np.ndarray:
        return self._units.total[positive]

    def table(self, positive: bool, ranks: np.ndarray) -> np.ndarray:
        """(units, ranks): each unit's windows of the class of rank >= r."""
        top = self._top[positive]
        return top[:, top.shape[1] - 1 - ranks].astype(self._units.counts[positive].dtype)

    def weigh(
        self, positive: bool, table: np.ndarray, rows: np.ndarray | slice = ALL
    ) -> np.ndarray:
        """(rows, ranks): weight of the class's windows of rank >= r, for ``table(ranks)``."""
        return _product(self._units.counts[positive][rows], table)


def _first_drawn(drawn: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(B,) the lowest of ``values`` (one per unit) among the units each resample draws.

    The first drawn unit in ascending order of value: a search over booleans, lighter than
    a minimum over a (B, units) array of floats.
    """
    if drawn.shape[1] == 0:  # no windows: no range, and no metric either
        return np.full(len(drawn), np.nan)
    order = np.argsort(values, kind="stable")
    return values[order][drawn[:, order].argmax(axis=1)]


def _top_counts(local: np.ndarray, units: int) -> np.ndarray:
    """(units, windows + 1): column j, each unit's windows among the j of highest rank.

    ``local`` is the unit of each window in ascending order. Integer sums: a cumulative sum
    of int32 runs several times faster than one of floats.
    """
    top = np.zeros((units, len(local) + 1), dtype=np.int32)
    top[local, np.arange(len(local), 0, -1)] = 1
    np.cumsum(top, axis=1, out=top)
    return top


def _product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b by blocks of rows small enough for BLAS to compute each on the calling thread.

    A multi-threaded product waits for a second core; on a busy machine (training workers,
    other scorings) that wait costs far more than the product, while the blocks cost little.
    """
    rows = max(1, (SINGLE_THREAD_PRODUCT - 1) // max(1, a.shape[1] * b.shape[1]))
    if len(a) <= rows:
        return a @ b
    out = np.empty((len(a), b.shape[1]), dtype=np.result_type(a, b))
    for start in range(0, len(a), rows):
        np.matmul(a[start : start + rows], b, out=out[start : start + rows])
    return out


_Counts = _WindowCounts | _UnitCounts


def _rank(
    counts: _Counts, positive: bool, thresholds: np.ndarray, strict: bool = False
) -> np.ndarray:
    """Rank of the class's first window with score >= t (> t when ``strict``)."""
    return np.searchsorted(counts.sorted[positive], thresholds, "right" if strict else "left")


# ---------------------------------------------------------------------------------------------
# metrics of every row


def _ranking_metrics(counts: _Counts, wanted: Sequence[str]) -> dict[str, np.ndarray]:
    """Average precision and ROC-AUC of every row, from the weights at the abnormal scores.

    Only the distinct abnormal scores move recall, so both metrics sum over them: average
    precision is sum(new abnormal weight * precision) / abnormal weight, and ROC-AUC counts
    the (abnormal, normal) pairs ranked right, a tie as half, like scikit-learn's trapezoid.
    Rows go by blocks, so the (rows, scores) arrays stay small.
    """
    positives, negatives = counts.total(True), counts.total(False)
    values = np.unique(counts.sorted[True])
    strictly = _rank(counts, False, values, strict=True)
    tied = np.flatnonzero(strictly != _rank(counts, False, values))
    tables = (
        counts.table(True, _rank(counts, True, values)),
        counts.table(False, _rank(counts, False, values)),
        counts.table(False, strictly[tied]),
    )
    out = {name: np.empty(len(positives)) for name in ("ap", "roc") if name in wanted}
    for start in range(0, len(positives), ROW_BLOCK):
        block = slice(start, start + ROW_BLOCK)
        for name, block_values in _block_ranking(counts, tables, tied, block, wanted).items():
            out[name][block] = block_values
    defined = (positives > 0) & (negatives > 0)
    return {name: np.where(defined, values, np.nan) for name, values in out.items()}


def _block_ranking(
    counts: _Counts,
    tables: tuple[np.ndarray, np.ndarray, np.ndarray],
    tied: np.ndarray,
    rows: slice,
    wanted: Sequence[str],
) -> dict[str, np.ndarray]:
    """Average precision and ROC-AUC of a block of rows (see ``_ranking_metrics``)."""
    tp = counts.weigh(True, tables[0], rows)
    fp = counts.weigh(False, tables[1], rows)
    new_tp = tp.copy()
    new_tp[:, :-1] -= tp[:, 1:]
    positives, negatives = counts.total(True)[rows], counts.total(False)[rows]
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        if "ap" in wanted:
            out["ap"] = _row_dot(new_tp, _precision(tp, fp)) / positives
        if "roc" in wanted:
            # normal weight at or above an abnormal score: its pairs ranked wrong plus its
            # ties; strictly above: without the ties, which exist only where scores are tied
            wrong_twice = 2 * _row_dot(new_tp, fp)
            if len(tied):
                ties = fp[:, tied] - counts.weigh(False, tables[2], rows)
                wrong_twice -= _row_dot(new_tp[:, tied], ties)
            out["roc"] = 1 - wrong_twice / (2 * positives * negatives)
    return out


def _precision(tp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """tp / (tp + fp) in float64; 0 where nothing is flagged (no new abnormal weight there)."""
    flagged = tp + fp
    return np.divide(tp, flagged, out=np.zeros(tp.shape), where=flagged > 0, dtype=float)


def _row_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot product, summed in float64."""
    return np.einsum("ij,ij->i", a, b, dtype=np.float64, casting="safe")


def _paper_metric(counts: _Counts) -> np.ndarray:
    """The reference PR-AUC of every row, on the grid of that row's own score range.

    Rows whose resample spans the same range share one grid (``numpy.arange`` as the
    reference builds it), so rows are grouped by (low, high), a group at a time.
    """
    positives, negatives = counts.total(True), counts.total(False)
    out = np.full(len(positives), np.nan)
    rows = np.flatnonzero((positives > 0) & (negatives > 0) & (counts.high > counts.low))
    lows, low_index = np.unique(counts.low[rows], return_inverse=True)
    highs, high_index = np.unique(counts.high[rows], return_inverse=True)
    groups, group = np.unique(low_index * len(highs) + high_index, return_inverse=True)
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(len(groups) + 1))
    for key, start, end in zip(groups.tolist(), bounds[:-1], bounds[1:], strict=True):
        low, high = float(lows[key // len(highs)]), float(highs[key % len(highs)])
        members = rows[order[start:end]]
        out[members] = _grid_pr_area(counts, low, high, members, positives[members])
    return out


def _grid_pr_area(
    counts: _Counts, low: float, high: float, rows: np.ndarray, positives: np.ndarray
) -> np.ndarray:
    """Trapezoid area of precision over recall on one grid, as ``sklearn.metrics.auc``.

    The reference skips thresholds that flag nothing; every row here holds a window at
    ``high``, so those are the thresholds above ``high``, the same for all rows, and every
    other threshold flags something. A trapezoid has area only where recall moves, that is
    where a threshold passes abnormal windows: area = sum(abnormal weight lost * (precision +
    next precision)) / (2 * abnormal weight), over those steps only. NaN below two points.
    """
    grid = np.arange(low, high, abs(high - low) / PAPER_GRID)
    grid = grid[grid <= high]
    if len(grid) < 2:
        return np.full(len(rows), np.nan)
    ranks = _rank(counts, True, grid)
    moves = np.flatnonzero(ranks[1:] != ranks[:-1])
    ends = np.union1d(moves, moves + 1)  # the points at either end of a step, once each
    tp = counts.weigh(True, counts.table(True, ranks[ends]), rows)
    fp = counts.weigh(False, counts.table(False, _rank(counts, False, grid[ends])), rows)
    precision = np.divide(tp, tp + fp, dtype=float)
    lower = np.searchsorted(ends, moves)  # a step's upper end is the next point
    lost = tp[:, lower] - tp[:, lower + 1]
    return _row_dot(lost, precision[:, lower] + precision[:, lower + 1]) / (2 * positives)


def _metrics(counts: _Counts, wanted: Sequence[str]) -> dict[str, np.ndarray]:
    """Every wanted metric of every row, sharing the counts between them."""
    out = _ranking_metrics(counts, wanted) if {"ap", "roc"} & set(wanted) else {}
    if "paper" in wanted:
        out["paper"] = _paper_metric(counts)
    return {name: out[name] for name in wanted}


# ---------------------------------------------------------------------------------------------
# weighted metrics


def weighted_average_precision(
    abnormal: np.ndarray,
    scores: np.ndarray,
    weights: np.ndarray,
    cut_no: np.ndarray | None = None,
) -> np.ndarray:
    """(B,) average precision of each weights row, NaN where a class is missing.

    ``weights`` (B, n) are non-negative integer counts; row b is scikit-learn's
    ``average_precision_score`` of the windows repeated ``weights[b]`` times. ``cut_no``:
    when every row gives all windows of a cut one count (as ``cluster_weights`` does), the
    sums run over cuts, which is faster; weights that do not are refused.
    """
    return _weighted("ap", abnormal, scores, weights, cut_no)


def weighted_roc_auc(
    abnormal: np.ndarray,
    scores: np.ndarray,
    weights: np.ndarray,
    cut_no: np.ndarray | None = None,
) -> np.ndarray:
    """(B,) ROC-AUC of each weights row (ties as scikit-learn), NaN where a class is missing.

    Arguments as ``weighted_average_precision``.
    """
    return _weighted("roc", abnormal, scores, weights, cut_no)


def weighted_paper_pr_auc(
    abnormal: np.ndarray,
    scores: np.ndarray,
    weights: np.ndarray,
    cut_no: np.ndarray | None = None,
) -> np.ndarray:
    """(B,) the reference PR-AUC of each weights row, on the grid of the scores it holds.

    NaN where a class is missing, where the row's scores are all equal, or with fewer than
    two points on the curve. Arguments as ``weighted_average_precision``.
    """
    return _weighted("paper", abnormal, scores, weights, cut_no)


def _weighted(
    metric: str,
    abnormal: np.ndarray,
    scores: np.ndarray,
    weights: np.ndarray,
    cut_no: np.ndarray | None,
) -> np.ndarray:
    abnormal, scores = _windows(abnormal, scores)
    weights = np.asarray(weights)
    if scores.ndim != 1:
        raise ValueError(f"scores must be (n,), got {scores.shape}")
    if weights.ndim != 2 or weights.shape[1] != len(scores):
        raise ValueError(f"weights must be (resamples, {len(scores)}), got {weights.shape}")
    if (weights < 0).any() or not np.array_equal(weights, np.round(weights)):
        raise ValueError("weights must be non-negative integer counts")
    if cut_no is None:
        counts: _Counts = _WindowCounts(weights, abnormal, scores)
    else:
        cut_counts, unit = _cut_counts_of(weights, cut_no)
        counts = _UnitCounts(_Units.of(cut_counts, unit, abnormal), scores)
    return _metrics(counts, (metric,))[metric]


def _cut_counts_of(weights: np.ndarray, cut_no: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(counts (B, cuts), unit of each window) of weights giving a cut's windows one count."""
    _, first, unit = np.unique(np.asarray(cut_no), return_index=True, return_inverse=True)
    unit = unit.ravel()
    if len(unit) != weights.shape[1]:
        raise ValueError(f"cut_no has {len(unit)} windows, weights {weights.shape[1]}")
    counts = weights[:, first]
    if not np.array_equal(counts[:, unit], weights):
        raise ValueError("weights give windows of one cut different counts")
    return counts, unit


def _windows(abnormal: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    abnormal = np.asarray(abnormal, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    if abnormal.ndim != 1 or scores.ndim not in (1, 2) or scores.shape[-1:] != abnormal.shape:
        raise ValueError(f"scores {scores.shape} do not match abnormal {abnormal.shape}")
    return abnormal, scores


# ---------------------------------------------------------------------------------------------
# resampling cuts


def cluster_weights(
    cut_no: np.ndarray, abnormal: np.ndarray, resamples: int, seed: int
) -> np.ndarray:
    """(resamples, n) counts of a bootstrap of cuts, stratified by abnormal / other cuts.

    A drawn cut brings all its windows, each as many times as the cut was drawn. The cuts
    holding any abnormal window and the others are drawn separately, each as many as it has,
    so every row keeps abnormal windows when the split has any. Same inputs and seed, same
    weights (``bootstrap_interval`` draws these very weights).
    """
    unit = _units(cut_no)
    return _cut_counts(unit, np.asarray(abnormal, dtype=bool), resamples, seed)[:, unit]


def _units(cut_no: np.ndarray) -> np.ndarray:
    return np.unique(np.asarray(cut_no), return_inverse=True)[1].ravel()


def _cut_counts(unit: np.ndarray, abnormal: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """(resamples, cuts) times each cut is drawn, stratum by stratum (abnormal cuts first)."""
    if len(unit) != len(abnormal):
        raise ValueError(f"cut_no has {len(unit)} windows, abnormal {len(abnormal)}")
    rng = np.random.default_rng(seed)
    k = int(unit.max(initial=-1)) + 1
    holds_abnormal = np.zeros(k, dtype=bool)
    holds_abnormal[unit[abnormal]] = True
    offsets = k * np.arange(resamples)[:, np.newaxis]
    counts = np.zeros(resamples * k, dtype=np.int64)
    for stratum in (np.flatnonzero(holds_abnormal), np.flatnonzero(~holds_abnormal)):
        if len(stratum):
            drawn = stratum[rng.integers(0, len(stratum), size=(resamples, len(stratum)))]
            counts += np.bincount((drawn + offsets).ravel(), minlength=resamples * k)
    return counts.reshape(resamples, k)


def bootstrap_interval(
    abnormal: np.ndarray,
    scores: np.ndarray,
    cut_no: np.ndarray,
    metrics: Sequence[str] = METRIC_NAMES,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, tuple[float, float]]:
    """Percentile interval of each metric over a stratified bootstrap of cuts.

    ``scores`` is (n,) or (draws, n) for a space whose coding is sampled: a resample's value
    is then the mean over draws of its metric, as the point value is. One weights matrix
    serves every metric and draw. (nan, nan) where the metric is undefined in every resample;
    ``resamples`` 0 turns the bootstrap off: {}. For cut-level arrays (``cut_level``), pass
    the cut ids as ``cut_no``: each cut is then its own cluster.
    """
    return CutBootstrap(abnormal, cut_no, resamples, seed).interval(scores, metrics, level)


class CutBootstrap:
    """The stratified resamples of one split's cuts, drawn once: every score of the split
    (each space, draw and metric) is judged on the same resamples, and, the draw depending on
    the cuts and the seed only, so is every model scored on the same data."""

    def __init__(
        self, abnormal: np.ndarray, cut_no: np.ndarray, resamples: int = 1000, seed: int = 0
    ) -> None:
        if resamples < 0:
            raise ValueError(f"resamples must be >= 0, got {resamples}")
        self.abnormal = np.asarray(abnormal, dtype=bool)
        self.resamples = resamples
        if resamples:
            unit = _units(cut_no)
            counts = _cut_counts(unit, self.abnormal, resamples, seed)
            self._units = _Units.of(counts, unit, self.abnormal)

    def interval(
        self, scores: np.ndarray, metrics: Sequence[str] = METRIC_NAMES, level: float = 0.95
    ) -> dict[str, tuple[float, float]]:
        """As :func:`bootstrap_interval`, for scores of this split's windows (or cuts)."""
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        values = self.replicates(scores, metrics)
        return {name: percentile_interval(v, level) for name, v in values.items()}

    def replicates(
        self, scores: np.ndarray, metrics: Sequence[str] = METRIC_NAMES
    ) -> dict[str, np.ndarray]:
        """Each metric's value in every resample, (resamples,) each: what an interval over
        several models (a configuration's seeds) needs, their resamples being the same."""
        unknown = sorted(set(metrics) - set(METRIC_NAMES))
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; known: {', '.join(METRIC_NAMES)}")
        if self.resamples == 0:
            return {}
        _, scores = _windows(self.abnormal, scores)
        draws = np.atleast_2d(scores)
        sums = {name: np.zeros(self.resamples) for name in metrics}
        for draw in draws:
            for name, values in _metrics(_UnitCounts(self._units, draw), metrics).items():
                sums[name] += values
        return {name: sums[name] / len(draws) for name in metrics}


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of resample values, (nan, nan) when all are NaN."""
    if np.isnan(values).all():
        return (np.nan, np.nan)
    tail = 100 * (1 - level) / 2
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return float(low), float(high)


# ---------------------------------------------------------------------------------------------
# cut-level unit


def cut_level(
    cut_no: np.ndarray, labels: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cut ids, cut labels, cut scores): each cut as one unit, its score its windows' mean.

    ``labels`` are per window (classes or abnormal flags); a cut's label is its windows'
    single label, and a cut whose windows disagree is refused (ValueError naming it), since
    its cut-level label would be arbitrary. ``scores`` (n,) or (draws, n) give (cuts,) or
    (draws, cuts).
    """
    cut_no, labels, scores = np.asarray(cut_no), np.asarray(labels), np.asarray(scores)
    if labels.shape != cut_no.shape or scores.shape[-1:] != cut_no.shape:
        raise ValueError(f"cut_no {cut_no.shape}, labels {labels.shape}, scores {scores.shape}")
    ids, first, unit = np.unique(cut_no, return_index=True, return_inverse=True)
    unit = unit.ravel()
    cut_labels = labels[first]
    mixed = np.flatnonzero(labels != cut_labels[unit])
    if len(mixed):
        raise ValueError(f"cut {ids[unit[mixed[0]]]} holds windows of more than one label")
    draws = np.atleast_2d(scores).astype(np.float64)
    k = len(ids)
    offsets = k * np.arange(len(draws))[:, np.newaxis]
    sums = np.bincount((unit + offsets).ravel(), weights=draws.ravel(), minlength=k * len(draws))
    means = sums.reshape(len(draws), k) / np.bincount(unit, minlength=k)
    return ids, cut_labels, means if scores.ndim == 2 else means[0]
