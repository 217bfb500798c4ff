"""What another machine path changes: the same data, configuration and seed trained with oneDNN
off and on and in one or two branches, each in a process of its own.

On one path a training is reproducible bit for bit (tests/test_determinism.py). Another path
rounds otherwise: oneDNN's kernels against TensorFlow's own, or a batch's statistics summed in
two parts against one. This prints, for each path against the first, the largest weight
difference after the first epoch and at the end, the epochs trained, and the validation latent
PR-AUC of the kept weights: how far float rounding carries a training.

    python benchmarks/bench_paths.py [--epochs 60] [--paths 0:2,1:2,0:1] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import PAPER_BEST, paper_prepared  # noqa: E402

PAPER_TRAINING = {"batch_size": 1024, "batchnorm_momentum": 0.99}


def train_one(epochs: int, seed: int, branches: int, out: Path) -> None:
    """Train in this process (its oneDNN as the environment says) and keep what is compared."""
    import keras
    import numpy as np

    from vae.monitor import validation_windows
    from vae.provenance import training_path
    from vae.training import train_vae, use_cores

    use_cores(branches)
    data = paper_prepared()
    hp = PAPER_BEST.replace(**PAPER_TRAINING, epochs=epochs, earlystop_patience=epochs, seed=seed)
    first: list[np.ndarray] = []

    class AfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                first.extend(w.copy() for w in self.model.get_weights())

    result = train_vae(
        hp,
        data.X_train_slim,
        data.X_val_slim,
        branches=branches,
        scored=validation_windows(data, epochs),
        callbacks=[AfterFirstEpoch()],
    )
    np.savez(out / "first.npz", *first)
    np.savez(out / "last.npz", *result.model.get_weights())
    summary = {
        "path": training_path(result.branches),
        "epochs": result.epochs_trained,
        "best_epoch": result.best_epoch,
        "val_latent_ap": result.scored.get("val_latent_ap"),
    }
    (out / "summary.json").write_text(json.dumps(summary))


def largest_difference(a: Path, b: Path) -> float:
    import numpy as np

    with np.load(a) as x, np.load(b) as y:
        return max(float(np.max(np.abs(x[k] - y[k]))) for k in x.files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--paths", default="0:2,1:2,0:1", help="oneDNN:branches, the first the reference"
    )
    parser.add_argument("--only", help=argparse.SUPPRESS)  # branches:out, in this process
    args = parser.parse_args()
    if args.only:
        branches, out = args.only.split(":", 1)
        train_one(args.epochs, args.seed, int(branches), Path(out))
        return
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.paths.split(","):
            onednn, branches = path.split(":")
            out = Path(tmp) / path.replace(":", "-")
            out.mkdir()
            command = [
                sys.executable,
                __file__,
                "--epochs",
                str(args.epochs),
                "--seed",
                str(args.seed),
                "--only",
                f"{branches}:{out}",
            ]
            env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn}
            subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
            runs[path] = out
        reference = next(iter(runs))
        print(
            f"paper's best configuration, batch 1024, momentum 0.99, seed {args.seed}, "
            f"at most {args.epochs} epochs (no early stop before), against oneDNN:branches "
            f"{reference}"
        )
        for path, out in runs.items():
            summary = json.loads((out / "summary.json").read_text())
            first = largest_difference(out / "first.npz", runs[reference] / "first.npz")
            last = largest_difference(out / "last.npz", runs[reference] / "last.npz")
            made = summary["path"]
            print(
                f"  {path:5} ({made['convolution']}, oneDNN {made['onednn']}): "
                f"largest weight difference {first:.2e} after epoch 1, {last:.2e} at the end; "
                f"best epoch {summary['best_epoch']}; "
                f"val latent PR-AUC {summary['val_latent_ap']:.4f}"
            )


if __name__ == "__main__":
    main()
