"""What the benchmarks share: the real data and the paper's best configuration."""

from __future__ import annotations

from pathlib import Path

from data_prep import PrepareConfig, load_prepared, prepare_cached
from data_prep.prepared import PreparedData
from vae.hyperparams import PAPER_BEST

__all__ = ["PAPER_BEST", "paper_prepared"]

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "milling"


def paper_prepared(split: str = "paper") -> PreparedData:
    """The real mill.mat prepared with the reference split (cached)."""
    config = PrepareConfig(DATA / "mill.mat", DATA / "labels_with_tool_class.csv", split=split)
    path, _ = prepare_cached(config)
    return load_prepared(path)
