"""A worker: claim the next waiting trial, train it in a child process, record it, repeat.

While the child trains, a thread records the trial's heartbeat; if the whole worker dies
(kill -9, a closed laptop, a Colab disconnect), the heartbeat stops and the next ``run``
fails the trial as stale and trains its configuration again. The child saves its model
(temporary directory, then rename) before the worker records anything: the database is
committed last.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

from search.job_process import TrialJob, job_process, result_path, start_job_server
from studies.ledger import Ledger
from studies.storage import StudyLocation, heartbeat_interval, open_storage


@dataclass(frozen=True)
class WorkerReport:
    worker: int
    completed: int
    failed: int


def work(
    location: StudyLocation, prepared: Path, worker: int, threads: int, run_id: str
) -> WorkerReport:
    """Train waiting trials until none is left; each claimed trial is marked with ``run_id``."""
    ledger = Ledger(open_storage(location, create=False))
    start_job_server()
    completed = failed = 0
    while (claimed := ledger.claim_next(run_id)) is not None:
        job = TrialJob(
            plan_index=claimed.plan_index,
            config=claimed.config,
            prepared=str(prepared),
            models_dir=str(location.models_dir),
            threads=threads,
            worker_pid=os.getpid(),
        )
        stem = f"trial-{claimed.plan_index:05d}-n{claimed.number}"
        outcome = _run_child(ledger, claimed.trial_id, job, location.logs_dir / stem)
        ledger.record_result(claimed, outcome)
        if outcome.get("status") == "completed":
            completed += 1
        else:
            failed += 1
    return WorkerReport(worker, completed, failed)


def _run_child(ledger: Ledger, trial_id: int, job: TrialJob, stem: Path) -> dict:
    """Run the job in a process of its own, beating the trial's heart until it ends."""
    job_path = stem.with_suffix(".job.json")
    job.write(job_path)
    stop = threading.Event()
    beat = threading.Thread(
        target=_beat, args=(ledger, trial_id, stop), name=f"heartbeat-{trial_id}", daemon=True
    )
    beat.start()
    child = job_process(job_path, stem.with_suffix(".log"))
    try:
        child.start()
        child.join()
        code = child.exitcode
    finally:
        stop.set()
        beat.join()
        if child.is_alive():  # interrupted: the job must not outlive its trial's claim
            child.terminate()
            child.join()
    result = result_path(job_path)
    if code == 0 and result.is_file():
        return json.loads(result.read_text())
    return {"status": "failed", "reason": _death(code)}


def _beat(ledger: Ledger, trial_id: int, stop: threading.Event) -> None:
    while not stop.wait(heartbeat_interval()):
        ledger.heartbeat(trial_id)


def _death(code: int) -> str:
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"training process killed by {name}{hint}"
    return f"training process exited with code {code}"
