"""Fidelity: the paper's best configuration trained to early stopping and scored, beside the
paper's test PR-AUC (input space 0.411, latent space 0.450, six signals).

Trains beta 3.92, codings 21, filters 16, kernel 3, dilations 1-2-4-8, 2 layers, selu output
(batch 256, at most 500 epochs, patience 30, seed 1) on the real ``mill.mat`` prepared with the
chosen split, saves it in a temporary directory, and scores it as ``vae-search score`` does
(4 draws, failed windows abnormal). Prints validation and test figures of every space and
metric.

    python benchmarks/fidelity.py [--split paper|cut]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import PAPER_BEST, paper_prepared  # noqa: E402
from search.defaults import DEFAULT_ABNORMAL, DEFAULT_REPEATS  # noqa: E402
from search.scoring import score_saved_model  # noqa: E402
from vae.storage import save_model  # noqa: E402
from vae.training import train_vae  # noqa: E402

PAPER_TEST = {"input": 0.411, "latent": 0.450}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("paper", "cut"), default="paper")
    args = parser.parse_args()
    data = paper_prepared(args.split)
    trained = train_vae(replace(PAPER_BEST, seed=1), data.X_train_slim, data.X_val_slim)
    print(trained.summary())
    with tempfile.TemporaryDirectory() as tmp:
        saved = save_model(trained, tmp, trial=0, data_sha256=data.sha256)
        outcome = score_saved_model(saved.path, data, DEFAULT_ABNORMAL, DEFAULT_REPEATS)
    if outcome.result is None:
        sys.exit(f"scoring failed: {outcome.reason}")
    print(f"{args.split} split, {len(data.signal_names)} signals; paper test: {PAPER_TEST}")
    for score in outcome.result.scores:
        if score.split != "train":
            spread = "" if score.std is None else f" ± {score.std:.3f}"
            print(f"  {score.split:5} {score.space:10} {score.metric:5} {score.value:.3f}{spread}")


if __name__ == "__main__":
    main()
