"""Why BatchNormalization momentum defaults to 0.9: validation loss per epoch, 0.99 against 0.9.

Validation runs BatchNormalization on its moving statistics. With Keras' default momentum
(0.99) they need hundreds of steps to reach the batch statistics, while an epoch of the slim
training set is 12 steps at batch 256 and 3 at batch 1024: early validation losses are then
measured on a network the moving statistics do not describe. Same configuration (the paper's
best), same seed, same data for each momentum.

    python benchmarks/bench_batchnorm.py [--epochs 8]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import PAPER_BEST, paper_prepared  # noqa: E402
from vae.training import train_vae  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    data = paper_prepared()
    print(f"paper's best configuration, seed 1, {args.epochs} epochs; val_loss per epoch")
    for batch_size in (256, 1024):
        for momentum in (0.99, PAPER_BEST.batchnorm_momentum):
            hp = PAPER_BEST.replace(
                batch_size=batch_size, epochs=args.epochs, seed=1, batchnorm_momentum=momentum
            )
            result = train_vae(hp, data.X_train_slim, data.X_val_slim)
            val = " ".join(f"{v:9.3g}" for v in result.history["val_loss"])
            print(f"  batch {batch_size:4d} momentum {momentum:4.2f}: {val}")


if __name__ == "__main__":
    main()
