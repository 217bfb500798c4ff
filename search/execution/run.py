"""Run a study: start K workers through joblib, watch the study, and stop cleanly on a signal.

While the workers train, a thread polls the study every two seconds: it shows the study's
progress (running trials' epochs, an ETA) and calls ``after_trial`` whenever a trial has
finished (the Colab notebook copies the SQLite database to Google Drive there). Ctrl-C (or a
notebook's interrupt), SIGTERM (what Colab, SLURM, systemd and ``timeout`` send) and SIGHUP (a
closed terminal) all end the workers and their training processes and put the trials this run
was training back to waiting at once, so the next ``run`` resumes them without waiting for their
heartbeats to go stale. Signals that arrive while trials are being put back are ignored
(:mod:`search.execution.stopping`).
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from data_prep.errors import check_integer
from search.execution.ledger import PLAN_INDEX, REASON, Ledger, RunningTrial, state_counts
from search.execution.status import duration, running_line
from search.execution.stopping import RunInterrupted, ignore_stop_signals, stop_signals_raise
from search.execution.worker import WorkerReport, work
from studies.storage import StudyError, locate, open_storage, prepared_file
from vae.storage import remove_stale_staging

AfterTrial = Callable[[dict[str, int]], None]
POLL_SECONDS = 2.0
SUMMARY_SECONDS = 300.0  # without a terminal: a summary line this often


@dataclass(frozen=True)
class RunReport:
    workers: tuple[WorkerReport, ...]
    counts: dict[str, int]
    left_running: tuple[RunningTrial, ...] = ()  # trials of other runs not waited for
    completed_entries: frozenset[int] = frozenset()  # plan entries complete at the end

    @property
    def failures(self) -> list[tuple[int, str]]:
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
        return lines


def run(
    study: str | Path,
    storage: str | None = None,
    workers: int = 1,
    progress: bool = True,
    after_trial: AfterTrial | None = None,
    wait: bool = True,
    retry_failed: bool = False,
) -> RunReport:
    """Train every waiting trial with ``workers`` parallel workers, resuming a dead run first.

    Trials that other runs are training (a live heartbeat) are waited for until they finish,
    or, once their heartbeat stops, trained here; ``wait=False`` leaves them (the report names
    them). ``retry_failed`` first plans again every configuration whose trainings all failed.
    ``after_trial(counts)`` is called with the study's trial counts by state after trials
    finish (at most every two seconds) and once at the end, also when the run is interrupted.
    """
    check_integer("workers", workers, 1)
    location = locate(study, storage)
    prepared = prepared_file(location)
    ledger = Ledger(open_storage(location, create=False))
    if retry_failed:
        ledger.retry_failed()
    ledger.fail_stale_trials()  # trials of a dead run wait again, with their seeds
    remove_stale_staging(location.models_dir)  # half-saved models of jobs killed mid-save
    threads = max(1, (os.cpu_count() or 1) // workers)
    run_id = uuid.uuid4().hex
    from joblib import Parallel, delayed

    reports: list[WorkerReport] = []
    monitor = _Monitor(ledger, progress, after_trial, workers)
    monitor.start()
    with stop_signals_raise():
        try:
            while True:
                reports += Parallel(n_jobs=workers, backend="loky")(
                    delayed(work)(location, prepared, i, threads, run_id) for i in range(workers)
                )
                if not (wait and _await_others(ledger)):
                    break
        except BaseException as stopped:
            ignore_stop_signals()  # a second signal cannot cut the release short
            released = _release(ledger, run_id)
            signum = _stop_signal(stopped)
            if signum is None:
                raise
            raise RunInterrupted(released, signum) from None
        finally:
            monitor.stop()  # after the release: after_trial sees the trials waiting again
    left = () if wait else tuple(ledger.running())
    return RunReport(tuple(reports), _counts(ledger), left, frozenset(ledger.completed_entries()))


def _stop_signal(stopped: BaseException) -> int | None:
    """The signal that ended the run: one the main process got, or the one that ended a
    worker (joblib then reports its exit codes); None for any other error."""
    if isinstance(stopped, KeyboardInterrupt):
        return getattr(stopped, "signum", signal.SIGINT)
    if type(stopped).__name__ == "TerminatedWorkerError":
        named = re.search(r"\b(SIG[A-Z]+)\b", str(stopped))
        if named is None:
            raise StudyError(
                "a worker process ended unexpectedly; its trials were put back to waiting "
                "(running the study again resumes it)"
            ) from None
        return signal.Signals[named.group(1)]
    return None


def _release(ledger: Ledger, run_id: str) -> int:
    """Put this run's trials back to waiting; when the database itself failed, their
    heartbeats going stale does it later."""
    try:
        return ledger.release(run_id)
    except Exception:
        return 0


def _await_others(ledger: Ledger) -> bool:
    """Wait while trials run elsewhere and none waits; True when some wait again (their
    heartbeat stopped, or they were put back), False when none is left running."""
    others = ledger.running()
    if others:
        print(f"waiting for {len(others)} trial(s) running elsewhere:", file=sys.stderr)
        for trial in others:
            print(f"  {trial.line()}", file=sys.stderr)
    while others:
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
    few minutes instead.
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
                trials = self.ledger.trials()
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
                        _say(_finished_line(by_number[number], counts, left, eta))
                    if time.monotonic() >= summary_due:
                        summary_due = time.monotonic() + SUMMARY_SECONDS
                        _say(f"{_counts_text(counts)}; eta {eta}")
                        for trial in running:
                            _say(f"  {running_line(trial)}")
                if not last and seen is not None and finished != seen:
                    self._call(counts)  # (and once more by stop)
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


def _finished_line(trial, counts: dict[str, int], left: int, eta: str) -> str:
    attrs = trial.user_attrs
    if trial.state.name == "COMPLETE":
        what = f"completed, val_loss {trial.value:.5g} after {attrs.get('epochs_trained')} epochs"
    else:
        what = f"failed: {attrs.get(REASON, '?')}"
    done = counts.get("COMPLETE", 0) + counts.get("FAIL", 0)
    return (
        f"trial {trial.number} (plan entry {attrs.get(PLAN_INDEX)}) {what}; "
        f"{done} finished, {left} left, eta {eta}"
    )


def _say(line: str) -> None:
    print(f"vae-search: {line}", file=sys.stderr, flush=True)
