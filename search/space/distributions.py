"""The spec's search space as Optuna distributions, so optuna-dashboard can plot configurations.

Trials are planned up front and only enqueued in Optuna: no sampler ever calls ``suggest_*``,
so without this Optuna would know a configuration only as a user attribute, and the
dashboard's slice, parallel-coordinate and importance plots would be empty. At launch each
sampled hyperparameter gets one distribution, the same for every trial of the study (Optuna
requires that): a list of choices becomes categorical (a list value such as dilations as text,
"1,2,4"); a scipy.stats distribution becomes an int or float range over its support (its
central 99.9 % when the support is unbounded; log-scaled for loguniform).
"""

from __future__ import annotations

import math
from typing import Any

from search.space.spec import Choice, StudySpec

LOG_SCALED = ("loguniform", "reciprocal")


def param_value(value: Any) -> Any:
    """A configuration value as an Optuna param: lists (dilations) as text such as "1,2,4"."""
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return value


def space_distributions(spec: StudySpec) -> dict[str, str]:
    """Each sampled hyperparameter's Optuna distribution, as JSON text by name."""
    from optuna.distributions import distribution_to_json

    return {name: distribution_to_json(_distribution(dist)) for name, dist in spec.space.items()}


def _distribution(dist: Any):
    import scipy.stats
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(dist, Choice):
        return CategoricalDistribution([param_value(option) for option in dist.options])
    low, high = dist.support()
    if not (math.isfinite(low) and math.isfinite(high)):
        low, high = dist.interval(0.999)
    log = dist.dist.name in LOG_SCALED
    if isinstance(dist.dist, scipy.stats.rv_discrete):
        return IntDistribution(int(low), int(high), log=log)
    return FloatDistribution(float(low), float(high), log=log)
