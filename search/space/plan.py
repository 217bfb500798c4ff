"""Plan a random search up front: every trial's configuration and seed, from the spec's seed.

Configurations come from scikit-learn's ``ParameterSampler``. Lists of choices are given to it
as distributions (:class:`search.space.spec.Choice`), so it always samples with replacement, lazily
and in a fixed order: the first N configurations of a seed never change, and launching again
with more trials extends the plan instead of reshuffling it. Exact duplicates are replaced by
the next new configuration, and configurations the data cannot take (a window not divisible
by 2^conv_layers) are skipped and counted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from data_prep.errors import check_integer
from search.space.spec import Choice, StudySpec
from vae.hyperparams import HyperparameterError, Hyperparameters

# Draws allowed per planned trial before the space is declared too small for the plan.
MAX_DRAWS_PER_TRIAL = 100


class PlanError(HyperparameterError):
    """The space cannot give as many distinct valid configurations as asked."""


@dataclass(frozen=True)
class PlannedTrial:
    index: int
    hyperparameters: Hyperparameters

    def key(self) -> str:
        """Canonical text of the configuration without its seed (what makes a duplicate)."""
        return configuration_key(self.hyperparameters)


@dataclass(frozen=True)
class Plan:
    trials: tuple[PlannedTrial, ...]
    skipped: int  # configurations drawn but unusable (window not divisible by 2^layers)
    duplicates: int  # exact repeats drawn and replaced


def configuration_key(hp: Hyperparameters) -> str:
    params = hp.to_dict()
    del params["seed"]
    return json.dumps(params, sort_keys=True)


def training_seed(study_seed: int, index: int, seed_number: int = 0) -> int:
    """The training seed of a configuration's ``seed_number``-th training, derived from (study
    seed, trial index, seed number) only; the first is (study seed, trial index)'s, as before
    a configuration had several."""
    entropy = [study_seed, index] if seed_number == 0 else [study_seed, index, seed_number]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def with_seed(config: dict, study_seed: int, index: int, seed_number: int) -> dict:
    """A planned configuration's hyperparameters for its ``seed_number``-th training."""
    return {**config, "seed": training_seed(study_seed, index, seed_number)}


def plan_trials(spec: StudySpec, trials: int | None = None, seed: int | None = None) -> Plan:
    """The first ``trials`` distinct valid configurations for ``seed`` (spec's by default)."""
    from sklearn.model_selection import ParameterSampler

    trials = spec.trials if trials is None else trials
    seed = spec.seed if seed is None else seed
    check_integer("trials", trials, 1)
    check_integer("seed", seed, 0, 2**32 - 1)
    # ParameterSampler needs at least one entry; a one-value distribution, not a list (a grid
    # of one point, which it warns is smaller than the draws asked for)
    space = spec.space or {"seed": Choice((0,))}
    max_draws = MAX_DRAWS_PER_TRIAL * trials
    draws = iter(ParameterSampler(space, n_iter=max_draws, random_state=seed))
    planned: list[PlannedTrial] = []
    seen: set[str] = set()
    skipped = duplicates = 0
    for drawn in draws:
        if len(planned) == trials:
            break
        params = {**spec.fixed, **{k: _plain(v) for k, v in drawn.items() if k != "seed"}}
        params["seed"] = training_seed(seed, len(planned))
        try:
            hp = Hyperparameters.from_dict(params)
            hp.check_window(spec.window)
        except HyperparameterError:
            skipped += 1
            continue
        key = configuration_key(hp)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        planned.append(PlannedTrial(index=len(planned), hyperparameters=hp))
    if len(planned) < trials:
        raise PlanError(
            f"{spec.path}: the space gave {len(planned)} distinct valid configurations in "
            f"{max_draws} draws, fewer than the {trials} trials asked "
            f"({duplicates} duplicates, {skipped} unusable)"
        )
    return Plan(trials=tuple(planned), skipped=skipped, duplicates=duplicates)


def _plain(value):
    """NumPy scalars and tuples from the sampler as plain Python values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value
