"""Rankings that know the seed: configurations by their seeds' mean, and the seed's share.

One configuration of the paper's space spans most of the PR-AUC range by its training seed
alone, so a ranking of models mixes two things: how good a setting is, and how lucky its seed
was. :func:`best_configurations` ranks the settings: each configuration's models (one per
seed) are grouped, ranked by their mean validation score, and shown with the spread over seeds
and an interval that covers both the seeds and the cuts. The interval is a two-level bootstrap:
each resample draws the configuration's seeds with replacement and takes their values on one
resample of the split's cuts, which every model shares (the scoring stage keeps each score's
value in every resample: ``ModelScores.replicates``).

:func:`seed_share` says how much of the validation (or test) PR-AUC variance lies between
configurations rather than between seeds of one configuration: the one-way random-effects
intraclass correlation ICC(1) over configurations with several seeds, with a bootstrap interval
over configurations and seeds within them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from search.evaluation.bootstrap import percentile_interval
from search.evaluation.names import (
    DEFAULT_ABNORMAL,
    DEFAULT_METRIC,
    DEFAULT_SPACE,
    score_name,
)
from search.evaluation.ranking import best, check_abnormal
from search.evaluation.scoring import read_replicates
from search.execution.racing import pooled_variance
from studies.results import WINDOW, Ranked
from studies.storage import locate
from vae.ensemble import settings_of
from vae.hyperparams import Hyperparameters

RESAMPLES = 1000
LEVEL = 0.95


def configuration_of(config: dict[str, Any]) -> str:
    """What a model's configuration is without its seed, as text: models with the same one are
    seeds of one configuration. A configuration stored before a hyperparameter existed (such
    as ``learning_rate``) is completed as it was trained, so its later seeds join it."""
    settings = Hyperparameters.from_saved({**settings_of(config), "seed": 0}).to_dict()
    complete = {**config, **settings}
    return json.dumps({k: v for k, v in complete.items() if k != "seed"}, sort_keys=True)


@dataclass(frozen=True)
class Spread:
    """One split's score of a configuration over its seeds."""

    mean: float | None
    sd: float | None  # over seeds (None with one)
    low_seed: float | None  # the worst seed's value
    high_seed: float | None  # the best seed's
    low: float | None = None  # the interval over seeds and cuts
    high: float | None = None

    @classmethod
    def of(cls, values: Sequence[float | None], replicates: np.ndarray | None, seed: int):
        finite = np.array([v for v in values if v is not None and math.isfinite(v)], float)
        if not len(finite):
            return cls(None, None, None, None)
        sd = float(finite.std(ddof=1)) if len(finite) > 1 else None
        low = high = None
        if replicates is not None:
            low, high = two_level_interval(replicates, seed)
        return cls(float(finite.mean()), sd, float(finite.min()), float(finite.max()), low, high)


@dataclass(frozen=True)
class RankedConfiguration:
    """One configuration in a ranking by its seeds' mean validation score."""

    rank: int
    config: dict[str, Any]  # without the seed
    models: tuple[Ranked, ...]  # one per seed, best validation score first
    val: Spread
    test: Spread
    tied: bool = False  # its validation interval overlaps the first configuration's

    @property
    def seeds(self) -> int:
        return len(self.models)


def two_level_interval(
    replicates: np.ndarray, seed: int = 0, level: float = LEVEL
) -> tuple[float | None, float | None]:
    """The percentile interval of a configuration's mean score when both its seeds and the
    cuts are drawn again: ``replicates`` is (seeds, resamples of the cuts), the same cut
    resamples for every seed; each resample of the cuts draws the seeds with replacement."""
    seeds, resamples = replicates.shape
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, seeds, size=(resamples, seeds))
    with np.errstate(invalid="ignore"):
        means = np.nanmean(replicates[drawn, np.arange(resamples)[:, np.newaxis]], axis=1)
    low, high = percentile_interval(means, level)
    return (None, None) if math.isnan(low) else (low, high)


def best_configurations(
    study: str | Path,
    storage: str | None = None,
    *,
    n: int | None = 10,
    space: str = DEFAULT_SPACE,
    metric: str = DEFAULT_METRIC,
    abnormal: Sequence[int] = DEFAULT_ABNORMAL,
    unit: str = WINDOW,
    intervals: bool = True,
) -> list[RankedConfiguration]:
    """The ``n`` best configurations by their seeds' mean validation ``metric`` (as
    :func:`~search.evaluation.ranking.best` takes it), test beside it; those whose interval
    overlaps the first one's are marked tied with it. Without ``intervals`` the models' resample
    files are not read: means and SDs only, as a table of every model needs."""
    classes = check_abnormal(abnormal)
    ranked = best(study, storage, n=None, space=space, metric=metric, abnormal=classes, unit=unit)
    location = locate(study, storage)
    groups: dict[str, list[Ranked]] = {}
    for model in ranked:  # best first, so each group's models are too
        groups.setdefault(configuration_of(model.config), []).append(model)
    names = {split: score_name(split, space, unit, metric) for split in ("val", "test")}
    found = []
    for members in groups.values():
        stored = [
            read_replicates(location.model_path(m.path), classes) if intervals else {}
            for m in members
        ]
        spreads = {}
        for split, name in names.items():
            values = [getattr(m, split) for m in members]
            rows = [s.get(name) for s in stored]
            replicates = None if any(r is None for r in rows) else np.stack(rows)
            spreads[split] = Spread.of(values, replicates, seed=len(found))
        config = {k: v for k, v in members[0].config.items() if k != "seed"}
        found.append(RankedConfiguration(0, config, tuple(members), **spreads))
    found.sort(key=lambda c: -(c.val.mean if c.val.mean is not None else -math.inf))
    found = [replace(c, rank=i) for i, c in enumerate(found, start=1)][:n]
    return _mark_ties(found)


def _mark_ties(ranked: list[RankedConfiguration]) -> list[RankedConfiguration]:
    if not ranked or ranked[0].val.low is None:
        return ranked
    floor = ranked[0].val.low
    return [ranked[0]] + [
        replace(c, tied=c.val.high is not None and c.val.high >= floor) for c in ranked[1:]
    ]


def with_configuration_means(
    ranked: list[Ranked], configurations: Sequence[RankedConfiguration]
) -> list[Ranked]:
    """The models of a ranking with their configuration's mean validation score and seed count
    (how far each model sits from what its setting gives on average)."""
    means = {configuration_of(c.config): c for c in configurations}
    shown = []
    for model in ranked:
        group = means.get(configuration_of(model.config))
        if group is not None:
            model = replace(model, config_mean=group.val.mean, config_seeds=group.seeds)
        shown.append(model)
    return shown


# Why the seed's share cannot be measured where no configuration has two seeds
ONE_SEED_EACH = "cannot be measured with one seed per configuration (launch --seeds 2 or more)"


@dataclass(frozen=True)
class SeedShare:
    """The share of a score's variance that lies between configurations (ICC(1)), with its
    interval; the rest lies between seeds of one configuration."""

    split: str
    between_configurations: float | None
    low: float | None
    high: float | None
    configurations: int  # with two seeds or more, those the share is measured on
    trainings: int

    @property
    def unmeasured(self) -> str:
        """Why the share cannot be measured: it needs two configurations with two seeds each."""
        if self.configurations == 0:
            return ONE_SEED_EACH
        return (
            "cannot be measured with one configuration: it lies between configurations "
            "(a [space] of two or more, each with two seeds or more)"
        )

    def line(self) -> str:
        if self.between_configurations is None:
            return f"{self.split}: the seed's share of the variance {self.unmeasured}"
        between = self.between_configurations
        interval = "" if self.low is None else f" (95 % interval {self.low:.2f}-{self.high:.2f})"
        return (
            f"{self.split}: {between:.0%} of the variance lies between configurations, "
            f"{1 - between:.0%} between seeds of one configuration (ICC(1) {between:.2f}"
            f"{interval}; {self.configurations} configurations, {self.trainings} trainings)"
        )


def seed_share(configurations: Sequence[RankedConfiguration], split: str = "val") -> SeedShare:
    """How much of ``split``'s score variance lies between configurations, over those with two
    seeds or more."""
    groups = [
        np.array([getattr(m, split) for m in c.models if getattr(m, split) is not None], float)
        for c in configurations
    ]
    groups = [g[np.isfinite(g)] for g in groups]
    groups = [g for g in groups if len(g) > 1]
    trainings = sum(map(len, groups))
    if len(groups) < 2:
        return SeedShare(split, None, None, None, len(groups), trainings)
    rng = np.random.default_rng(0)
    resampled = []
    for _ in range(RESAMPLES):
        chosen = rng.integers(0, len(groups), len(groups))
        resampled.append(icc1([rng.choice(groups[i], len(groups[i])) for i in chosen]))
    finite = np.array([v for v in resampled if math.isfinite(v)])
    tail = 100 * (1 - LEVEL) / 2
    low, high = np.percentile(finite, [tail, 100 - tail]) if len(finite) else (None, None)
    return SeedShare(split, icc1(groups), _clip(low), _clip(high), len(groups), trainings)


def icc1(groups: Sequence[np.ndarray]) -> float:
    """One-way random-effects intraclass correlation ICC(1) of unbalanced groups, clipped to
    [0, 1]: the between-group share of the variance (ANOVA estimator, with the groups' size
    adjusted for imbalance)."""
    sizes = np.array([len(g) for g in groups], float)
    total, k = sizes.sum(), len(groups)
    grand = np.concatenate(groups).mean()
    means = np.array([g.mean() for g in groups])
    between = float((sizes * (means - grand) ** 2).sum() / (k - 1))
    within = pooled_variance(groups)
    n0 = (total - (sizes**2).sum() / total) / (k - 1)
    denominator = between + (n0 - 1) * within
    if denominator <= 0:
        return math.nan
    return float(min(1.0, max(0.0, (between - within) / denominator)))


def _clip(value) -> float | None:
    return None if value is None else float(min(1.0, max(0.0, value)))
