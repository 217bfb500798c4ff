"""What the benchmarks share: the real data and the paper's best configuration."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

from data_prep import PrepareConfig, load_prepared, prepare_cached
from data_prep.prepared import PreparedData
from vae.hyperparams import PAPER_BEST

__all__ = ["PAPER_BEST", "median_seconds", "paper_prepared"]

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "milling"


def paper_prepared(split: str = "paper") -> PreparedData:
    """The real mill.mat prepared with the reference split (cached)."""
    config = PrepareConfig(DATA / "mill.mat", DATA / "labels_with_tool_class.csv", split=split)
    path, _ = prepare_cached(config)
    return load_prepared(path)


def median_seconds(work: Callable[[], object], repeats: int) -> float:
    """The median wall time of ``repeats`` calls of ``work``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
