"""Search throughput: the smoke spec with 1 and with 2 workers, in one run.

For each worker count, a fresh study of the smoke spec runs to the end. Per trial, overhead is
everything outside the training epochs: the trial's time from claim to record in the ledger
minus the seconds its epochs took (process start, data load, model build, saving, recording).
Prints overhead as a share of trial time, with the share of the model's build in it (Keras
creating the layers and variables of a new architecture, in the job's fresh process), trials
per hour over the whole run, and the run's start-up (until its first trial starts: the job
server imports TensorFlow), which the trials per hour include.
Goals: overhead at most 5 %; 2 workers on 2 cores at least 1.6x the trials per hour of one.

With ``--paper-trial``, the cost of checkpointing a trial's state (every 30 s of training, so
that an interrupted trial resumes instead of starting over) on one trial of the paper's size:
the paper's best configuration at batch 1024 with patience 50, trained by ``vae-search run``
with checkpoints and without, in the order ABBA... Goal: under 3 % of the trial's time.

With ``--storage``, the journal storage's cost (``--storage journal:PATH``, the study on a
shared file system without a server) against SQLite: the same smoke search with two workers
on each, alternated SQLite, journal, journal, SQLite (``--rounds``), trials per hour and the
seconds per trial outside its epochs (where the storage's writes are).

With ``--paper-rate``, trainings per hour of a paper-size configuration (the paper's best, batch
1024) with 1 and with 2 workers on this machine, alternated 1, 2, 2, 1: each run a fresh study
of ``--trials`` trials whose epochs are capped at ``--epochs`` (a paper trial runs 100-1000
epochs; the cap keeps the benchmark minutes long and measures the same per-epoch and
per-trial costs; divide by the epochs of a real trial to read trials per hour).

With ``--job-servers``, one job server per run (workers as threads of the run, TensorFlow
imported once) against the code of ``--baseline`` (a git revision; by default 01eda14, where
each worker was a process of its own with a job server of its own), alternated (``--rounds``):
``vae-search run --workers K --force`` of a fresh smoke study of ``--trials`` trials, each side
launched and run by its own code from a git worktree of it. Prints the run's seconds, the
seconds to its first trial's start, and the peak of the resident memory of the run's processes
summed.

    python benchmarks/bench_search.py [--trials 6] [--paper-trial [--rounds 2]]
    python benchmarks/bench_search.py --storage [--trials 6] [--rounds 2]
    python benchmarks/bench_search.py --paper-rate [--trials 3] [--epochs 10] [--rounds 2]
    python benchmarks/bench_search.py --job-servers [--workers 2] [--trials 4] [--rounds 2]
    python benchmarks/bench_search.py --start-up [--rounds 4]

With ``--start-up``, where a run's start-up goes, to its first epoch: ``vae-search run`` of a
fresh one-trial smoke study, its descriptor 2 a terminal (a pseudo-terminal: the progress line
redrawn) and a pipe (lines, as in a log), alternated: seconds from the command's start to its
first line, to the trial's claim (the job server ready: TensorFlow imported)
and to the trial log's first epoch line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import DATA, PAPER_BEST, descendants  # noqa: E402
from search import launch, run  # noqa: E402
from search.execution.ledger import Ledger  # noqa: E402
from studies.storage import locate, open_study  # noqa: E402

SMOKE = ROOT / "studies" / "smoke.toml"
PAPER_SPEC = ROOT / "studies" / "paper.toml"
PAPER_TRAINING = {
    "batch_size": 1024,
    "earlystop_patience": 50,
    "epochs": 2000,
    "batchnorm_momentum": 0.99,
}


class Figures(NamedTuple):
    overhead: float  # share of trial time outside the epochs
    build: float  # share of trial time building the model
    median_trial: float  # seconds
    per_hour: float  # trials per hour over the whole run, start-up included
    start_up: float  # seconds until the first trial started


def measure(
    workers: int,
    trials: int,
    root: Path,
    storage: str | None = None,
    spec: Path = SMOKE,
    runner=run,
) -> Figures:
    """The figures of one fresh study of ``spec`` run with ``workers`` workers (on
    ``storage``, else the study's SQLite file) by ``runner`` (``search.run``)."""
    study = root / f"workers-{workers}-{time.monotonic_ns()}"
    launch(study, spec, trials=trials, storage=storage)
    started_at = datetime.now()  # Optuna stamps trials with naive local times
    start = time.perf_counter()
    runner(study, storage, workers=workers, progress=False)
    elapsed = time.perf_counter() - start
    done = Ledger(open_study(locate(study, storage))).trials("COMPLETE")
    durations = [(t.datetime_complete - t.datetime_start).total_seconds() for t in done]
    epochs = [t.user_attrs["epoch_seconds"] for t in done]
    overhead = (sum(durations) - sum(epochs)) / sum(durations)
    build = sum(t.user_attrs["build_time"] for t in done) / sum(durations)
    start_up = (min(t.datetime_start for t in done) - started_at).total_seconds()
    per_hour = len(done) / elapsed * 3600
    return Figures(overhead, build, statistics.median(durations), per_hour, start_up)


def paper_spec(root: Path, epochs: int | None = None) -> Path:
    """A spec whose every trial is the paper's best configuration at the paper's training
    settings (its epochs capped at ``epochs``), each with its own seed; with ``epochs``, beta
    is drawn within 0.001 of the paper's, so that several trials are distinct configurations
    of the same work."""
    spec = root / f"paper-trial-{epochs}.toml"
    fixed = {**PAPER_BEST.to_dict(), **PAPER_TRAINING, **({"epochs": epochs} if epochs else {})}
    del fixed["seed"]  # the trial's own, from the study's seed
    space = ""
    if epochs:
        space = f"[space]\nbeta_value = {{ dist = 'uniform', loc = {fixed.pop('beta_value')}, "
        space += "scale = 0.001 }\n"
    lines = [f"{k} = {json.dumps(v)}" for k, v in fixed.items()]
    spec.write_text(
        PAPER_SPEC.read_text().split("[training]")[0].replace("../../shared", str(DATA.parents[1]))
        + "[training]\n"
        + "\n".join(lines)
        + "\n"
        + space
    )
    return spec


def paper_trial(root: Path, checkpoints: bool) -> tuple[float, float, float, int]:
    """(trial seconds, seconds saving checkpoints, seconds in epochs, epochs) of one
    paper-size trial."""
    study = root / f"paper-{'with' if checkpoints else 'without'}-{time.monotonic_ns()}"
    launch(study, paper_spec(root), trials=1, seed=1)
    never = {} if checkpoints else {"VAE_SEARCH_CHECKPOINT_SECONDS": "1e12"}
    command = [sys.executable, "-m", "search.cli", "run", "--study", str(study), "--no-progress"]
    subprocess.run(command, env={**os.environ, **never}, cwd=ROOT, check=True, capture_output=True)
    (trial,) = open_study(locate(study)).study.get_trials(deepcopy=False)
    seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
    attrs = trial.user_attrs
    return seconds, attrs["checkpoint_time"], attrs["epoch_seconds"], attrs["epochs_trained"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--paper-trial", action="store_true")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--storage", action="store_true", help="journal against SQLite")
    parser.add_argument("--paper-rate", action="store_true", help="paper-size trials per hour")
    parser.add_argument("--epochs", type=int, default=10, help="with --paper-rate (10)")
    parser.add_argument("--job-servers", action="store_true", help="one per run, one per worker")
    parser.add_argument("--workers", type=int, default=2, help="with --job-servers (2)")
    parser.add_argument("--baseline", default="01eda14", help="with --job-servers: a git revision")
    parser.add_argument("--start-up", action="store_true", help="a run's start to its 1st epoch")
    args = parser.parse_args()
    if args.start_up:
        start_up(args.rounds)
        return
    if args.job_servers:
        job_servers(args.baseline, args.workers, args.trials, args.rounds)
        return
    if args.storage:
        compare_storages(args.trials, args.rounds)
        return
    if args.paper_rate:
        paper_rate(args.trials, args.epochs, args.rounds)
        return
    if args.paper_trial:
        with tempfile.TemporaryDirectory() as tmp:
            order = [(True, False) if r % 2 == 0 else (False, True) for r in range(args.rounds)]
            runs = [(with_, paper_trial(Path(tmp), with_)) for pair in order for with_ in pair]
        print("one trial of the paper's best configuration, batch 1024, patience 50, seed 1")
        for with_, (seconds, saving, in_epochs, epochs) in runs:
            label = "with checkpoints   " if with_ else "without checkpoints"
            print(
                f"  {label} trial {seconds:6.1f} s ({epochs} epochs: {in_epochs:5.1f} s), "
                f"saving {saving:5.2f} s"
            )
        shares = [saving / seconds for with_, (seconds, saving, *_) in runs if with_]
        print(f"  checkpoints' share of the trial: {100 * max(shares):.2f} % at most (goal < 3 %)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        figures = {w: measure(w, args.trials, Path(tmp)) for w in (1, 2)}
    print(f"smoke spec, {args.trials} trials per run")
    for workers, f in figures.items():
        print(
            f"  {workers} worker(s): overhead {100 * f.overhead:5.1f} % of trial time "
            f"(model build {100 * f.build:4.1f} %; median trial {f.median_trial:5.1f} s), "
            f"{f.per_hour:6.0f} trials per hour (start-up {f.start_up:4.1f} s)"
        )
    speedup = figures[2].per_hour / figures[1].per_hour
    print(f"  2 workers / 1 worker: {speedup:.2f}x trials per hour (goal >= 1.6x)")
    worst = max(f.overhead for f in figures.values())
    print(f"  overhead goal <= 5 %: {'met' if worst <= 0.05 else 'NOT met'}")


def _alternated(a, b, rounds: int) -> list:
    """A B B A A B ...: machine speed drifts, so each side sees the same drift."""
    return [item for r in range(rounds) for item in ((a, b) if r % 2 == 0 else (b, a))]


def compare_storages(trials: int, rounds: int) -> None:
    """The smoke search on SQLite and on a journal, two workers, alternated."""
    results: dict[str, list[Figures]] = {"sqlite": [], "journal": []}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in _alternated("sqlite", "journal", rounds):
            journal = Path(tmp) / f"{time.monotonic_ns()}.journal"
            storage = f"journal:{journal}" if kind == "journal" else None
            results[kind].append(measure(2, trials, Path(tmp), storage))
    print(f"smoke spec, {trials} trials per run, 2 workers, SQLite and journal alternated")
    for kind, runs in results.items():
        for f in runs:
            outside = f.overhead * f.median_trial
            print(
                f"  {kind:8s} {f.per_hour:6.0f} trials per hour, median trial "
                f"{f.median_trial:5.2f} s, {outside:5.2f} s of it outside the epochs "
                f"({100 * f.overhead:4.1f} %)"
            )
    mean = {k: statistics.mean(f.per_hour for f in v) for k, v in results.items()}
    print(f"  journal / SQLite: {mean['journal'] / mean['sqlite']:.3f}x trials per hour")


def paper_rate(trials: int, epochs: int, rounds: int) -> None:
    """Paper-size trainings per hour with 1 and 2 workers, alternated 1 2 2 1."""
    results: dict[int, list[Figures]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        spec = paper_spec(Path(tmp), epochs)
        for workers in _alternated(1, 2, rounds):
            results[workers].append(measure(workers, trials, Path(tmp), spec=spec))
    print(
        f"paper's best configuration, batch 1024, {trials} trials per run, epochs capped at "
        f"{epochs}; 1 and 2 workers alternated"
    )
    for workers, runs in results.items():
        for f in runs:
            print(
                f"  {workers} worker(s): {f.per_hour:6.1f} trials per hour, median trial "
                f"{f.median_trial:5.1f} s (start-up {f.start_up:4.1f} s)"
            )
    mean = {k: statistics.mean(f.per_hour for f in v) for k, v in results.items()}
    print(f"  2 workers / 1 worker: {mean[2] / mean[1]:.2f}x trials per hour")


class RunFigures(NamedTuple):
    seconds: float  # the run's, from the command's start to its end
    start_up: float  # seconds until its first trial started
    peak_mb: float  # the peak of its processes' resident memory, summed


def run_by(code: Path, root: Path, workers: int, trials: int) -> RunFigures:
    """A fresh smoke study launched and run (``--workers``, forced) by the code in ``code``,
    each command a process of its own as from a shell, its processes' memory sampled."""
    study = root / f"study-{time.monotonic_ns()}"
    cli = [sys.executable, "-m", "search.cli"]
    launch_args = ["launch", "--study", str(study), "--spec", str(code / "studies" / "smoke.toml")]
    subprocess.run(
        [*cli, *launch_args, "--trials", str(trials)], cwd=code, check=True, capture_output=True
    )
    run_args = ["run", "--study", str(study), "--workers", str(workers), "--force"]
    started_at = datetime.now()  # Optuna stamps trials with naive local times
    start = time.perf_counter()
    process = subprocess.Popen(
        [*cli, *run_args, "--no-progress"],
        cwd=code,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peak = 0.0
    while process.poll() is None:
        peak = max(peak, _resident_mb({process.pid} | descendants(process.pid)))
        time.sleep(0.2)
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"run of {study} by {code} exited with {process.returncode}")
    done = Ledger(open_study(locate(study))).trials("COMPLETE")
    start_up = (min(t.datetime_start for t in done) - started_at).total_seconds()
    return RunFigures(seconds, start_up, peak)


def _resident_mb(pids: set[int]) -> float:
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total += next(
            (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0
        )
    return total / 1024


def job_servers(baseline: str, workers: int, trials: int, rounds: int) -> None:
    """This checkout's runs against the baseline revision's, alternated."""
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "baseline"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(old), baseline],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        try:
            sides = {"one job server per run": ROOT, f"one per worker ({baseline})": old}
            results: dict[str, list[RunFigures]] = {name: [] for name in sides}
            for name in _alternated(*sides, rounds):
                results[name].append(run_by(sides[name], Path(tmp), workers, trials))
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(old)],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
    print(
        f"smoke spec, {trials} trials, `vae-search run --workers {workers} --force` from a "
        "shell; the two codes alternated"
    )
    for name, runs in results.items():
        for r in runs:
            print(
                f"  {name:28s} run {r.seconds:6.1f} s, first trial at {r.start_up:5.1f} s, "
                f"peak memory {r.peak_mb:6.0f} MB"
            )
    new, old_name = list(results)
    for field in RunFigures._fields:
        mean = {k: statistics.mean(getattr(r, field) for r in v) for k, v in results.items()}
        print(f"  {field}: one per run / one per worker {mean[new] / mean[old_name]:.2f}x")


class StartUp(NamedTuple):
    first_line: float  # seconds from the command's start
    claimed: float
    first_epoch: float


def start_up_of(root: Path, terminal: bool) -> StartUp:
    """One ``vae-search run`` of a fresh one-trial smoke study, timed from outside."""
    import pty
    import threading

    study = root / f"start-up-{time.monotonic_ns()}"
    launch(study, SMOKE, trials=1)
    reading, writing = pty.openpty() if terminal else os.pipe()
    first_line: list[float] = []

    def read() -> None:
        while True:
            try:
                data = os.read(reading, 65536)
            except OSError:  # a pseudo-terminal whose writers are gone
                return
            if not data:
                return
            if not first_line:
                first_line.append(time.perf_counter())

    started_at = datetime.now()  # Optuna stamps trials with naive local times
    start = time.perf_counter()
    args = ["run", "--study", str(study), "--workers", "1"]
    process = subprocess.Popen(
        [sys.executable, "-m", "search.cli", *args], cwd=ROOT, stderr=writing, stdout=writing
    )
    os.close(writing)
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    first_epoch = None
    while process.poll() is None or first_epoch is None:
        logs = list((study / "logs").glob("*.log"))
        if first_epoch is None and any("Epoch 1/" in p.read_text() for p in logs):
            first_epoch = time.perf_counter() - start
        if process.poll() is not None and first_epoch is None:
            raise SystemExit(f"the run ended without an epoch in {study / 'logs'}")
        time.sleep(0.05)
    reader.join(timeout=10)
    os.close(reading)
    (trial,) = Ledger(open_study(locate(study))).trials("COMPLETE")
    claimed = (trial.datetime_start - started_at).total_seconds()
    return StartUp(first_line[0] - start, claimed, first_epoch)


def start_up(rounds: int) -> None:
    """A run's start-up on a terminal and into a pipe, alternated."""
    results: dict[str, list[StartUp]] = {"terminal": [], "pipe": []}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in _alternated("terminal", "pipe", rounds):
            results[kind].append(start_up_of(Path(tmp), kind == "terminal"))
    print("smoke spec, one trial, `vae-search run --workers 1`; stderr a terminal or a pipe")
    for kind, runs in results.items():
        for r in runs:
            print(
                f"  {kind:8s} first line {r.first_line:5.1f} s, trial claimed {r.claimed:5.1f} s, "
                f"first epoch {r.first_epoch:5.1f} s"
            )
    for field in StartUp._fields:
        mean = {k: statistics.mean(getattr(r, field) for r in v) for k, v in results.items()}
        print(f"  {field}: terminal / pipe {mean['terminal'] / mean['pipe']:.2f}x")


if __name__ == "__main__":
    main()
