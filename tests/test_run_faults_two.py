"""A second hostile user's pass over `vae-search run` (issue 27): Ctrl-C while the run starts,
SIGTERM's lines, a disk that fills while workers claim trials, more workers than the machine
holds.

Every case ends in one line, with the right exit code, nothing lost and no traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.common import descendants
from search import launch, run
from search.execution.ledger import Ledger
from studies.storage import locate, open_study
from tests.conftest import ROOT, SMOKE
from tests.test_faults import _small_file_system
from tests.test_run import (
    LONGER,
    _alive,
    _spec_with,
    _start_run,
    _states,
    _wait_for,
    _wait_for_an_epoch,
    assert_every_plan_entry_trained_once,
    trials_of,
)


def _starting(pid: int, marker: str, loaded: str) -> bool:
    """Whether a process below ``pid`` whose command line holds ``marker`` has started Python
    (its SIGINT handler is set: a SIGINT is no longer the silent death of a process just born,
    but an exception in whatever it imports then) and mapped a library whose path holds
    ``loaded``."""
    for child in descendants(pid):
        try:
            if marker not in Path(f"/proc/{child}/cmdline").read_text(errors="replace"):
                continue
            caught = Path(f"/proc/{child}/status").read_text().split("SigCgt:")[1].split()[0]
            maps = Path(f"/proc/{child}/maps").read_text()
        except (OSError, IndexError):
            continue
        if int(caught, 16) & 1 << (signal.SIGINT - 1) and loaded in maps:
            return True
    return False


def _wait_closely(condition, timeout: float = 120.0) -> None:
    """As ``_wait_for``, polling every 10 ms: a process's start-up is a short moment."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the run's start-up"
        time.sleep(0.01)


def _start_run_printing_lines(study: Path, *args: str) -> subprocess.Popen:
    """As ``_start_run``, with progress on: its stderr is no terminal, so the run prints a
    line per finished trial."""
    return subprocess.Popen(
        [sys.executable, "-m", "search.cli", "run", "--study", str(study), *args],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def _nothing_lost(study: Path, planned: int) -> None:
    """No trial left running, and every plan entry waits again or is complete."""
    assert "RUNNING" not in _states(study)
    by_entry: dict[int, set[str]] = {}
    for trial in trials_of(study):
        by_entry.setdefault(trial.user_attrs["plan_index"], set()).add(trial.state.name)
    assert sorted(by_entry) == list(range(planned))
    assert all(states & {"WAITING", "COMPLETE"} for states in by_entry.values()), by_entry


@pytest.mark.parametrize(
    ("signum", "process", "loaded"),
    [  # the job server starts Python, then imports TensorFlow and Keras; a closed terminal
        # sends SIGHUP
        pytest.param(signal.SIGINT, "forkserver", "", id="ctrl-c-job-server-python"),
        pytest.param(signal.SIGINT, "forkserver", "tensorflow", id="ctrl-c-job-server-tf"),
        pytest.param(signal.SIGHUP, "forkserver", "tensorflow", id="hangup-job-server"),
    ],
)
def test_a_stop_signal_while_the_run_starts_is_one_line(tmp_path, signum, process, loaded):
    """A terminal's Ctrl-C (or its closing) reaches the whole process group: while the job
    server starts, it ends the run in one line with the shell's exit code, every process
    gone, the plan whole."""
    study = tmp_path / "starting"
    launch(study, SMOKE, trials=2)
    runner = _start_run(study, "--workers", "2")
    try:
        _wait_closely(lambda: _starting(runner.pid, process, loaded))
        family = descendants(runner.pid)
        os.killpg(runner.pid, signum)
        _, stderr = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
    assert runner.returncode == 128 + signum
    assert f"interrupted by {signal.Signals(signum).name}" in _one_line(stderr)
    _wait_for(lambda: not [pid for pid in family if _alive(pid)], timeout=15)
    _nothing_lost(study, 2)


def test_sigterm_says_sigterm_and_counts_no_put_back_trial_as_finished(tmp_path):
    """SIGTERM to a run printing a line per finished trial (no terminal): the trials it puts
    back are neither "failed" nor "finished" there, the one line names SIGTERM, and so does
    the reason each put-back trial records."""
    study = tmp_path / "terminated"
    launch(study, _spec_with(tmp_path, training=LONGER), trials=2)
    runner = _start_run_printing_lines(study, "--workers", "2")
    try:
        _wait_for(lambda: _states(study).get("RUNNING", 0) == 2)
        _wait_for_an_epoch(study)
        runner.send_signal(signal.SIGTERM)
        _, stderr = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
    assert runner.returncode == 143
    assert "failed" not in stderr and "Traceback" not in stderr, stderr
    assert "interrupted by SIGTERM" in stderr.strip().splitlines()[-1]
    put_back = [t for t in trials_of(study) if t.state.name == "FAIL"]
    assert put_back and all("stopped by SIGTERM" in t.user_attrs["reason"] for t in put_back)
    _nothing_lost(study, 2)


def _fill(directory: Path, left_kib: int) -> Path:
    """A file taking all of ``directory``'s file system but ``left_kib`` KiB."""
    filler = directory / "filler"
    size = shutil.disk_usage(directory).free - left_kib * 1024
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.posix_fallocate(descriptor, 0, size)
    finally:
        os.close(descriptor)
    return filler


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_disk_that_fills_while_workers_claim_trials_leaves_no_trial_running(
    tmp_path, capsys, workers
):
    """The whole study on a disk with 150 KiB free (a trial's claim, or its recording, fails
    half-way): one line naming the database and the full disk, exit code 2; once there is
    room, the next run waits for no trial "running elsewhere" (each write of a claim that fails
    puts the trial back, or names a worker that the next run sees gone) and trains each
    configuration once."""
    with _small_file_system(tmp_path / "small", "64m") as small:
        study = small / "study"
        launch(study, SMOKE, trials=2)
        filler = _fill(small, 150)
        command = [sys.executable, "-m", "search.cli", "run", "--study", str(study)]
        full = subprocess.run(
            [*command, "--workers", workers, "--no-progress"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert full.returncode == 2
        line = _one_line(full.stderr)
        assert "study.db" in line and "full" in line, line
        filler.unlink()
        capsys.readouterr()
        run(study, workers=2, progress=False)
        assert "waiting for" not in capsys.readouterr().err
        assert_every_plan_entry_trained_once(study, 2)
        put_back = [
            t.user_attrs.get("reason", "") for t in trials_of(study) if t.state.name == "FAIL"
        ]
        assert not [reason for reason in put_back if "Ctrl-C" in reason], put_back


def test_more_workers_than_the_machine_holds_start_as_many_as_it_holds(tmp_path, capsys):
    """`--workers 64` where the machine holds fewer (two on two cores) starts as many as it
    holds and says so in one line; ``force`` starts every worker asked for; each finished job
    leaves its peak memory, which sizes a worker from then on; with fewer trials waiting than
    workers asked for, as many workers start; every CPU job is set up for all the cores, so
    its branches and weights do not depend on the workers beside it."""
    from search.cli import main
    from search.execution.run import Capacity  # (on 03e1e01: no such thing, nothing starts)

    study = tmp_path / "many"
    launch(study, SMOKE, trials=2)
    holds = Capacity.here(None).workers
    assert holds < 64
    assert main(["run", "--study", str(study), "--workers", "64", "--no-progress"]) == 0
    line = _one_line(capsys.readouterr().err)
    started = min(holds, 2)  # no more than the two trials waiting
    assert line.startswith(f"vae-search: 64 workers asked for, {started} started:"), line
    assert "--force" in line
    assert_every_plan_entry_trained_once(study, 2)
    ledger = Ledger(open_study(locate(study)))
    assert Capacity.here(ledger.peak_job_memory_mb()).measured
    launch(study, SMOKE, trials=3)
    report = run(study, workers=holds + 1, progress=False, force=True)
    assert len(report.workers) == holds + 1 and not capsys.readouterr().err
    assert_every_plan_entry_trained_once(study, 3)
    launch(study, SMOKE, trials=4)
    assert len(run(study, workers=2, progress=False).workers) == 1  # one trial waited
    (job,) = (study / "logs").glob("trial-00003-*.job.json")
    assert json.loads(job.read_text())["threads"] == (os.cpu_count() or 1)


def test_a_study_moved_while_a_trial_trains_goes_on_where_it_now_is(tmp_path):
    """`mv study moved` while trials train: the run follows the study (its files and its
    database), ends as it would have, and writes nothing where the study was."""
    study, moved = tmp_path / "study", tmp_path / "moved"
    launch(study, _spec_with(tmp_path, training=LONGER), trials=3)
    runner = _start_run(study, "--workers", "2")
    try:
        _wait_for_an_epoch(study)
        study.rename(moved)
        _, stderr = runner.communicate(timeout=600)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
    assert runner.returncode == 0 and not stderr.strip(), stderr
    assert not study.exists()
    assert_every_plan_entry_trained_once(moved, 3)
