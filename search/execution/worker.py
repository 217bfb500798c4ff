"""A worker: claim the next waiting trial, train it in a job process, record it, repeat.

A run's workers are threads of its process; each trains in job processes of the run's job
server (:mod:`search.execution.job_server`). While a job trains, a thread records the trial's
heartbeat; if the whole run dies (kill -9, a closed laptop, a Colab disconnect), the heartbeat
stops and the next ``run`` fails the trial as stale and trains its configuration again. The
job saves its model (temporary directory, then rename) before the worker records anything:
the database is committed last. A model the database cannot take (another run finished the
trial while this worker slept; a full disk under the database) is removed again: one
configuration, one model directory. A worker reaches the study through a directory descriptor
it holds (:func:`anchored`): a study moved or renamed during the run goes on where it now is.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from search.execution.budget import NO_LIMITS, RunLimits
from search.execution.job import (
    EpochRecord,
    TrialJob,
    TrialOutcome,
    TrialStatus,
    epochs_path,
    outcome_path,
    read_epochs,
)
from search.execution.job_server import Jobs
from search.execution.ledger import SCORE_EVERY, ClaimedTrial, Entry, Ledger, TrialProgress
from search.execution.racing import race
from studies.storage import (
    DB_FILE,
    StudyError,
    StudyLocation,
    database_error,
    heartbeat_interval,
    open_study,
)
from vae.scores import DEFAULT_SCORE_EVERY

EPOCH_POLL_SECONDS = 1.0  # how soon an epoch that ended shows in the study


@dataclass(frozen=True)
class WorkerReport:
    worker: int
    completed: int
    failures: tuple[tuple[Entry, str], ...]  # (plan entry, reason) of each failed training
    superseded: tuple[Entry, ...] = ()  # plan entries another run finished meanwhile
    stopped: int = 0  # trials stopped at the run's time limit, checkpointed, waiting again
    limit: str | None = None  # the limit that ended the worker's claims, where one did

    @property
    def failed(self) -> int:
        return len(self.failures)


def work(
    location: StudyLocation,
    prepared: Path,
    worker: int,
    threads: int,
    run_id: str,
    jobs: Jobs,
    gpu: str | None = None,
    limits: RunLimits = NO_LIMITS,
) -> WorkerReport:
    """Train waiting trials in ``jobs`` until none is left, ``limits`` allow no more, or the
    jobs are stopped; each claimed trial is marked with ``run_id``, and its job sees only
    ``gpu`` where one is given. ``prepared`` is the study's prepared data, found in its cache
    wherever the study is now."""
    with anchored(location) as here:
        prepared = here.cache_dir / prepared.name
        return _work(here, prepared, worker, threads, run_id, jobs, gpu, limits)


@contextlib.contextmanager
def anchored(location: StudyLocation) -> Iterator[StudyLocation]:
    """The study wherever it goes while the block runs: its directory through a descriptor
    this process holds (``/proc/PID/fd/N``, which the processes it starts can use as well),
    and so its files and its own SQLite database. A study moved or renamed during a run goes
    on where it now is, and nothing is written where it was (a path made again there would
    hold models no study records). Without ``/proc`` (not Linux), the location as it is."""
    if not Path(f"/proc/{os.getpid()}/fd").is_dir():
        yield location
        return
    descriptor = os.open(location.directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        here = Path(f"/proc/{os.getpid()}/fd/{descriptor}")
        own = location.is_sqlite and (
            Path(location.database_name).resolve() == (location.directory / DB_FILE).resolve()
        )
        url = _sqlite_url_as_given(here / DB_FILE) if own else location.url
        yield replace(location, directory=here, url=url)
    finally:
        os.close(descriptor)


def _sqlite_url_as_given(path: Path) -> str:
    """The SQLite URL of ``path`` as it is written (an anchored path must not be resolved)."""
    from sqlalchemy.engine import URL

    return URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)


def _work(
    location: StudyLocation,
    prepared: Path,
    worker: int,
    threads: int,
    run_id: str,
    jobs: Jobs,
    gpu: str | None,
    limits: RunLimits,
) -> WorkerReport:
    ledger = Ledger(open_study(location))
    completed = 0
    failures: list[tuple[Entry, str]] = []
    superseded: list[Entry] = []
    score_every = int(ledger.study.user_attrs.get(SCORE_EVERY, DEFAULT_SCORE_EVERY))
    stopped = 0
    limit = None
    while True:
        if limits.any and (limit := limits.refusal(ledger.mean_trial_seconds())):
            break
        if jobs.stopped or (claimed := _claim(ledger, run_id, location)) is None:
            break
        if gpu is not None:
            ledger.record_gpu(claimed.trial_id, gpu)
        job = TrialJob(
            plan_index=claimed.plan_index,
            seed_number=claimed.seed_number,
            score_every=score_every,
            config=claimed.config,
            prepared=str(prepared),
            models_dir=str(location.models_dir),
            threads=threads,
            worker_pid=os.getpid(),
            gpu=gpu,
            stop_at=limits.deadline,
        )
        stem = f"trial-{job.entry_stem}-n{claimed.number}"
        outcome = _run_child(ledger, claimed.trial_id, job, location.logs_dir / stem, jobs)
        if outcome is None:  # the run is stopping: it puts the trial back
            break
        if outcome.status is TrialStatus.STOPPED:
            stopped += ledger.put_back_stopped(claimed, f"the run's {outcome.reason}")
        elif outcome.status is TrialStatus.LOST:
            ledger.put_back_stopped(claimed, str(outcome.reason))
        elif not _record(ledger, claimed, outcome, location):
            _discard(outcome, location)
            removed = "; the model it saved is removed" if outcome.model_path else ""
            print(
                f"vae-search: trial {claimed.number} (plan entry {claimed.entry}) was "
                f"failed as stale and planned again by another run while this worker was "
                f"away{removed}",
                file=sys.stderr,
            )
            superseded.append(claimed.entry)
        elif outcome.completed:
            completed += 1
            race(ledger)
        else:
            failures.append((claimed.entry, str(outcome.reason)))
    return WorkerReport(worker, completed, tuple(failures), tuple(superseded), stopped, limit)


def _claim(ledger: Ledger, run_id: str, location: StudyLocation) -> ClaimedTrial | None:
    """The next waiting trial; a database that cannot take the claim (full disk, damaged file)
    ends the worker in one line, the trial put back to waiting as far as the database lets."""
    with _database_failure(location, "cannot claim a trial"):
        return ledger.claim_next(run_id)


def _record(
    ledger: Ledger, claimed: ClaimedTrial, outcome: TrialOutcome, location: StudyLocation
) -> bool:
    """Record the outcome; a database that cannot take it (full disk, damaged file) ends the
    worker in one line, its model removed so that none stays on disk unrecorded."""
    failure = _database_failure(
        location, f"cannot record trial {claimed.number}", lambda: _discard(outcome, location)
    )
    with failure:
        return ledger.record_result(claimed, outcome)


@contextlib.contextmanager
def _database_failure(
    location: StudyLocation, what: str, clean_up: Callable[[], None] = lambda: None
) -> Iterator[None]:
    """An error of the study database in the block becomes one line naming the database,
    ``what`` failed and why, after ``clean_up``: raised in a worker process, it reaches the
    run as that line (the database error itself would come without its cause)."""
    try:
        yield
    except Exception as exc:
        reason = database_error(exc)
        if reason is None:
            raise
        clean_up()
        raise StudyError(f"{shown_database(location)}: {what} ({reason})") from None


def shown_database(location: StudyLocation) -> str:
    """The database as people know it: an anchored SQLite file where it now is."""
    name = location.database_name
    return os.path.realpath(name) if location.is_sqlite else name


def _discard(outcome: TrialOutcome, location: StudyLocation) -> None:
    if outcome.model_path:
        shutil.rmtree(location.model_path(outcome.model_path), ignore_errors=True)


def _run_child(
    ledger: Ledger, trial_id: int, job: TrialJob, stem: Path, jobs: Jobs
) -> TrialOutcome | None:
    """Run the job in a process of its own, beating the trial's heart until it ends; None
    when the run stopped the jobs (the job ended unrecorded, or was never started)."""
    job_path = stem.with_suffix(".job.json")
    job.write(job_path)
    child = jobs.start(job_path, stem.with_suffix(".log"))
    if child is None:
        return None
    watch = _Watch(ledger, trial_id, epochs_path(job_path))
    watch.start()
    try:
        code = jobs.wait(child)
    finally:
        watch.stop()
    if jobs.stopped:
        return None
    if code is None:
        return TrialOutcome(TrialStatus.LOST, "the run's job server ended during the training")
    written = outcome_path(job_path)
    if code == 0 and written.is_file():
        return TrialOutcome.read(written)
    return TrialOutcome.failed(_death(code))


class _Watch(threading.Thread):
    """Beats a running trial's heart, and reports each epoch its job ends (one database write
    an epoch: its validation loss, which optuna-dashboard draws as the learning curve), until
    stopped; at each beat the trial's progress attribute is brought up to date too.

    A write the database cannot take (busy, full) is tried again at the next poll, and a missed
    beat is just that: the training goes on, and the outcome's recording says what is wrong.
    """

    def __init__(self, ledger: Ledger, trial_id: int, records: Path) -> None:
        super().__init__(name=f"watch-{trial_id}", daemon=True)
        self.ledger = ledger
        self.trial_id = trial_id
        self.records = records
        self.progress = TrialProgress()
        self._offset = 0
        self._unreported: list[EpochRecord] = []
        self._stopped = threading.Event()

    def stop(self) -> None:
        """Stop watching, once the epochs the job recorded to its end are reported."""
        self._stopped.set()
        self.join()

    def run(self) -> None:
        interval = heartbeat_interval()
        next_beat = time.monotonic() + interval
        recorded = self.progress
        while not self._stopped.wait(EPOCH_POLL_SECONDS):
            self._report_epochs()
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + interval
                with contextlib.suppress(Exception):
                    self.ledger.heartbeat(self.trial_id)
                    if self.progress != recorded:
                        self.ledger.record_progress(self.trial_id, self.progress)
                        recorded = self.progress
        self._report_epochs()
        if self.progress != recorded:
            with contextlib.suppress(Exception):
                self.ledger.record_progress(self.trial_id, self.progress)

    def _report_epochs(self) -> None:
        new, self._offset = read_epochs(self.records, self._offset)
        self._unreported += new
        while self._unreported:
            epoch = self._unreported[0]
            try:
                self.ledger.report_epoch(self.trial_id, epoch.epoch, epoch.val_loss)
            except Exception:
                return
            self.progress = self.progress.after(epoch)
            self._unreported.pop(0)


def _death(code: int) -> str:
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"training process killed by {name}{hint}"
    return f"training process exited with code {code}"
