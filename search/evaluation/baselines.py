"""Baselines ranked beside the β-VAEs: is a deep generative model needed here at all?

Three detectors a reviewer asks for first, fitted with scikit-learn on the same healthy
training windows as every β-VAE (flattened: window x signals values):

- ``pca``: reconstruction MSE through the first k principal components (linear compression),
  of the values as they are or standardised (each value z-scored against the healthy training
  windows, so a signal of small range counts as much as one of large range);
- ``isolation_forest``: minus scikit-learn's ``score_samples`` (shorter paths, more abnormal);
- ``energy``: each signal's energy in the window (mean square of its scaled values), z-scored
  against the healthy training windows and summed, either signed (more energy, more abnormal)
  or squared (any departure from healthy energy).

Each has a few settings, chosen as the search chooses, by validation PR-AUC (the ranking's
default metric, per window); the chosen one is scored by the scoring stage's own code
(:class:`~search.evaluation.units.SplitUnits`): the same metrics, per window and per cut,
with the same intervals over the same resampled cuts. Scores are stored as any model's, under
the baseline's name (``baseline-pca``...) and the space :data:`BASELINE_SPACE`, and the
settings with what each tried setting scored in ``vae_baselines``. They depend on the
prepared data only, so a study fits them once per scorer version and abnormal classes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from data_prep.prepared import PreparedData
from search.evaluation.names import DEFAULT_ABNORMAL, DEFAULT_METRIC, SPLITS
from studies.results import WINDOW, Ranked
from vae.metrics import METRICS

BASELINE_SPACE = "baseline"  # the space a baseline's one score is stored under
PREFIX = "baseline-"
# Fine enough that the baseline is not understated by its grid: every k a reviewer would try
# between 1 and 64, each with the values as they are and standardised.
PCA_COMPONENTS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16, 20, 24, 32, 40, 48, 64)
PCA_SETTINGS = [
    {"components": k, "standardised": standardised}
    for standardised in (False, True)
    for k in PCA_COMPONENTS
]
FOREST = {"n_estimators": 100, "random_state": 0}
FOREST_SETTINGS = [{"max_samples": s, "max_features": f} for s in (256, 1024) for f in (0.5, 1.0)]
ENERGY_MODES = ("signed", "squared")


def _flat(X: np.ndarray) -> np.ndarray:
    return X.reshape(len(X), -1).astype(np.float64)


def _principal_axes(train: np.ndarray) -> dict[bool, tuple[np.ndarray, ...]]:
    """By whether the values are standardised: their scale, the healthy windows' mean and
    their first principal axes (one fit serves every k)."""
    from sklearn.decomposition import PCA

    flat = _flat(train)
    axes = {}
    for standardised, scale in ((False, np.ones(flat.shape[1])), (True, flat.std(axis=0))):
        scale = np.where(scale > 0, scale, 1.0)
        components = min(max(PCA_COMPONENTS), *flat.shape)
        pca = PCA(n_components=components, random_state=0).fit(flat / scale)
        axes[standardised] = (scale, pca.mean_, pca.components_)
    return axes


def _pca(axes, components: int, standardised: bool) -> Callable[[np.ndarray], np.ndarray]:
    scale, mean, all_axes = axes[standardised]
    kept = all_axes[:components]

    def score(X: np.ndarray) -> np.ndarray:
        centred = _flat(X) / scale - mean
        residual = centred - (centred @ kept.T) @ kept
        return np.mean(residual**2, axis=1)

    return score


def _forest(train: np.ndarray, max_samples: int, max_features: float):
    from sklearn.ensemble import IsolationForest

    forest = IsolationForest(
        max_samples=min(max_samples, len(train)), max_features=max_features, **FOREST
    ).fit(_flat(train))
    return lambda X: -forest.score_samples(_flat(X))


def _energies(X: np.ndarray) -> np.ndarray:
    return np.mean(np.square(X, dtype=np.float64), axis=1)  # (n, signals)


def _healthy_energy(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    healthy = _energies(train)
    return healthy.mean(axis=0), healthy.std(axis=0) + 1e-12


def _energy(healthy: tuple[np.ndarray, np.ndarray], mode: str):
    mean, std = healthy

    def score(X: np.ndarray) -> np.ndarray:
        z = (_energies(X) - mean) / std
        return z.sum(axis=1) if mode == "signed" else np.square(z).sum(axis=1)

    return score


def _as_is(train: np.ndarray) -> np.ndarray:
    return train


@dataclass(frozen=True)
class Baseline:
    """A detector: what it learns once from the healthy training windows (``learn``), and a
    scorer of windows from that and one setting (``fit``), for each of ``settings``."""

    kind: str
    learn: Callable[[np.ndarray], Any]
    fit: Callable[..., Callable[[np.ndarray], np.ndarray]]
    settings: list[dict[str, Any]]

    @property
    def name(self) -> str:
        return PREFIX + self.kind.replace("_", "-")


BASELINES = (
    Baseline("pca", _principal_axes, _pca, PCA_SETTINGS),
    Baseline("isolation_forest", _as_is, _forest, FOREST_SETTINGS),
    Baseline("energy", _healthy_energy, _energy, [{"mode": m} for m in ENERGY_MODES]),
)


@dataclass(frozen=True)
class FittedBaseline:
    """A baseline with its setting chosen on validation: its window scores on every split."""

    name: str
    kind: str
    settings: dict[str, Any]
    tried: list[dict[str, Any]]  # each setting with its validation score
    window_scores: dict[str, np.ndarray]  # split -> (n,)
    seconds: float


def fit_baselines(data: PreparedData, abnormal: tuple[int, ...]) -> Iterator[FittedBaseline]:
    """Each baseline fitted on the healthy training windows, its setting the one with the best
    validation PR-AUC (average precision per window; ties: the first, the simplest).

    BLAS runs on one thread: on matrices this small (2,831 x 320 on the real data) its
    threads only wait for each other, and on a loaded machine a PCA fit took 7 s with two
    and 0.03 s with one."""
    import sklearn.decomposition
    import sklearn.ensemble  # noqa: F401  (both load their BLAS before the limit is set)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield from _fitted(data, abnormal)


def _fitted(data: PreparedData, abnormal: tuple[int, ...]) -> Iterator[FittedBaseline]:
    metric = METRICS[DEFAULT_METRIC]
    val_abnormal = np.isin(data.y_val, abnormal)
    for baseline in BASELINES:
        start = time.perf_counter()
        tried, best = [], None
        learned = baseline.learn(data.X_train_slim)
        for settings in baseline.settings:
            scorer = baseline.fit(learned, **settings)
            value = metric(val_abnormal, scorer(data.X_val))
            tried.append({**settings, f"val_{DEFAULT_METRIC}": value})
            if best is None or value > best[0]:
                best = (value, settings, scorer)
        _, settings, scorer = best
        scores = {split: scorer(data.split(split)[0]) for split in SPLITS}
        yield FittedBaseline(
            baseline.name,
            baseline.kind,
            settings,
            tried,
            scores,
            time.perf_counter() - start,
        )


def baselines_beside(
    study,
    storage: str | None = None,
    *,
    metric: str = DEFAULT_METRIC,
    unit: str = WINDOW,
    abnormal: Sequence[int] = DEFAULT_ABNORMAL,
    first: Ranked | None = None,
) -> list[Ranked]:
    """The study's scored baselines as ranking rows (rank 0, their ``config`` the baseline's
    kind and chosen settings), by validation ``metric`` over ``unit``, best first; ``tied``
    when a baseline's validation interval overlaps the ``first`` model's: the data cannot tell
    that model from the baseline."""
    from search.evaluation.ranking import check_abnormal
    from search.evaluation.scoring import SCORER_VERSION
    from studies.diagnostics import baselines
    from studies.results import abnormal_key, scores_by_model
    from studies.storage import locate, open_study

    engine = open_study(locate(study, storage)).engine
    key = abnormal_key(check_abnormal(abnormal))
    scores = scores_by_model(engine, SCORER_VERSION, key)
    rows = []
    for b in baselines(engine, SCORER_VERSION, key):
        found = {
            s.split: s
            for s in scores.get(b.name, [])
            if (s.space, s.metric, s.unit) == (BASELINE_SPACE, metric, unit)
        }
        val, test = found.get("val"), found.get("test")
        if val is None or val.value is None:
            continue
        tied = bool(
            first is not None
            and None not in (first.val_low, first.val_high, val.low, val.high)
            and val.high >= first.val_low
            and val.low <= first.val_high
        )
        rows.append(
            Ranked(
                rank=0,
                name=b.name,
                path="",
                config={"baseline": b.kind, **b.settings},
                val=val.value,
                val_std=None,
                val_low=val.low,
                val_high=val.high,
                test=getattr(test, "value", None),
                test_std=None,
                test_low=getattr(test, "low", None),
                test_high=getattr(test, "high", None),
                thresholds={},
                tied=tied,
            )
        )
    return sorted(rows, key=lambda r: -r.val)
