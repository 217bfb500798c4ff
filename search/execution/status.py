"""What a study stands at: its planned configurations by state, the trials running now and how
far each is, the best trial by the study's objective, and the pace."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from search.execution.ledger import (
    OBJECTIVE,
    Ledger,
    RunningTrial,
    configurations,
    entry_of,
    objective_of,
    plan_entries,
    put_back,
)
from search.execution.racing import raced_out
from studies.storage import heartbeat_interval, locate, open_study

ENTRY_STATES = ("complete", "running", "waiting", "failed")
OBJECTIVE_WORDS = {OBJECTIVE: "validation latent PR-AUC", "val_loss": "validation loss"}


@dataclass(frozen=True)
class StudyStatus:
    planned: int  # trainings: (configuration, seed) plan entries
    entries: dict[str, int]  # plan entries by the state of their latest attempt
    interrupted: dict[int, int]  # unfinished plan entries by how often they were interrupted
    running: tuple[RunningTrial, ...]
    best: tuple[float, int, str] | None  # the best trial's value, number and model name
    trials_per_hour: float | None
    configurations: int = 0  # planned configurations, each trained with one seed or more
    raced_out: int = 0  # configurations the race stopped before their last seed
    objective: str = OBJECTIVE  # what the trials' values are (ledger.objective_of)

    def lines(self) -> list[str]:
        states = ", ".join(f"{self.entries[s]} {s}" for s in ENTRY_STATES if self.entries.get(s))
        times = ", ".join(
            f"{n} interrupted {_times(k)}" for k, n in sorted(self.interrupted.items())
        )
        best = "none yet"
        if self.best is not None:
            value, number, model = self.best
            best = f"{value:.5g} (trial {number}, {model})"
        rate = "n/a" if self.trials_per_hour is None else f"{self.trials_per_hour:.1f}"
        lines = [f"{self.planned} planned: {states or 'none'}" + (f" ({times})" if times else "")]
        if self.configurations != self.planned:
            raced = f"; {self.raced_out} stopped by the race" if self.raced_out else ""
            lines[0] = (
                f"{self.configurations} configurations, {self.planned} trainings{raced}; "
                + (lines[0])
            )
        lines += [f"  {running_line(trial)}" for trial in self.running]
        return [
            *lines,
            f"best {OBJECTIVE_WORDS[self.objective]}: {best}",
            f"completed trials per hour: {rate}",
        ]


def running_line(trial: RunningTrial, now: float | None = None) -> str:
    """Where a running trial is: its epoch, best validation loss, time taken, and how long ago
    its last epoch ended (what tells a slow trial from a stuck one)."""
    now = time.time() if now is None else now
    progress = trial.progress
    elapsed = "" if trial.since is None else f", {duration(now - trial.since.timestamp())} in"
    head = f"trial {trial.number} (plan entry {trial.entry}) on {trial.where}"
    if progress.epoch == 0:
        return f"{head}: no epoch ended yet{elapsed}"
    best = (
        "no finite val_loss yet"
        if progress.best_val_loss is None
        else f"best val_loss {progress.best_val_loss:.5g} at epoch {progress.best_epoch}"
    )
    if progress.last_epoch_at is None:
        last = f"last epoch under {heartbeat_interval()} s ago"
    else:
        last = f"last epoch {duration(now - progress.last_epoch_at)} ago"
    ap = (
        ""
        if progress.val_latent_ap is None
        else f", val latent PR-AUC {progress.val_latent_ap:.3f}"
    )
    return f"{head}: epoch {progress.epoch}/{trial.epochs}, {best}{ap}{elapsed}, {last}"


def duration(seconds: float) -> str:
    """A duration as people read it: 45s, 3m 12s, 2h 05m."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


def study_status(ledger: Ledger) -> StudyStatus:
    trials = ledger.trials()
    attempts: dict = {}
    for trial in trials:
        if (entry := entry_of(trial)) is not None:
            attempts.setdefault(entry, []).append(trial)
    entries: Counter[str] = Counter()
    interrupted: Counter[int] = Counter()
    for tries in attempts.values():
        state = _entry_state({t.state.name for t in tries})
        entries[state] += 1
        stopped = sum(map(put_back, tries))
        if stopped and state != "complete":
            interrupted[stopped] += 1
    done = [t for t in trials if t.state.name == "COMPLETE" and t.value is not None]
    objective = objective_of(ledger.study)
    chosen = max if objective == OBJECTIVE else min
    top = chosen(done, key=lambda t: t.value, default=None)  # ties: the first, by number
    best = top and (top.value, top.number, str(top.user_attrs.get("model_name", "?")))
    rate = None
    if done:
        start = min(t.datetime_start for t in done if t.datetime_start)
        end = max(t.datetime_complete for t in done if t.datetime_complete)
        hours = max((end - start).total_seconds(), 1.0) / 3600
        rate = len(done) / hours
    return StudyStatus(
        len(plan_entries(trials)),
        dict(entries),
        dict(interrupted),
        tuple(RunningTrial.of(t) for t in trials if t.state.name == "RUNNING"),
        best,
        rate,
        len(configurations(trials)),
        len(raced_out(ledger.study.user_attrs)),
        objective,
    )


def _entry_state(states: set[str]) -> str:
    """A plan entry's state from its attempts': done once one completed, else the furthest."""
    for optuna_state, state in (("COMPLETE", "complete"), ("RUNNING", "running")):
        if optuna_state in states:
            return state
    return "waiting" if "WAITING" in states else "failed"


def status(study: str | Path, storage: str | None = None) -> StudyStatus:
    """The status of the study in directory ``study`` (or the database at ``storage``)."""
    ledger = Ledger(open_study(locate(study, storage)))
    return study_status(ledger)
