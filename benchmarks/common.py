"""What the benchmarks share: the real data, the paper's best configuration, and a process's
descendants (read by the tests too)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from data_prep import PrepareConfig, load_prepared, prepare_cached
from data_prep.prepared import PreparedData
from vae.hyperparams import PAPER_BEST

__all__ = ["DATA", "PAPER_BEST", "descendants", "median_seconds", "paper_prepared", "timed"]

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "milling"
T = TypeVar("T")


def paper_prepared(split: str = "paper") -> PreparedData:
    """The real mill.mat prepared with the reference split (cached)."""
    config = PrepareConfig(DATA / "mill.mat", DATA / "labels_with_tool_class.csv", split=split)
    path, _ = prepare_cached(config)
    return load_prepared(path)


def timed(work: Callable[[], T]) -> tuple[T, float]:
    """What ``work()`` returns, and the wall time it took."""
    start = time.perf_counter()
    value = work()
    return value, time.perf_counter() - start


def median_seconds(work: Callable[[], object], repeats: int) -> float:
    """The median wall time of ``repeats`` calls of ``work``."""
    return statistics.median(timed(work)[1] for _ in range(repeats))


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``, read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found
