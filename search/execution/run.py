"""Run a study: start K workers (threads, training in the job processes of one job server),
watch the study, and stop cleanly on a signal.

While the workers train, a thread polls the study every two seconds: it shows the study's
progress (running trials' epochs, an ETA) and calls ``after_trial`` whenever a trial has
finished (the Colab notebook copies the SQLite database to Google Drive there). Ctrl-C (or a
notebook's interrupt), SIGTERM (what Colab, SLURM, systemd and ``timeout`` send) and SIGHUP (a
closed terminal) all end the workers and their training processes and put the trials this run
was training back to waiting at once, so the next ``run`` resumes them without waiting for their
heartbeats to go stale, and each records which signal stopped it. The run covers its start-up
too: a signal while the study opens or the workers and their job server start ends it the same
way. Signals that arrive while trials are being put back are ignored
(:mod:`search.execution.stopping`).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from data_prep.errors import check_integer
from search.execution.budget import NO_LIMITS, RunLimits
from search.execution.gpus import plan_gpus
from search.execution.job_server import Jobs
from search.execution.ledger import (
    LEGACY_OBJECTIVE,
    PLAN_INDEX,
    REASON,
    Entry,
    Ledger,
    RunningTrial,
    plan_entries,
    put_back,
    state_counts,
)
from search.execution.quiet import tensorflow_startup_filtered
from search.execution.racing import race, racing
from search.execution.status import duration, running_line
from search.execution.stopping import RunInterrupted, ignore_stop_signals, stop_signals_raise
from search.execution.worker import WorkerReport, anchored, work
from studies.storage import (
    StudyLocation,
    check_writable,
    locate,
    open_study,
)
from vae.storage import remove_stale_staging

AfterTrial = Callable[[dict[str, int]], None]
POLL_SECONDS = 2.0
WORKER_ESTIMATE_MB = 1536.0  # a worker's job, before one was measured
WORKER_OVERHEAD_MB = 256.0  # a worker's share of the run beside its job's peak
SUMMARY_SECONDS = 300.0  # without a terminal: a summary line this often


@dataclass(frozen=True)
class RunReport:
    workers: tuple[WorkerReport, ...]
    counts: dict[str, int]
    left_running: tuple[RunningTrial, ...] = ()  # trials of other runs not waited for
    completed_entries: frozenset[Entry] = frozenset()  # plan entries complete at the end
    left_entries: int = 0  # plan entries not complete at the end (waiting, running, failed)

    @property
    def failures(self) -> list[tuple[Entry, str]]:
        """(plan entry, reason) of this run's failed trainings whose entry is not complete
        (a failure retried within the spec's retries and then completed is not one)."""
        return [
            (index, reason)
            for w in self.workers
            for index, reason in w.failures
            if index not in self.completed_entries
        ]

    def lines(self) -> list[str]:
        done = sum(w.completed for w in self.workers)
        states = ", ".join(f"{k.lower()} {v}" for k, v in sorted(self.counts.items()))
        lines = [f"this run: {done} trials completed, {len(self.failures)} failed; study: {states}"]
        lines += [f"  failed: plan entry {index}: {reason}" for index, reason in self.failures]
        superseded = [i for w in self.workers for i in w.superseded]
        if superseded:
            lines.append(
                "  failed as stale and planned again by another run while a worker of this one "
                f"was away (its late results dropped): plan entries "
                f"{', '.join(map(str, superseded))}"
            )
        if self.left_running:
            lines.append("  left running elsewhere (not waited for):")
            lines += [f"    {trial.line()}" for trial in self.left_running]
        # each limit that ended a worker's claims, once, the one that stopped trials first
        by_stops = sorted(self.workers, key=lambda w: -w.stopped)
        limits = " and ".join(dict.fromkeys(w.limit for w in by_stops if w.limit))
        if limits:
            stopped = sum(w.stopped for w in self.workers)
            put_back = f"{stopped} running trial(s) checkpointed and put back to waiting; "
            lines.append(
                f"{limits}: {put_back if stopped else ''}{self.left_entries} planned "
                "training(s) left" + ("; run again to go on" if self.left_entries else "")
            )
        return lines


@tensorflow_startup_filtered()
def run(
    study: str | Path,
    storage: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    after_trial: AfterTrial | None = None,
    wait: bool = True,
    retry_failed: bool = False,
    force: bool = False,
    gpus: str | Sequence[str] | None = None,
    per_gpu: int = 1,
    until: str | None = None,
    max_trials: int | None = None,
) -> RunReport:
    """Train every waiting trial with ``workers`` parallel workers, resuming a dead run first.

    Trials that other runs are training (a live heartbeat) are waited for until they finish,
    or, once their heartbeat stops, trained here; ``wait=False`` leaves them (the report names
    them). ``retry_failed`` first plans again every configuration whose trainings all failed.
    ``after_trial(counts)`` is called with the study's trial counts by state after trials
    finish (at most every two seconds) and once at the end, also when the run is interrupted.
    A stop signal at any moment, start-up included, ends it with :class:`RunInterrupted`.
    More workers than the machine holds (:class:`Capacity`) start as many as it holds, said in
    one line, unless ``force``.

    ``workers`` defaults to one per GPU where the machine has GPUs, else 1. ``gpus`` (ids, or
    "all") pins ``per_gpu`` workers to each GPU named; on a machine with GPUs every worker is
    pinned to one (:mod:`search.execution.gpus`). ``until`` (2h30m, 17:45) and ``max_trials``
    limit the run: no trial starts that is not expected to end in time, and at the time limit
    running trials are checkpointed and put back to waiting (:mod:`search.execution.budget`).
    """
    if workers is not None:
        check_integer("workers", workers, 1)
    placement = plan_gpus(gpus, per_gpu, workers)
    run_id = uuid.uuid4().hex
    ledger: Ledger | None = None
    monitor: _Monitor | None = None
    pool: _Workers | None = None
    with stop_signals_raise(), contextlib.ExitStack() as study_held:
        tokens = Path(study_held.enter_context(tempfile.TemporaryDirectory(prefix="vae-run-")))
        limits = RunLimits.of(until, max_trials, tokens)
        if progress:  # at once, options checked: opening the study and workers take seconds
            _say(f"run of {study}: opening the study")
        try:
            location = locate(study, storage)
            opened = open_study(location)
            prepared = opened.prepared_file()
            check_writable(location)  # a read-only study is refused before workers start
            location = study_held.enter_context(anchored(location))  # (followed if moved)
            ledger = Ledger(open_study(location))
            if retry_failed:
                ledger.retry_failed()
            ledger.fail_stale_trials()  # trials of a dead run wait again, with their seeds
            race(ledger)  # seeds a run that ended before deciding them would have planned
            remove_stale_staging(location.models_dir)  # half-saved models of jobs killed mid-save
            pinned = sum(slot is not None for slot in placement.slots)
            started = _workers_to_start(placement.workers, force, ledger, pinned)
            if said := placement.line(started):
                _say(said)
            if progress:
                _say(f"starting {_workers_word(started)} on {ledger.waiting()} waiting trial(s)")
            pool = _Workers(started, placement.slots[:started], limits)
            if ledger.waiting() or racing(ledger):
                pool.jobs.serve()  # here, where a stop signal reaches it at once
            monitor = _Monitor(ledger, progress, after_trial, pool.count)
            monitor.start()
            reports = pool.train_until_done(ledger, location, prepared, run_id, wait)
        except BaseException as ended:
            ignore_stop_signals()  # a second signal cannot cut the release short
            if pool is not None:
                pool.kill()  # before the release: no job of this run saves a model after it
            signum = _stop_signal(ended)
            released = _release(ledger, run_id, _cause(ended, signum))
            if signum is not None:
                raise RunInterrupted(released, signum) from None
            raise
        finally:
            if monitor is not None:
                monitor.stop()  # after the release: after_trial sees the trials waiting again
        left = () if wait else tuple(ledger.running())
        completed = frozenset(ledger.completed_entries())
        planned = plan_entries(ledger.trials())
        return RunReport(tuple(reports), _counts(ledger), left, completed, len(planned - completed))


@dataclass(frozen=True)
class Capacity:
    """What this machine holds for workers: its cores, the memory available now, its GPUs,
    and the memory a worker takes with its job (the study's largest job measured, else an
    estimate)."""

    cores: int
    memory_mb: float
    gpus: int
    worker_mb: float
    measured: bool

    @classmethod
    def here(cls, peak_job_mb: float | None, gpu_slots: int = 0) -> Capacity:
        """``gpu_slots``: the pinned workers' GPU places (``--per-gpu`` of each GPU), which
        then count as the GPUs (0: the GPUs present, one job each)."""
        measured = peak_job_mb is not None
        worker_mb = peak_job_mb + WORKER_OVERHEAD_MB if measured else WORKER_ESTIMATE_MB
        gpus = gpu_slots or _gpus()
        return cls(_cores(), _available_memory_mb(), gpus, worker_mb, measured)

    @property
    def workers(self) -> int:
        """One worker per core, as many as the memory takes, one per GPU where there are
        GPUs (a job uses a whole GPU); at least one."""
        by_memory = int(self.memory_mb // self.worker_mb)
        return max(1, min(self.cores, by_memory, self.gpus or self.cores))

    def describe(self) -> str:
        how = "measured" if self.measured else "estimated: no job of the study measured yet"
        gpus = f", {self.gpus} GPU(s)" if self.gpus else ""
        return (
            f"{self.cores} cores, {self.memory_mb / 1024:.1f} GB memory available at "
            f"{self.worker_mb / 1024:.1f} GB a worker ({how}){gpus}"
        )


def _workers_to_start(asked: int, force: bool, ledger: Ledger, gpu_slots: int = 0) -> int:
    """The workers to start: those asked for, unless forced no more than the machine holds
    (said in one line), and no more than trials wait: a worker with no trial to train would
    only wait. A racing study plans seeds as trials end, so its waiting trials say nothing of
    the work to come."""
    if force:
        return asked
    capacity = Capacity.here(ledger.peak_job_memory_mb(), gpu_slots)
    holds = min(asked, capacity.workers)
    work = holds if racing(ledger) else max(1, ledger.waiting())  # (put back later: taken)
    started = min(holds, work)
    if asked > capacity.workers:
        _say(
            f"{asked} workers asked for, {started} started: this machine holds "
            f"{capacity.workers} ({capacity.describe()}); force starts them all (--force)"
        )
    return started


def _cores() -> int:
    """The cores this process may run on (a container's or a job scheduler's share)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _available_memory_mb() -> float:
    """Memory available to new processes without swapping (infinite where unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (ValueError, OSError, AttributeError):
        return math.inf


def _gpus() -> int:
    """NVIDIA GPUs present, of those ``CUDA_VISIBLE_DEVICES`` leaves visible."""
    try:
        present = len(list(Path("/proc/driver/nvidia/gpus").iterdir()))
    except OSError:
        return 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return present
    return min(present, len([device for device in visible.split(",") if device.strip()]))


class _Workers:
    """The run's workers: threads of this process, each training in job processes of the
    run's one job server (:class:`~search.execution.job_server.Jobs`). A stop signal reaches
    the main thread, which waits for them here: on any error or stop signal the run stops
    the jobs and waits for the workers to end before it puts their trials back."""

    def __init__(
        self,
        count: int,
        gpus: tuple[str | None, ...] = (),
        limits: RunLimits = NO_LIMITS,
    ) -> None:
        """Every job is set up for all the machine's cores, however many workers run: a
        training's branches and threads, and so its weights, do not depend on what trains
        beside it, nor on whether a GPU it was pinned to is there (the operating system
        shares the cores)."""
        self.count = count
        self.gpus = gpus or (None,) * count
        self.threads = os.cpu_count() or 1
        self.limits = limits
        self.jobs = Jobs()
        self._executor: ThreadPoolExecutor | None = None

    def train_until_done(
        self, ledger: Ledger, location: StudyLocation, prepared: Path, run_id: str, wait: bool
    ) -> list[WorkerReport]:
        """Train until nothing waits, then, with ``wait``, wait for trials running elsewhere
        and train those that come back."""
        reports: list[WorkerReport] = []
        while True:
            reports += self._train(location, prepared, run_id)
            limited = any(report.limit for report in reports)
            if limited or not (wait and _await_others(ledger, self.limits.deadline)):
                return reports

    def _train(self, location: StudyLocation, prepared: Path, run_id: str) -> list[WorkerReport]:
        self._executor = ThreadPoolExecutor(self.count, thread_name_prefix="vae-search-worker")
        futures = [
            self._executor.submit(
                work,
                location,
                prepared,
                i,
                self.threads,
                run_id,
                self.jobs,
                self.gpus[i],
                self.limits,
            )
            for i in range(self.count)
        ]
        for future in as_completed(futures):
            future.result()  # the first error ends the run at once
        self._executor.shutdown()
        return [future.result() for future in futures]

    def kill(self) -> None:
        """Kill the jobs, start no more, and wait until the workers have ended."""
        self.jobs.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)


def _stop_signal(ended: BaseException) -> int | None:
    """The signal that ended the run; None for anything else."""
    if isinstance(ended, KeyboardInterrupt):
        return getattr(ended, "signum", signal.SIGINT)
    return None


def _cause(ended: BaseException, signum: int | None) -> str:
    """How the run ended, for the reason its trials record."""
    if signum is not None:
        return f"the run was stopped by {signal.Signals(signum).name}"
    first = (str(ended).splitlines() or [type(ended).__name__])[0]
    return f"the run ended on an error ({first})"


def _release(ledger: Ledger | None, run_id: str, cause: str) -> int:
    """Put this run's trials back to waiting; when the database itself failed, their
    heartbeats going stale does it later."""
    if ledger is None:
        return 0
    try:
        return ledger.release(run_id, cause)
    except Exception:
        return 0


def _await_others(ledger: Ledger, deadline: float | None = None) -> bool:
    """Wait while trials run elsewhere and none waits; True when some wait again (their
    heartbeat stopped, or they were put back), False when none is left running or the run's
    time limit (``deadline``) has come."""
    others = ledger.running()
    if others:
        print(f"waiting for {len(others)} trial(s) running elsewhere:", file=sys.stderr)
        for trial in others:
            print(f"  {trial.line()}", file=sys.stderr)
    while others:
        if deadline is not None and time.time() >= deadline:
            return False
        time.sleep(POLL_SECONDS)
        ledger.fail_stale_trials()
        if ledger.waiting():
            return True
        others = ledger.running()
    return bool(ledger.waiting())


def _counts(ledger: Ledger) -> dict[str, int]:
    return state_counts(ledger.trials())


class _Monitor:
    """A thread polling the study: the progress display, and ``after_trial`` when trials
    finished.

    On a terminal the display is one bar: trials finished of those planned, the running
    trials' epochs and an ETA from the finished trials' durations. Elsewhere (nohup, Colab, CI
    logs) a redrawn bar is noise, so it prints a line per finished trial and a summary every
    few minutes instead. A trial put back to waiting (its run stopped, its worker vanished) is
    not finished: the display counts its configuration once, as the waiting trial it became.
    """

    def __init__(
        self, ledger: Ledger, progress: bool, after_trial: AfterTrial | None, workers: int
    ) -> None:
        self.ledger = ledger
        self.progress = progress
        self.after_trial = after_trial
        self.workers = workers
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="run-monitor", daemon=True)

    def start(self) -> None:
        if self.progress or self.after_trial:
            self._thread.start()

    def stop(self) -> None:
        """Stop watching; ``after_trial`` sees the final counts once more."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._call(_counts(self.ledger))

    def _watch(self) -> None:
        from tqdm import tqdm

        on_terminal = self.progress and sys.stderr.isatty()
        bar = tqdm(desc="trials", unit="trial", dynamic_ncols=True, disable=not on_terminal)
        seen: set[int] | None = None
        summary_due = time.monotonic() + SUMMARY_SECONDS
        with bar:
            while True:
                last = self._stop.is_set()  # one pass more once stopped: the final state
                every = self.ledger.trials()
                trials = [t for t in every if not put_back(t)]  # their configurations wait
                counts = state_counts(trials)
                finished = {t.number for t in trials if t.state.name in ("COMPLETE", "FAIL")}
                left = counts.get("WAITING", 0) + counts.get("RUNNING", 0)
                running = [RunningTrial.of(t) for t in trials if t.state.name == "RUNNING"]
                eta = _eta(trials, left, self.workers)
                if on_terminal:
                    bar.total, bar.n = len(finished) + left, len(finished)
                    bar.set_postfix_str(_postfix(counts, running, eta), refresh=True)
                elif self.progress and seen is not None:
                    by_number = {t.number: t for t in trials}
                    for number in sorted(finished - seen):
                        trial = by_number[number]
                        _say(_finished_line(trial, counts, left, eta, self.ledger.objective))
                    if time.monotonic() >= summary_due:
                        summary_due = time.monotonic() + SUMMARY_SECONDS
                        _say(f"{_counts_text(counts)}; eta {eta}")
                        for trial in running:
                            _say(f"  {running_line(trial)}")
                if not last and seen is not None and finished != seen:
                    self._call(state_counts(every))  # (and once more by stop)
                seen = finished
                if last:
                    return
                self._stop.wait(POLL_SECONDS)

    def _call(self, counts: dict[str, int]) -> None:
        """A failing ``after_trial`` (Drive gone for a moment) is reported, never fatal."""
        if self.after_trial is None:
            return
        try:
            self.after_trial(counts)
        except Exception as exc:
            print(f"vae-search: after-trial step failed: {exc}", file=sys.stderr)


def _eta(trials: list, left: int, workers: int) -> str:
    """The time the trials left take at the finished trials' mean duration, ``workers`` at a
    time ("?" before a trial has finished)."""
    durations = [
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in trials
        if t.state.name == "COMPLETE" and t.datetime_start and t.datetime_complete
    ]
    if not durations:
        return "?"
    return duration(sum(durations) / len(durations) * -(-left // workers))


def _postfix(counts: dict[str, int], running: list[RunningTrial], eta: str) -> str:
    epochs = " ".join(f"e{t.progress.epoch}/{t.epochs}" for t in running)
    return f"{_counts_text(counts)}" + (f" [{epochs}]" if epochs else "") + f" eta {eta}"


def _counts_text(counts: dict[str, int]) -> str:
    names = (
        ("COMPLETE", "done"),
        ("FAIL", "failed"),
        ("RUNNING", "running"),
        ("WAITING", "waiting"),
    )
    return ", ".join(f"{label} {counts.get(state, 0)}" for state, label in names)


def _finished_line(trial, counts: dict[str, int], left: int, eta: str, objective: str) -> str:
    attrs = trial.user_attrs
    if trial.state.name == "COMPLETE":
        loss = attrs.get(LEGACY_OBJECTIVE)
        losses = "" if objective == LEGACY_OBJECTIVE or loss is None else f" (val_loss {loss:.5g})"
        what = (
            f"completed, {objective} {trial.value:.5g}{losses} "
            f"after {attrs.get('epochs_trained')} epochs"
        )
    else:
        what = f"failed: {attrs.get(REASON, '?')}"
    done = counts.get("COMPLETE", 0) + counts.get("FAIL", 0)
    return (
        f"trial {trial.number} (plan entry {attrs.get(PLAN_INDEX)}) {what}; "
        f"{done} finished, {left} left, eta {eta}"
    )


def _workers_word(count: int) -> str:
    return f"{count} worker" + ("s" if count != 1 else "")


def _say(line: str) -> None:
    print(f"vae-search: {line}", file=sys.stderr, flush=True)
