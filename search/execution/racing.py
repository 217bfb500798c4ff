"""Racing a study's seeds: a configuration gets its next seed only while it can still reach the top.

With ``[study] racing = true`` each configuration starts with its first seed; when one of its
trainings completes, its next seed is planned unless the configuration has fallen behind the
leader for good. The comparison is paired over the fixed seed order every configuration shares
(seed 0, 1, 2, ...), as SMAC's intensification compares a challenger with the incumbent on the
same instances: the configuration's mean validation latent PR-AUC over its first n seeds
against the leader's over its first n, the leader being the configuration with the best such
mean among those with n seeds or more.

A seed's luck spans much of the metric's range, so a plain comparison of means would stop good
settings after one unlucky seed. A configuration stops only when it trails by more than
``RACING_Z`` standard errors of a difference of two n-seed means, with the seed's own standard
deviation pooled over the study's configurations with several seeds (before any has two, the
spread of all trainings, which also holds the settings' spread and so stops less). Optuna's
``WilcoxonPruner`` tests the same pairs by ranks, which cannot reject anything with the three
to five seeds a search affords (its smallest one-sided p-value at n = 3 is 0.125).

Decisions are taken when a training completes, on what is known then, and are final: a stopped
configuration keeps its finished trainings, and the study records why it stopped, one user
attribute per configuration (``raced_out <plan index>``: a finished trial's attributes cannot
change, and one attribute each keeps workers deciding at once from overwriting each other).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from search.execution.ledger import RACING, SEEDS, Entry, Ledger, enqueue_seed, entry_of
from vae.scores import MONITORED

RACED_OUT = "raced_out "  # study attribute, before a plan index: why the race stopped it
RACING_Z = 1.0  # standard errors a configuration may trail the leader by and race on
SCORE = MONITORED["latent"]  # the trainings' own validation latent PR-AUC (vae.monitor)


@dataclass(frozen=True)
class Verdict:
    """Whether a configuration races on, and why not."""

    goes_on: bool
    reason: str = ""


def racing(ledger: Ledger) -> bool:
    return bool(ledger.study.user_attrs.get(RACING, False))


def decide(index: int, scores: dict[int, list[float]], seeds: int, z: float = RACING_Z) -> Verdict:
    """The race's verdict on configuration ``index``, given every configuration's validation
    scores of its first seeds in order (``scores[i][r]``: seed r; NaN where undefined)."""
    own = scores[index]
    n = len(own)
    if n >= seeds:
        return Verdict(False, "")  # all its seeds are planned: nothing to decide
    rivals = {i: _mean(v[:n]) for i, v in scores.items() if i != index and len(v) >= n}
    rivals = {i: m for i, m in rivals.items() if math.isfinite(m)}
    mean = _mean(own)
    if not rivals:
        return Verdict(True)
    leader = max(rivals, key=rivals.get)
    if not math.isfinite(mean):
        return Verdict(False, f"no finite validation score in its first {n} seed(s)")
    margin = z * seed_sd(scores) * math.sqrt(2 / n)
    gap = rivals[leader] - mean
    if gap <= margin:
        return Verdict(True)
    return Verdict(
        False,
        f"raced out after {n} seed(s): mean val latent PR-AUC {mean:.3f}, {gap:.3f} below "
        f"plan entry {leader}'s {rivals[leader]:.3f} over the same seeds (margin {margin:.3f})",
    )


def seed_sd(scores: dict[int, list[float]]) -> float:
    """The seed's standard deviation pooled over configurations with two seeds or more; before
    there is one, the standard deviation of every score."""
    groups = [np.array(v, float) for v in scores.values()]
    groups = [g[np.isfinite(g)] for g in groups]
    if any(len(g) > 1 for g in groups):
        return math.sqrt(pooled_variance(groups))
    flat = np.concatenate(groups) if groups else np.empty(0)
    return float(flat.std(ddof=1)) if len(flat) > 1 else math.inf


def pooled_variance(groups: Sequence[np.ndarray]) -> float:
    """The variance within groups, pooled: the squares about each group's own mean over the
    degrees of freedom left (an empty group or a group of one adds neither). With a
    configuration's seeds as a group, the seed's variance."""
    groups = [g for g in groups if len(g)]
    squares = sum(float(((g - g.mean()) ** 2).sum()) for g in groups)
    return squares / sum(len(g) - 1 for g in groups)


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def race(ledger: Ledger) -> int:
    """Plan the next seed of every configuration whose seeds so far are done and which the
    race lets go on; mark the others' last trial with why they stopped. Returns how many seeds
    were planned. Idempotent: what has a decision (a next seed, or a reason) is left alone."""
    if not racing(ledger):
        return 0
    seeds = int(ledger.study.user_attrs.get(SEEDS, 1))
    trials = ledger.trials()
    done: dict[int, dict[int, object]] = {}
    pending: set[Entry] = set()
    stopped = set(raced_out(ledger.study.user_attrs))
    for trial in trials:
        entry = entry_of(trial)
        if entry is None:
            continue
        if trial.state.name == "COMPLETE":
            done.setdefault(entry.plan_index, {})[entry.seed_number] = trial
        elif trial.state.name in ("WAITING", "RUNNING"):
            pending.add(entry)
    scores = {i: _first_seeds(by_seed) for i, by_seed in done.items()}
    planned = 0
    plan_seed = int(ledger.study.user_attrs["plan_seed"])
    for index in sorted(scores):
        after = Entry(index, len(scores[index]))
        if index in stopped or after in pending or any(e.plan_index == index for e in pending):
            continue
        verdict = decide(index, scores, seeds)
        last = done[index][after.seed_number - 1]
        if verdict.goes_on:
            enqueue_seed(ledger.study, after, dict(last.user_attrs["config"]), plan_seed)
            planned += 1
        elif verdict.reason:
            ledger.study.set_user_attr(f"{RACED_OUT}{index}", verdict.reason)
    return planned


def raced_out(study_attrs: dict) -> dict[int, str]:
    """The configurations the race stopped, by plan index, with why."""
    return {
        int(key.removeprefix(RACED_OUT)): reason
        for key, reason in study_attrs.items()
        if key.startswith(RACED_OUT)
    }


def _first_seeds(by_seed: dict[int, object]) -> list[float]:
    """The scores of a configuration's seeds 0, 1, ... up to the first not completed."""
    values = []
    while len(values) in by_seed:
        value = by_seed[len(values)].user_attrs.get(SCORE)
        values.append(math.nan if value is None else float(value))
    return values
