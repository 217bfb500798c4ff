"""Search throughput: the smoke spec with 1 and with 2 workers, in one run.

For each worker count, a fresh study of the smoke spec runs to the end. Per trial, overhead is
everything outside the training epochs: the trial's time from claim to record in the ledger
minus the seconds its epochs took (process start, data load, model build, saving, recording).
Prints overhead as a share of trial time, with the share of the model's build in it (Keras
creating the layers and variables of a new architecture, in the job's fresh process), trials
per hour over the whole run, and the run's start-up (until its first trial starts: workers
start, each job server imports TensorFlow), which the trials per hour include.
Goals: overhead at most 5 %; 2 workers on 2 cores at least 1.6x the trials per hour of one.

    python benchmarks/bench_search.py [--trials 6]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from search.launch import launch  # noqa: E402
from search.run import run  # noqa: E402
from studies.ledger import Ledger  # noqa: E402
from studies.storage import locate, open_storage  # noqa: E402

SMOKE = ROOT / "studies" / "smoke.toml"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    args = parser.parse_args()
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
