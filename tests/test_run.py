"""`vae-search run` on real SQLite studies: end to end, kill -9 and resume, four workers.

Each trial really trains (tiny models of the smoke spec, 3 epochs) in its own process.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks.common import descendants
from search import RunInterrupted, launch, run, status
from search.execution.ledger import CONFIG, PLAN_INDEX, Ledger
from search.execution.status import running_line
from studies.storage import locate, open_study
from tests.conftest import ROOT, SMOKE, modules_loaded_by
from vae.storage import load_model, read_manifest
from vae.training import MAX_BRANCHES, MIN_EPOCHS_TO_SPLIT

LONGER = "epochs = 8\nearlystop_patience = 8"  # smoke trials outlasting a test's checks


def checkpoint_state(study_dir: Path, plan_index: int = 0) -> Path:
    """Where a running trial's checkpoint is saved."""
    return study_dir / "models" / ".checkpoints" / f"plan-{plan_index:05d}" / "state.npz"


def checkpoint_epochs(state: Path) -> int:
    """The epochs a checkpoint holds; 0 while there is none (or it is being replaced)."""
    import numpy as np

    try:
        with np.load(state) as saved:
            return json.loads(str(saved["meta"]))["epochs_done"]
    except (OSError, ValueError, KeyError):
        return 0


def trials_of(study_dir: Path):
    return Ledger(open_study(locate(study_dir))).study.get_trials(deepcopy=False)


def assert_every_plan_entry_trained_once(study_dir: Path, planned: int) -> None:
    trials = trials_of(study_dir)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    assert sorted(t.user_attrs[PLAN_INDEX] for t in complete) == list(range(planned))
    models = [p for p in (study_dir / "models").iterdir() if not p.name.startswith(".")]
    assert len(models) == planned  # no trial trained twice, no model under a half name
    for trial in complete:
        path = study_dir / trial.user_attrs["model_path"]
        assert path.parent == study_dir / "models"
        manifest = read_manifest(path)
        assert manifest["trial"] == trial.user_attrs[PLAN_INDEX]
        assert manifest["hyperparameters"] == trial.user_attrs[CONFIG]
        assert trial.value == pytest.approx(trial.user_attrs["val_latent_ap"])  # the objective
        # the times the search's overhead is measured with (benchmarks/bench_search.py)
        assert trial.user_attrs["build_time"] > 0 and trial.user_attrs["epoch_seconds"] > 0


def test_smoke_study_end_to_end(tmp_path):
    study = tmp_path / "smoke"
    launch(study, SMOKE)
    report = run(study, workers=2, progress=False)
    assert sum(w.completed for w in report.workers) == 3
    assert report.counts == {"COMPLETE": 3}
    assert_every_plan_entry_trained_once(study, 3)
    trial = trials_of(study)[0]
    assert trial.user_attrs["epochs_trained"] >= 1 and trial.user_attrs["param_count"] > 0
    model = load_model(study / trial.user_attrs["model_path"])
    assert model.hp.seed == trial.user_attrs[CONFIG]["seed"]
    logs = sorted((study / "logs").glob("*.log"))
    assert len(logs) == 3
    for trial in trials_of(study):  # the learning curve: each epoch's validation loss
        epochs = trial.user_attrs["epochs_trained"]
        assert sorted(trial.intermediate_values) == list(range(1, epochs + 1))
        assert trial.user_attrs["progress"]["epoch"] == epochs
        log = next(p for p in logs if p.name.endswith(f"-n{trial.number}.log")).read_text()
        assert f"Epoch {epochs}/3 - " in log and " - val_loss: " in log
        assert f"end: {epochs} epochs" in log and trial.user_attrs["model_name"] in log


def test_one_worker_trains_runs_of_ten_epochs_in_branches(tmp_path):
    """A worker's job sets TensorFlow up for the worker's cores before anything starts it (the
    job runs in a process forked from one that imported TensorFlow), so the split is used."""
    spec = _spec_with(tmp_path, training=f"epochs = {MIN_EPOCHS_TO_SPLIT}\nearlystop_patience = 50")
    study = tmp_path / "ten"
    data = ROOT.parent / "shared" / "data" / "milling"
    launch(study, spec, 1, data=data / "mill.mat", labels=data / "labels_with_tool_class.csv")
    run(study, workers=1, progress=False)
    (trial,) = trials_of(study)
    expected = min(os.cpu_count() or 1, MAX_BRANCHES)
    assert trial.user_attrs["branches"] == expected
    assert trial.user_attrs["epochs_trained"] == MIN_EPOCHS_TO_SPLIT
    manifest = read_manifest(study / trial.user_attrs["model_path"])
    assert manifest["training"]["branches"] == expected


def test_kill_minus_nine_then_resume(tmp_path):
    study = tmp_path / "killed"
    launch(study, SMOKE, trials=3)
    env = {**os.environ, "VAE_SEARCH_HEARTBEAT": "1"}
    command = [sys.executable, "-m", "search.cli", "run", "--study", str(study), "--no-progress"]
    worker = subprocess.Popen(command, env=env, start_new_session=True, cwd=ROOT)
    try:
        _wait_for(lambda: _states(study).get("COMPLETE", 0) >= 1 and _states(study).get("RUNNING"))
        time.sleep(1)  # into the next trial (smoke trials take 3-4 s: still running)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    before = _states(study)
    assert before.get("RUNNING") == 1 and before.get("COMPLETE", 0) >= 1
    completed_before = {
        t.number: t.user_attrs["model_path"] for t in trials_of(study) if t.state.name == "COMPLETE"
    }
    time.sleep(5)  # past the grace period of four missed heartbeats
    os.environ["VAE_SEARCH_HEARTBEAT"] = "1"
    try:
        run(study, workers=1, progress=False)
    finally:
        del os.environ["VAE_SEARCH_HEARTBEAT"]
    trials = {t.number: t for t in trials_of(study)}
    for number, path in completed_before.items():  # every completed trial stays as it was
        assert (
            trials[number].state.name == "COMPLETE"
            and trials[number].user_attrs["model_path"] == path
        )
    failed = [t for t in trials.values() if t.state.name == "FAIL"]
    assert len(failed) == 1  # the interrupted one ...
    retries = [t for t in trials.values() if t.user_attrs.get("retry_of") == failed[0].number]
    assert len(retries) == 1 and retries[0].state.name == "COMPLETE"  # ... trained again
    assert retries[0].user_attrs[CONFIG] == failed[0].user_attrs[CONFIG]  # same config and seed
    assert_every_plan_entry_trained_once(study, 3)


@pytest.mark.parametrize(
    ("signum", "code"),
    [  # Ctrl-C: test_a_second_signal_... and the notebook interrupt below
        (signal.SIGTERM, 143),
        (signal.SIGHUP, 129),
    ],
)
def test_a_stop_signal_puts_running_trials_back_and_ends_every_process(tmp_path, signum, code):
    """SIGTERM (Colab, SLURM, systemd, timeout) or SIGHUP to `vae-search run --workers 2`:
    the trials being trained wait again at once, the job server and its training processes
    end, and the command says so in one line, with the shell's exit code for the signal."""
    study = tmp_path / "interrupted"
    launch(study, SMOKE, trials=2)
    runner = _start_run(study, "--workers", "2")
    try:
        _wait_for(lambda: _states(study).get("RUNNING") and descendants(_job_server_of(runner.pid)))
        time.sleep(1)  # into the training
        family = descendants(runner.pid)
        runner.send_signal(signum)
        _, stderr = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
    assert runner.returncode == code
    last = stderr.strip().splitlines()[-1]
    assert f"interrupted by {signal.Signals(signum).name}" in last
    assert "put back to waiting" in last and "Traceback" not in stderr
    _wait_for(lambda: not [pid for pid in family if _alive(pid)], timeout=15)
    _assert_released(study)  # and, every process gone, no job trains on


def test_a_job_server_killed_under_its_jobs_costs_them_a_restart(tmp_path):
    """The run's job server reports its jobs' ends. Killed while jobs train (by hand, by the
    out-of-memory killer), it leaves them training orphaned: the run kills them, puts their
    trials back, starts a new server, trains them again, and ends as if nothing happened."""
    study = tmp_path / "server"
    launch(study, _spec_with(tmp_path, training=LONGER), trials=2)
    runner = _start_run(study, "--workers", "2")
    try:
        _wait_for_an_epoch(study)
        server = _job_server_of(runner.pid)
        jobs = descendants(server)
        assert server > 0 and jobs
        os.kill(server, signal.SIGTERM)
        _, stderr = runner.communicate(timeout=300)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
    assert runner.returncode == 0, stderr
    assert jobs and not [pid for pid in jobs if _alive(pid)]
    put_back = [t for t in trials_of(study) if t.state.name == "FAIL"]
    assert put_back and all("job server ended" in t.user_attrs["reason"] for t in put_back)
    assert_every_plan_entry_trained_once(study, 2)


def _job_server_of(pid: int) -> int:
    """The job server (multiprocessing's forkserver) of the run ``pid``; -1 before it starts."""
    for child in sorted(descendants(pid)):
        try:
            if "forkserver" in Path(f"/proc/{child}/cmdline").read_text(errors="replace"):
                return child
        except OSError:
            continue
    return -1


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_notebook_interrupt_releases_trials_then_the_study_resumes(tmp_path):
    """A notebook's interrupt is SIGINT to the kernel, a KeyboardInterrupt in its main thread,
    where the single worker runs: the job ends, the trials wait again, ``after_trial`` sees
    that last state (the Drive copy is current), and the next run trains every plan entry
    once."""
    study = tmp_path / "notebook"
    launch(study, _spec_with(tmp_path, training=LONGER), trials=2)
    seen: list[dict[str, int]] = []

    def interrupt_once_training() -> None:
        _wait_for_an_epoch(study)
        os.kill(os.getpid(), signal.SIGINT)  # what Jupyter sends its kernel

    threading.Thread(target=interrupt_once_training, daemon=True).start()
    with pytest.raises(RunInterrupted) as interrupted:
        run(study, workers=1, progress=False, after_trial=seen.append)
    assert interrupted.value.released == 1
    assert seen and "RUNNING" not in seen[-1] and seen[-1].get("WAITING", 0) >= 2
    _assert_released_and_no_job_trains_on(study)
    run(study, workers=2, progress=False)
    assert_every_plan_entry_trained_once(study, 2)


def _assert_released(study: Path) -> None:
    states = _states(study)
    assert "RUNNING" not in states and states.get("FAIL", 0) >= 1
    interrupted = [t for t in trials_of(study) if t.state.name == "FAIL"]
    assert all(t.user_attrs["reason"].startswith("interrupted") for t in interrupted)
    assert all(t.user_attrs["interrupted"] is True for t in interrupted)  # not a failed training


def _assert_released_and_no_job_trains_on(study: Path) -> None:
    _assert_released(study)
    models_then = set((study / "models").iterdir())
    time.sleep(8)  # a job still training would save its model meanwhile
    assert set((study / "models").iterdir()) == models_then


def test_four_workers_share_one_sqlite_study(tmp_path):
    study = tmp_path / "four"
    launch(study, SMOKE, trials=6)
    report = run(study, workers=4, progress=False, force=True)  # four on any machine
    assert sum(w.completed for w in report.workers) == 6
    assert sum(w.failed for w in report.workers) == 0  # "database is locked" would fail trials
    assert_every_plan_entry_trained_once(study, 6)
    per_worker = Counter(w.completed for w in report.workers)
    assert sum(per_worker.values()) == 4


def _start_run(study: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    """`vae-search run` on ``study`` in a process group of its own, Ctrl-C reaching it as in
    a terminal, its stderr captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "search.cli", "run", "--study", str(study), "--no-progress", *args],
        env=env,
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _states(study: Path) -> dict[str, int]:
    with sqlite3.connect(study / "study.db", timeout=60) as db:
        rows = db.execute("SELECT state, COUNT(*) FROM trials GROUP BY state").fetchall()
    return dict(rows)


def _wait_for(condition, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError("timed out waiting for the run to reach the expected state")


def _wait_for_an_epoch(study: Path) -> None:
    """Until a trial of ``study`` has trained an epoch (of :data:`LONGER`: far from its end)."""
    _wait_for(lambda: any(t.progress.epoch >= 1 for t in status(study).running))


def _stop_outside_a_write(pid: int, database: Path) -> None:
    """SIGSTOP to the process group ``pid``, at a moment none of it holds the SQLite write
    lock (a process stopped inside a write would lock every other run out: a test's artefact,
    since a sleeping laptop stops every process on it)."""
    while True:
        os.killpg(pid, signal.SIGSTOP)
        probe = sqlite3.connect(database, timeout=0.2, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:
            os.killpg(pid, signal.SIGCONT)
            time.sleep(0.1)
        finally:
            probe.close()


def test_a_copied_study_runs_where_it_lands(tmp_path):
    """The study directory carries its database, prepared data and models."""
    import shutil

    launch(tmp_path / "here", SMOKE, trials=2)
    shutil.copytree(tmp_path / "here", tmp_path / "there")
    shutil.rmtree(tmp_path / "here")
    run(tmp_path / "there", workers=1, progress=False)
    assert_every_plan_entry_trained_once(tmp_path / "there", 2)


def test_workers_do_not_import_tensorflow():
    # the run's process (its worker threads) must not spend its first seconds importing
    # TensorFlow beside the job server doing the same: only the jobs need it
    worker_side = (
        "import search.execution.run, search.execution.worker, search.execution.job_server"
    )
    assert modules_loaded_by(worker_side, ("tensorflow", "keras", "tcn")) == []


def _spec_with(tmp_path: Path, study: str = "", training: str = "") -> Path:
    """The smoke spec with lines added to its [study] and [training] tables (replacing what
    it fixed or sampled for the same keys)."""
    text = SMOKE.read_text()
    keys = [line.split("=")[0].strip() for line in training.splitlines()]
    text = "\n".join(t for t in text.splitlines() if t.split("=")[0].strip() not in keys)
    text = text.replace("[study]\n", f"[study]\n{study}\n")
    text = text.replace("[training]\n", f"[training]\n{training}\n")
    spec = tmp_path / "spec.toml"
    spec.write_text(text + "\n")
    return spec


def test_failed_trainings_exit_1_with_reasons_are_retried_within_budget_and_on_demand(
    tmp_path, capsys
):
    """A training that diverges (beta 1e38: the loss overflows) fails with its reason; the
    spec's ``retries = 1`` plans it once more at once; ``run --retry-failed`` plans it again
    later. Every attempt keeps its own reason, and the run exits 1 naming them."""
    from search.cli import main

    study = tmp_path / "failing"
    launch(study, _spec_with(tmp_path, "retries = 1", "beta_value = 1e38"), trials=1)
    assert main(["run", "--study", str(study), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "0 trials completed, 2 failed" in out
    assert out.count("failed: plan entry 0: non-finite loss") == 2
    assert _states(study) == {"FAIL": 2}
    assert main(["run", "--study", str(study), "--no-progress"]) == 0  # nothing left to train
    assert main(["run", "--study", str(study), "--no-progress", "--retry-failed"]) == 1
    attempts = [t for t in trials_of(study) if t.state.name == "FAIL"]
    assert len(attempts) == 3 and all("non-finite" in t.user_attrs["reason"] for t in attempts)
    assert all(t.user_attrs[CONFIG] == attempts[0].user_attrs[CONFIG] for t in attempts)


def test_a_sleeping_worker_that_wakes_up_after_its_trial_was_trained_again(tmp_path):
    """A run stopped past its heartbeat (a laptop asleep), its trial failed as stale (with the
    reason) and trained again by another run; when the first wakes up it says so in one line,
    removes the model it saved, and ends without a traceback: one model per configuration."""
    study = tmp_path / "asleep"
    launch(study, _spec_with(tmp_path, training=LONGER), trials=1)
    env = {**os.environ, "VAE_SEARCH_HEARTBEAT": "1"}
    command = [sys.executable, "-m", "search.cli", "run", "--study", str(study), "--no-progress"]
    sleeper = subprocess.Popen(
        command, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        _wait_for_an_epoch(study)
        _stop_outside_a_write(sleeper.pid, study / "study.db")
        time.sleep(6)  # past the grace period of four missed heartbeats
        os.environ["VAE_SEARCH_HEARTBEAT"] = "1"
        try:
            report = run(study, workers=1, progress=False)
        finally:
            del os.environ["VAE_SEARCH_HEARTBEAT"]
        assert sum(w.completed for w in report.workers) == 1
        os.killpg(sleeper.pid, signal.SIGCONT)
        _, stderr = sleeper.communicate(timeout=120)
    finally:
        if sleeper.poll() is None:
            os.killpg(sleeper.pid, signal.SIGKILL)
    assert sleeper.returncode == 0 and "Traceback" not in stderr
    assert "planned again by another run while this worker was away" in stderr
    assert "the model it saved is removed" in stderr
    (stale,) = [t for t in trials_of(study) if t.state.name == "FAIL"]
    assert stale.user_attrs["reason"].startswith("heartbeat stopped")
    assert_every_plan_entry_trained_once(study, 1)


def test_trials_running_elsewhere_are_waited_for_or_named(tmp_path, capsys):
    from search.cli import main

    study = tmp_path / "shared"
    launch(study, _spec_with(tmp_path, training=LONGER), trials=1)  # running through both checks
    command = [sys.executable, "-m", "search.cli", "run", "--study", str(study), "--no-progress"]
    other = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
    try:
        _wait_for(lambda: _states(study).get("RUNNING"))
        assert main(["run", "--study", str(study), "--no-progress", "--no-wait"]) == 0
        out = capsys.readouterr().out
        assert "left running elsewhere" in out and "trial 0 (plan entry 0) on " in out
        report = run(study, progress=False)  # waits for the other run's trial
        assert other.poll() is not None or _states(study) == {"COMPLETE": 1}
        assert sum(w.completed for w in report.workers) == 0
        assert "waiting for 1 trial(s) running elsewhere" in capsys.readouterr().err
        other.wait(timeout=60)
    finally:
        if other.poll() is None:
            os.killpg(other.pid, signal.SIGKILL)
    assert_every_plan_entry_trained_once(study, 1)


def test_an_interrupted_trial_resumes_from_its_checkpoint_and_ends_as_if_never_stopped(tmp_path):
    """A trial of 12 epochs stopped by Ctrl-C after its state was saved (every epoch here,
    every 30 s by default): the next run goes on from the checkpoint, and its model's weights
    are those of the same trial trained without a stop (same seed and cores)."""
    import numpy as np

    spec = _spec_with(tmp_path, training="epochs = 12\nearlystop_patience = 12")
    env = {**os.environ, "VAE_SEARCH_CHECKPOINT_SECONDS": "0"}
    command = [sys.executable, "-m", "search.cli", "run", "--no-progress", "--study"]
    interrupted, whole = tmp_path / "interrupted", tmp_path / "whole"
    for study in (interrupted, whole):
        launch(study, spec, trials=1)
    state = checkpoint_state(interrupted)

    def epochs_saved() -> int:
        return checkpoint_epochs(state)

    runner = _start_run(interrupted, env=env)
    try:
        # status lists the running trial with how far it is (each epoch reported as it ends)
        _wait_for(lambda: any(t.progress.epoch >= 2 for t in status(interrupted).running))
        (running,) = status(interrupted).running
        assert running.epochs == 12 and running.progress.epoch >= 2
        assert running.progress.best_epoch is not None
        assert f"epoch {running.progress.epoch}/12, best val_loss " in running_line(running)
        _wait_for(lambda: epochs_saved() >= 4)
        runner.send_signal(signal.SIGINT)
        runner.wait(timeout=60)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
    assert runner.returncode == 130 and 4 <= epochs_saved() < 12
    # a configuration counts once, however often it was interrupted
    assert status(interrupted).lines()[0] == "1 planned: 1 waiting (1 interrupted once)"
    for study in (interrupted, whole):
        subprocess.run([*command, str(study)], env=env, cwd=ROOT, check=True)
    (resumed,) = [t for t in trials_of(interrupted) if t.state.name == "COMPLETE"]
    (straight,) = [t for t in trials_of(whole) if t.state.name == "COMPLETE"]
    assert resumed.user_attrs["resumed_at"] >= 4 and straight.user_attrs["resumed_at"] == 0
    # the learning curve, an intermediate value per epoch (the resumed attempt's from where
    # it went on)
    assert sorted(straight.intermediate_values) == list(range(1, 13))
    went_on = resumed.user_attrs["resumed_at"] + 1
    assert sorted(resumed.intermediate_values) == list(range(went_on, 13))
    assert resumed.user_attrs["epochs_trained"] == straight.user_attrs["epochs_trained"]
    ours = load_model(interrupted / resumed.user_attrs["model_path"]).get_weights()
    theirs = load_model(whole / straight.user_attrs["model_path"]).get_weights()
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not state.parent.exists()  # the checkpoint goes with the finished attempt


def test_a_second_signal_during_the_release_loses_no_configuration(tmp_path):
    study = tmp_path / "twice"
    launch(study, SMOKE, trials=3)
    runner = _start_run(study, "--workers", "2")
    try:
        _wait_for(lambda: _states(study).get("RUNNING", 0) >= 2)
        time.sleep(2)
        runner.send_signal(signal.SIGINT)
        time.sleep(0.05)  # while the workers are being ended
        runner.send_signal(signal.SIGINT)
        _, stderr = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
    # 130 (or killed by SIGINT when the second one lands as Python shuts down: the same to a
    # shell); either way after the trials were put back
    assert runner.returncode in (130, -signal.SIGINT) and "Traceback" not in stderr
    assert "put back to waiting" in stderr
    by_entry: dict[int, set[str]] = {}
    for trial in trials_of(study):
        by_entry.setdefault(trial.user_attrs[PLAN_INDEX], set()).add(trial.state.name)
    assert sorted(by_entry) == [0, 1, 2]
    assert all(states & {"WAITING", "COMPLETE"} for states in by_entry.values()), by_entry
    assert "RUNNING" not in _states(study)


def test_a_trial_outcome_goes_through_its_file_unchanged(tmp_path):
    from search.execution.job import TrialOutcome, TrialStatus, outcome_path

    path = outcome_path(tmp_path / "trial-00001-n1.job.json")
    done = TrialOutcome(
        TrialStatus.COMPLETED, None, {"val_loss": 0.5, "epochs_trained": 3}, 1.5, "m", "models/m"
    )
    done.write(path)
    assert TrialOutcome.read(path) == done and done.completed
    TrialOutcome.failed("diverged").write(path)
    again = TrialOutcome.read(path)
    assert again.status is TrialStatus.FAILED and again.reason == "diverged"
    assert not again.completed and not replace(done, summary={}).completed  # no val_loss


def test_epoch_records_are_read_whole_and_a_damaged_line_is_passed_over(tmp_path):
    from search.execution.job import EpochRecord, read_epochs

    path = tmp_path / "trial.epochs.jsonl"
    first = EpochRecord(1, {"val_loss": 0.5}, 0.4, 1.0)
    first.append_to(path)
    with path.open("a") as lines:
        lines.write('{"epoch": 2, "lo\n')  # a write cut short, then the next one
    EpochRecord(3, {"val_loss": 0.25}, 0.4, 2.0).append_to(path)
    with path.open("a") as lines:
        lines.write('{"epoch": 4')  # still being written: left for the next read
    records, offset = read_epochs(path)
    assert [r.epoch for r in records] == [1, 3] and records[0] == first
    assert read_epochs(path, offset) == ([], offset)
    assert read_epochs(tmp_path / "none.jsonl") == ([], 0)
