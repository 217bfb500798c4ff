"""Issue 26 on real trainings: a SLURM array's tasks on one journal file, every command on a
journal study, kill -9 on a journal and resume, a time limit that checkpoints running trials
(workers pinned to GPUs meanwhile) and their resumption by a run of at most one trial."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from search import launch, run, status
from search.cli import main
from search.execution.ledger import CONFIG, PLAN_INDEX, REASON, Ledger
from search.execution.status import running_line
from studies.storage import locate, open_study
from tests.conftest import ROOT, SMOKE


def _spec(tmp_path: Path, epochs: int, patience: int | None = None) -> Path:
    text = SMOKE.read_text().replace("epochs = 3", f"epochs = {epochs}")
    text = text.replace("earlystop_patience = 2", f"earlystop_patience = {patience or epochs}")
    spec = tmp_path / f"smoke-{epochs}.toml"
    spec.write_text(text)
    return spec


def _trials(study: Path, storage: str | None = None) -> list:
    return Ledger(open_study(locate(study, storage))).trials()


def _assert_each_entry_completed_once(study: Path, storage: str | None, planned: int) -> None:
    trials = _trials(study, storage)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert sorted(t.user_attrs[PLAN_INDEX] for t in complete) == list(range(planned))
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    models = [p for p in (study / "models").iterdir() if not p.name.startswith(".")]
    assert sorted(p.name for p in models) == sorted(t.user_attrs["model_name"] for t in complete)


def _wait_for(condition, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError("timed out")


def test_three_slurm_tasks_on_one_journal_then_every_command_reads_it(tmp_path, capsys):
    study, journal = tmp_path / "study", tmp_path / "shared" / "study.journal"
    journal.parent.mkdir()
    storage = f"journal:{journal}"
    launch(study, _spec(tmp_path, 1), trials=4, storage=storage)
    script = tmp_path / "job.sh"
    args = ["--study", str(study), "--storage", storage]
    assert main(["slurm", *args, "--array", "0-2", "--gpus-per-task", "0", "--time", "30:00",
                 "--out", str(script)]) == 0  # fmt: skip
    text = script.read_text()
    assert "#SBATCH --array=0-2" in text and "#SBATCH --signal=B:TERM@120" in text
    assert "--until 25m" in text and "slurm-%A_%a.out" in text
    subprocess.run(["bash", "-n", str(script)], check=True)
    tasks = [  # the array's tasks, at once, as SLURM would start them
        subprocess.Popen(
            ["bash", str(script)],
            env={**os.environ, "SLURM_ARRAY_JOB_ID": "77", "SLURM_ARRAY_TASK_ID": str(task)},
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for task in range(3)
    ]
    outputs = [task.communicate(timeout=400)[0] for task in tasks]
    assert [task.returncode for task in tasks] == [0, 0, 0], outputs
    assert all("vae-search: task" in out and "of job 77" in out for out in outputs)
    _assert_each_entry_completed_once(study, storage, 4)
    assert not (study / "study.db").exists()
    capsys.readouterr()
    assert main(["status", *args]) == 0 and "4 planned: 4 complete" in capsys.readouterr().out
    assert main(["score", *args, "--repeats", "1", "--bootstrap", "20"]) == 0
    capsys.readouterr()
    assert main(["best", *args, "--format", "json"]) == 0
    ranked = json.loads(capsys.readouterr().out)
    assert len(ranked) == 4
    assert main(["export", *args, "--out", str(tmp_path / "r.csv")]) == 0
    with (tmp_path / "r.csv").open() as exported:
        rows = list(csv.DictReader(exported))
    assert sum(not row["baseline"] for row in rows) == 4  # and a row per baseline
    assert main(["report", *args, "--out", str(tmp_path / "report")]) == 0
    assert len(list((tmp_path / "report").glob("*.png"))) >= 5
    from search import dashboard_server

    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    server = dashboard_server(study, storage, port=free)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host, port = server.server_address[:2]
        with urllib.request.urlopen(f"http://{host}:{port}/api/studies", timeout=30) as answer:
            names = {s["study_name"] for s in json.loads(answer.read())["study_summaries"]}
    finally:
        server.shutdown()
        server.server_close()
    assert names == {"study", "study-scores"}  # the directory names its study


def test_kill_minus_nine_mid_trial_on_a_journal_then_resumed(tmp_path):
    study, storage = tmp_path / "killed", f"journal:{tmp_path / 'killed.journal'}"
    launch(study, _spec(tmp_path, 12), trials=2, storage=storage)
    env = {**os.environ, "VAE_SEARCH_HEARTBEAT": "1", "VAE_SEARCH_CHECKPOINT_SECONDS": "0"}
    command = [sys.executable, "-m", "search.cli", "run", "--study", str(study)]
    runner = subprocess.Popen(
        [*command, "--storage", storage, "--no-progress"],
        env=env,
        cwd=ROOT,
        start_new_session=True,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(lambda: any(r.progress.epoch >= 3 for r in status(study, storage).running))
    finally:
        os.killpg(runner.pid, signal.SIGKILL)
        runner.wait()
    assert [t.state.name for t in _trials(study, storage)].count("RUNNING") == 1
    os.environ["VAE_SEARCH_HEARTBEAT"] = "1"
    try:
        report = run(study, storage, progress=False)
    finally:
        del os.environ["VAE_SEARCH_HEARTBEAT"]
    assert not report.failures
    trials = _trials(study, storage)
    (killed,) = [t for t in trials if t.state.name == "FAIL"]
    assert killed.user_attrs[REASON].startswith(("worker gone", "heartbeat stopped"))
    (again,) = [t for t in trials if t.user_attrs.get("retry_of") == killed.number]
    assert again.user_attrs[CONFIG] == killed.user_attrs[CONFIG]
    log = study / "logs" / f"trial-{again.user_attrs[PLAN_INDEX]:05d}-n{again.number}.log"
    assert "resumed from the checkpoint after epoch" in log.read_text()
    _assert_each_entry_completed_once(study, storage, 2)


def test_a_time_limit_checkpoints_pinned_trials_which_then_resume(tmp_path, monkeypatch):
    study = tmp_path / "limited"
    # trials of more epochs than any machine trains by the limit: every run below ends at it
    launch(study, _spec(tmp_path, 100_000), trials=2)
    monkeypatch.setenv("VAE_SEARCH_GPUS", "0,1")  # two GPUs as far as the run can tell
    monkeypatch.setenv("VAE_SEARCH_CHECKPOINT_SECONDS", "1000")  # only the limit saves
    seen: dict[int, str] = {}  # each running trial's line in status, as status shows it
    ended = threading.Event()

    def watch() -> None:
        while not ended.wait(0.3):
            seen.update((r.number, running_line(r)) for r in status(study).running)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        report = run(study, progress=False, until="30s")
    finally:
        ended.set()
        watcher.join()
    lines = list(seen.values())
    assert sorted(line.split(", GPU ")[1][0] for line in lines) == ["0", "1"]  # status shows it
    assert report.lines()[-1] == (
        "time limit (30s) reached: 2 running trial(s) checkpointed and put back to waiting; "
        "2 planned training(s) left; run again to go on"
    )
    assert not report.failures and sum(w.stopped for w in report.workers) == 2
    stopped = [t for t in _trials(study) if t.state.name == "FAIL"]
    assert {t.user_attrs["gpu"] for t in stopped} == {"0", "1"}
    for trial in stopped:
        log = study / "logs" / f"trial-{trial.user_attrs[PLAN_INDEX]:05d}-n{trial.number}.log"
        text = log.read_text()
        assert f"gpu: CUDA_VISIBLE_DEVICES={trial.user_attrs['gpu']}" in text
        assert "end: time limit reached after epoch" in text
        assert "time limit" in trial.user_attrs[REASON]
    saved = list((study / "models" / ".checkpoints").glob("plan-*/state.npz"))
    assert len(saved) == 2
    monkeypatch.setenv("VAE_SEARCH_GPUS", "")
    # two workers, at most one trial: exactly one resumes, and the limit stops it again
    again = run(study, progress=False, workers=2, max_trials=1, until="25s")
    assert again.lines()[-1] == (
        "time limit (25s) reached and --max-trials 1 reached: 1 running trial(s) checkpointed "
        "and put back to waiting; 2 planned training(s) left; run again to go on"
    )
    trials, numbers = _trials(study), {t.number for t in stopped}
    (resumed,) = [t for t in trials if t.state.name == "FAIL" and t.number > max(numbers)]
    assert resumed.user_attrs["retry_of"] in numbers
    log = study / "logs" / f"trial-{resumed.user_attrs[PLAN_INDEX]:05d}-n{resumed.number}.log"
    assert "resumed from the checkpoint after epoch" in log.read_text()
    assert [t.state.name for t in trials].count("WAITING") == 2
