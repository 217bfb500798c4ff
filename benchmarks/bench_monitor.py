"""The cost of a training scoring its validation windows (``vae.monitor``): per epoch, against
the same training without it.

The paper's best configuration at the paper's batch size (1024) trains on the real data for
``--epochs`` epochs three ways, alternating within each round so that drift in the machine's
speed hits all alike: without the monitor; scoring every validation window every epoch; and
every fifth epoch (the default, ``DEFAULT_SCORE_EVERY``). Every run is set up as the search's
jobs are (``use_cores``) in this one process. Prints the mean of the steady epochs (the
first, which traces the graphs, left out; a mean, since only every fifth epoch pays) and
each way's cost over the run without the monitor. Goal: at most 5 % for the default.

    python benchmarks/bench_monitor.py [--epochs 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import PAPER_BEST, paper_prepared  # noqa: E402
from vae.machine import machine  # noqa: E402
from vae.monitor import validation_windows  # noqa: E402
from vae.scores import DEFAULT_SCORE_EVERY  # noqa: E402
from vae.training import train_vae, use_cores  # noqa: E402

WAYS = {"without": 0, "every epoch": 1, f"every {DEFAULT_SCORE_EVERY} (default)": 5}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine().summary()}")
    branches = use_cores(2)
    data = paper_prepared()
    hp = replace(PAPER_BEST, epochs=args.epochs, batch_size=1024, earlystop_patience=10**6)
    steady: dict[str, list[float]] = {way: [] for way in WAYS}
    for round_number in range(args.rounds):
        ways = list(WAYS) if round_number % 2 == 0 else list(WAYS)[::-1]
        for way in ways:
            scored = validation_windows(data, WAYS[way])
            result = train_vae(
                hp, data.X_train_slim, data.X_val_slim, branches=branches, scored=scored
            )
            steady[way] += result.epoch_times[1:]
            mean = statistics.mean(result.epoch_times[1:])
            print(f"round {round_number + 1}, {way}: mean epoch {mean:.3f} s", flush=True)
    baseline = statistics.mean(steady["without"])
    windows = len(data.split("val")[0])
    print(f"\nsteady epoch, paper's best at batch 1024, {windows} validation windows scored:")
    for way, times in steady.items():
        mean = statistics.mean(times)
        print(f"  {way:>20}: {mean:.3f} s ({mean / baseline - 1:+.1%})")


if __name__ == "__main__":
    main()
