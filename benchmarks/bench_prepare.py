"""Time data preparation of the full mill.mat against its two baselines, in one run.

Baselines: bare ``scipy.io.loadmat`` of the same file (the floor: inflating the MAT file) and
a faithful re-implementation of the reference study's loops (``benchmarks/reference_impl.py``).
All imports happen before timing, so each figure is the work itself. Goal: preparation costs
no more than 1.5x the bare load.

    python benchmarks/bench_prepare.py [--data MAT] [--labels CSV] [--repeats N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import scipy.io  # noqa: E402

from benchmarks.common import DATA, median_seconds  # noqa: E402
from benchmarks.reference_impl import reference_prepare  # noqa: E402
from data_prep import PrepareConfig, prepare  # noqa: E402

GOAL = 1.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA / "mill.mat")
    parser.add_argument("--labels", type=Path, default=DATA / "labels_with_tool_class.csv")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    config = PrepareConfig(args.data, args.labels)
    prepare(config)  # warm the file cache and lazy imports for everyone alike
    bare = median_seconds(lambda: scipy.io.loadmat(args.data), args.repeats)
    ours = median_seconds(lambda: prepare(config), args.repeats)
    reference = median_seconds(lambda: reference_prepare(args.data, args.labels), args.repeats)
    print(f"data preparation of {args.data.name}, median of {args.repeats} runs")
    print(f"  bare scipy.io.loadmat          {bare:8.3f} s   1.00x")
    print(f"  vae-search prepare()           {ours:8.3f} s   {ours / bare:.2f}x the bare load")
    print(f"  reference loops (re-impl.)     {reference:8.3f} s   {reference / bare:.2f}x")
    print(f"  speed-up over the reference    {reference / ours:8.1f}x")
    verdict = "met" if ours / bare <= GOAL else "NOT met"
    print(f"  goal <= {GOAL}x the bare load: {verdict}")


if __name__ == "__main__":
    main()
