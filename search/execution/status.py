"""What a study stands at: its plan's trials by state, the best validation loss, the pace."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from search.execution.ledger import Ledger, plan_indices, state_counts
from studies.storage import locate, open_storage


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


def study_status(ledger: Ledger) -> StudyStatus:
    trials = ledger.trials()
    done = [t for t in ledger.trials("COMPLETE") if t.value is not None]
    best = min((t.value for t in done), default=None)
    rate = None
    if done:
        start = min(t.datetime_start for t in done if t.datetime_start)
        end = max(t.datetime_complete for t in done if t.datetime_complete)
        hours = max((end - start).total_seconds(), 1.0) / 3600
        rate = len(done) / hours
    return StudyStatus(state_counts(trials), len(plan_indices(trials)), best, rate)


def status(study: str | Path, storage: str | None = None) -> StudyStatus:
    """The status of the study in directory ``study`` (or the database at ``storage``)."""
    ledger = Ledger(open_storage(locate(study, storage), create=False))
    return study_status(ledger)
