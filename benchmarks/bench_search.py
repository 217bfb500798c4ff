"""Search throughput: the smoke spec with 1 and with 2 workers, in one run.

For each worker count, a fresh study of the smoke spec runs to the end. Per trial, overhead is
everything outside the training epochs: the trial's time from claim to record in the ledger
minus the seconds its epochs took (process start, data load, model build, saving, recording).
Prints overhead as a share of trial time, with the share of the model's build in it (Keras
creating the layers and variables of a new architecture, in the job's fresh process), trials
per hour over the whole run, and the run's start-up (until its first trial starts: workers
start, each job server imports TensorFlow), which the trials per hour include.
Goals: overhead at most 5 %; 2 workers on 2 cores at least 1.6x the trials per hour of one.

With ``--paper-trial``, the cost of checkpointing a trial's state (every 30 s of training, so
that an interrupted trial resumes instead of starting over) on one trial of the paper's size:
the paper's best configuration at batch 1024 with patience 50, trained by ``vae-search run``
with checkpoints and without, in the order ABBA... Goal: under 3 % of the trial's time.

    python benchmarks/bench_search.py [--trials 6] [--paper-trial [--rounds 2]]
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

from benchmarks.common import DATA, PAPER_BEST  # noqa: E402
from search import launch, run  # noqa: E402
from search.execution.ledger import Ledger  # noqa: E402
from studies.storage import locate, open_storage  # noqa: E402

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


def measure(workers: int, trials: int, root: Path) -> Figures:
    """The figures of one fresh study of the smoke spec run with ``workers`` workers."""
    study = root / f"workers-{workers}"
    launch(study, SMOKE, trials=trials)
    started_at = datetime.now()  # Optuna stamps trials with naive local times
    start = time.perf_counter()
    run(study, workers=workers, progress=False)
    elapsed = time.perf_counter() - start
    done = Ledger(open_storage(locate(study), create=False)).study.get_trials(deepcopy=False)
    durations = [(t.datetime_complete - t.datetime_start).total_seconds() for t in done]
    epochs = [t.user_attrs["epoch_seconds"] for t in done]
    overhead = (sum(durations) - sum(epochs)) / sum(durations)
    build = sum(t.user_attrs["build_time"] for t in done) / sum(durations)
    start_up = (min(t.datetime_start for t in done) - started_at).total_seconds()
    per_hour = len(done) / elapsed * 3600
    return Figures(overhead, build, statistics.median(durations), per_hour, start_up)


def paper_trial(root: Path, checkpoints: bool) -> tuple[float, float, float, int]:
    """(trial seconds, seconds saving checkpoints, seconds in epochs, epochs) of one
    paper-size trial."""
    study = root / f"paper-{'with' if checkpoints else 'without'}-{time.monotonic_ns()}"
    spec = root / "paper-trial.toml"
    fixed = {**PAPER_BEST.to_dict(), **PAPER_TRAINING}
    del fixed["seed"]  # the trial's own, from the study's seed
    lines = [f"{k} = {json.dumps(v)}" for k, v in fixed.items()]
    spec.write_text(
        PAPER_SPEC.read_text().split("[training]")[0].replace("../../shared", str(DATA.parents[1]))
        + "[training]\n"
        + "\n".join(lines)
        + "\n"
    )
    launch(study, spec, trials=1, seed=1)
    never = {} if checkpoints else {"VAE_SEARCH_CHECKPOINT_SECONDS": "1e12"}
    command = [sys.executable, "-m", "search.cli", "run", "--study", str(study), "--no-progress"]
    subprocess.run(command, env={**os.environ, **never}, cwd=ROOT, check=True, capture_output=True)
    (trial,) = Ledger(open_storage(locate(study), create=False)).study.get_trials(deepcopy=False)
    seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
    attrs = trial.user_attrs
    return seconds, attrs["checkpoint_time"], attrs["epoch_seconds"], attrs["epochs_trained"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--paper-trial", action="store_true")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
