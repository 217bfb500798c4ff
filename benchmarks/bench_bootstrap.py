"""Bootstrap intervals for one model's scores against the scoring's own metrics, in one run.

On synthetic splits shaped like the real ones (windows grouped in cuts, a few abnormal cuts,
scores with a per-cut effect), for everything the scoring of one model stores: three splits
(train, val, test) times three spaces (input with ``--draws`` sampled draws, input_mean,
latent), each timed two ways, alternating round by round so that drift in the machine's speed
hits both alike:

- the bootstrap: ``bootstrap_interval`` of ap, paper and roc by cut at ``--resamples``
  resamples, plus the cut-level unit (``cut_level``, then ap and roc over cuts);
- the baseline: the unweighted metrics of every draw once (``vae.metrics``),
  what the scoring computes today.

Three sets of sizes: ``brief``, the sizes the bootstrap was planned for (train 1000 windows,
val and test about 450 from 25 cuts); then the sizes of the real data as prepared, with the
leakage-free ``cut`` split (train 7742 windows from 110 cuts, val 1878 from 27, test 1950 from
28) and with the reference ``paper`` split (its windows of every cut spread over the three
splits: 165 cuts in each). Goal: the bootstrap of one model well under 150 ms (a tenth of its
scoring).

    python benchmarks/bench_bootstrap.py [--rounds 7] [--resamples 1000] [--draws 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.common import timed  # noqa: E402
from search.evaluation.bootstrap import bootstrap_interval, cut_level  # noqa: E402
from vae.metrics import METRICS  # noqa: E402


class Split(NamedTuple):
    cut_no: np.ndarray
    abnormal: np.ndarray
    spaces: dict[str, np.ndarray]  # space -> (draws, n) scores


# (windows, cuts, abnormal cuts) of train, val and test
SIZES = {
    "brief": ((1000, 40, 4), (450, 25, 3), (450, 25, 3)),
    "prepared, cut split": ((7742, 110, 8), (1878, 27, 2), (1950, 28, 2)),
    "prepared, paper split": ((7751, 165, 12), (1909, 165, 12), (1910, 165, 12)),
}


def synthetic_split(rng: np.random.Generator, windows: int, cuts: int, abnormal_cuts: int, draws):
    """Windows in cuts of uneven sizes; abnormal cuts score higher; each cut has its effect."""
    sizes = rng.multinomial(windows - cuts, np.full(cuts, 1 / cuts)) + 1
    cut_no = np.repeat(rng.permutation(np.arange(1, 3 * cuts))[:cuts], sizes)
    abnormal_cut = np.zeros(cuts, dtype=bool)
    abnormal_cut[rng.choice(cuts, abnormal_cuts, replace=False)] = True
    abnormal = np.repeat(abnormal_cut, sizes)
    level = np.repeat(rng.normal(0.0, 0.5, cuts), sizes) + abnormal

    def scores(count: int) -> np.ndarray:
        return level + rng.gamma(2.0, 1.0, (count, windows))

    spaces = {"input": scores(draws), "input_mean": scores(1), "latent": scores(1)}
    return Split(cut_no, abnormal, spaces)


def bootstrap_all(splits: list[Split], resamples: int) -> None:
    """Every interval the scoring of one model would store."""
    for split in splits:
        for scores in split.spaces.values():
            bootstrap_interval(split.abnormal, scores, split.cut_no, resamples=resamples)
            ids, labels, cut_scores = cut_level(split.cut_no, split.abnormal, scores)
            bootstrap_interval(labels, cut_scores, ids, ("ap", "roc"), resamples=resamples)


def metrics_once(splits: list[Split]) -> None:
    """The scoring's own metrics: each metric of each draw of each space and split."""
    for split in splits:
        for scores in split.spaces.values():
            for function in METRICS.values():
                [function(split.abnormal, draw) for draw in scores]


def measure(splits: list[Split], rounds: int, resamples: int) -> tuple[float, float]:
    """Median seconds of the bootstrap and of the baseline, alternating which goes first."""
    times: dict[str, list[float]] = {"bootstrap": [], "metrics": []}
    work = {
        "bootstrap": lambda: bootstrap_all(splits, resamples),
        "metrics": lambda: metrics_once(splits),
    }
    for name in work:  # warm-up: imports and first-call costs stay out of the figures
        work[name]()
    for index in range(rounds):
        order = ("bootstrap", "metrics") if index % 2 == 0 else ("metrics", "bootstrap")
        for name in order:
            times[name].append(timed(work[name])[1])
    return statistics.median(times["bootstrap"]), statistics.median(times["metrics"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=4)
    args = parser.parse_args()
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(
        f"bootstrap of one model: 3 splits x 3 spaces ({args.draws} draws in input), "
        f"{args.resamples} resamples, median of {args.rounds} rounds "
        f"({os.cpu_count()} cores, OpenBLAS threads: {threads})"
    )
    for name, sizes in SIZES.items():
        rng = np.random.default_rng(0)
        splits = [synthetic_split(rng, *size, args.draws) for size in sizes]
        ours, baseline = measure(splits, args.rounds, args.resamples)
        shape = ", ".join(f"{len(s.cut_no)}/{len(np.unique(s.cut_no))}" for s in splits)
        print(f"  {name} (windows/cuts of train, val, test: {shape}):")
        print(f"    metrics once (the scoring today): {1e3 * baseline:6.1f} ms")
        print(f"    bootstrap, window and cut level:  {1e3 * ours:6.1f} ms (goal < 150 ms)")


if __name__ == "__main__":
    main()
