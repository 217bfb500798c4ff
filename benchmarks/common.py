"""What the benchmarks share: the real data and the paper's best configuration."""

from __future__ import annotations

from pathlib import Path

from data_prep import PrepareConfig, load_prepared, prepare_cached
from data_prep.prepared import PreparedData
from vae.hyperparams import Hyperparameters

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "milling"

# Hahn & Mechefske (2021), best model: beta 3.92, 21 codings, 16 filters, kernel 3,
# dilations 1-2-4-8, 2 layers, selu output; trained at batch 256.
PAPER_BEST = Hyperparameters(
    beta_value=3.92,
    codings_size=21,
    conv_layers=2,
    start_filter_no=16,
    kernel_size_1=3,
    dilations=(1, 2, 4, 8),
    final_activation="selu",
    batch_size=256,
)


def paper_prepared(split: str = "paper") -> PreparedData:
    """The real mill.mat prepared with the reference split (cached)."""
    config = PrepareConfig(DATA / "mill.mat", DATA / "labels_with_tool_class.csv", split=split)
    path, _ = prepare_cached(config)
    return load_prepared(path)
