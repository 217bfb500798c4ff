"""The plan inside Optuna's ledger: one enqueued trial per planned configuration.

Each planned trial is enqueued as a waiting Optuna trial whose user attributes hold its plan
index and configuration; the study's user attributes hold the spec it was launched with, so a
second launch can extend the plan or refuse another spec. Counting and summaries for
``vae-search status`` read the same ledger.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from studies.storage import StudyError

PLAN_INDEX = "plan_index"
CONFIG = "config"


def spec_fingerprint(source: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}\n{source}".encode()).hexdigest()


def claim_spec(study, spec_source: str, seed: int, spec_name: str, where: str) -> bool:
    """Record the spec on first launch; on a later one refuse any other spec or seed.

    Returns True when this launch created the study's record.
    """
    fingerprint = spec_fingerprint(spec_source, seed)
    recorded = study.user_attrs.get("spec_fingerprint")
    if recorded is None:
        study.set_user_attr("spec_fingerprint", fingerprint)
        study.set_user_attr("spec_name", spec_name)
        study.set_user_attr("spec_text", spec_source)
        study.set_user_attr("plan_seed", seed)
        return True
    if recorded != fingerprint:
        raise StudyError(
            f"{where}: {spec_name} with seed {seed} is not what this study was launched with "
            f"({study.user_attrs.get('spec_name')}, seed {study.user_attrs.get('plan_seed')}); "
            "launch with that spec and seed to add trials, or use a new --study"
        )
    return False


def enqueued_indices(study) -> set[int]:
    return {
        int(t.user_attrs[PLAN_INDEX])
        for t in study.get_trials(deepcopy=False)
        if PLAN_INDEX in t.user_attrs
    }


def enqueue(study, index: int, config: dict[str, Any]) -> None:
    study.enqueue_trial(params={}, user_attrs={PLAN_INDEX: index, CONFIG: config})


@dataclass(frozen=True)
class StudyStatus:
    counts: dict[str, int]
    planned: int
    best_val_loss: float | None
    trials_per_hour: float | None

    def lines(self) -> list[str]:
        states = ", ".join(f"{state.lower()} {n}" for state, n in sorted(self.counts.items()))
        best = "none yet" if self.best_val_loss is None else f"{self.best_val_loss:.5g}"
        rate = "n/a" if self.trials_per_hour is None else f"{self.trials_per_hour:.1f}"
        return [
            f"planned trials: {self.planned} ({states or 'none'})",
            f"best validation loss: {best}",
            f"completed trials per hour: {rate}",
        ]


def study_status(study) -> StudyStatus:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    counts = Counter(t.state.name for t in trials)
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    best = min((t.value for t in done), default=None)
    rate = None
    if done:
        start = min(t.datetime_start for t in done if t.datetime_start)
        end = max(t.datetime_complete for t in done if t.datetime_complete)
        hours = max((end - start).total_seconds(), 1.0) / 3600
        rate = len(done) / hours
    planned = len({t.user_attrs[PLAN_INDEX] for t in trials if PLAN_INDEX in t.user_attrs})
    return StudyStatus(dict(counts), planned, best, rate)


def wall_clock() -> float:
    return time.time()
