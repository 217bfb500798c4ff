"""Run a study: start K workers through joblib and show one progress bar over the study."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from search.launch import prepared_file
from search.worker import WorkerReport, work
from studies.ledger import Ledger, state_counts
from studies.storage import StudyError, locate, open_storage


@dataclass(frozen=True)
class RunReport:
    workers: tuple[WorkerReport, ...]
    counts: dict[str, int]

    def lines(self) -> list[str]:
        done = sum(w.completed for w in self.workers)
        failed = sum(w.failed for w in self.workers)
        states = ", ".join(f"{k.lower()} {v}" for k, v in sorted(self.counts.items()))
        return [f"this run: {done} trials completed, {failed} failed; study: {states}"]


def run(
    study: str | Path, storage: str | None = None, workers: int = 1, progress: bool = True
) -> RunReport:
    """Train every waiting trial with ``workers`` parallel workers, resuming a dead run first."""
    if workers < 1:
        raise StudyError(f"--workers must be >= 1, got {workers}")
    location = locate(study, storage)
    prepared = prepared_file(location)
    ledger = Ledger(open_storage(location, create=False))
    ledger.fail_stale_trials()  # trials of a dead run wait again, with their seeds
    threads = max(1, (os.cpu_count() or 1) // workers)
    from joblib import Parallel, delayed

    stop = threading.Event()
    bar = threading.Thread(target=_show_progress, args=(ledger, stop), daemon=True)
    if progress:
        bar.start()
    try:
        reports = Parallel(n_jobs=workers, backend="loky")(
            delayed(work)(location, prepared, i, threads) for i in range(workers)
        )
    finally:
        stop.set()
        if progress:
            bar.join()
    return RunReport(tuple(reports), _counts(ledger))


def _counts(ledger: Ledger) -> dict[str, int]:
    return state_counts(ledger.study.get_trials(deepcopy=False))


def _show_progress(ledger: Ledger, stop: threading.Event) -> None:
    """One bar over the study: finished / planned, with running and failed beside it."""
    from tqdm import tqdm

    with tqdm(desc="trials", unit="trial", dynamic_ncols=True) as bar:
        while True:
            counts = _counts(ledger)
            finished = counts.get("COMPLETE", 0) + counts.get("FAIL", 0)
            bar.total = finished + counts.get("WAITING", 0) + counts.get("RUNNING", 0)
            bar.n = finished
            bar.set_postfix(
                done=counts.get("COMPLETE", 0),
                failed=counts.get("FAIL", 0),
                running=counts.get("RUNNING", 0),
            )
            bar.refresh()
            if stop.wait(2.0):
                return
