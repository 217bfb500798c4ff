"""Training speed: our training of the paper's best configuration against a plain model.fit.

For each TCN architecture (the paper's, ``hahn2021``, and keras-tcn 3.5's block), both train
the paper's best configuration (beta 3.92, codings 21, filters 16, kernel 3, dilations 1-2-4-8,
2 layers, selu output) on the real slim training set at batch 256, with validation each epoch,
for ``--epochs`` epochs. The baseline is the same architecture built the seeds' way: Keras'
stock layers in a functional model whose KL term is added in a layer's ``call`` (Keras 3
refuses symbolic ``add_loss``), compiled with Keras' Adam and ``loss="binary_crossentropy"``,
and fitted on NumPy arrays with ``model.fit(X, X)``, with TensorFlow's default threads. Ours
runs twice: with whole batches and TensorFlow's default threads (as runs shorter than
``MIN_EPOCHS_TO_SPLIT`` train), and as ``vae-search train`` and the search's jobs do, set up
for all cores (``use_cores``), each batch split into branches. Each run is a process of its
own (thread settings hold for a process), and runs alternate (baseline, ours, ours, baseline,
...) so that drift in the machine's speed hits all alike. Prints first-epoch time and the
median of the later epochs. Goal: a steady epoch in branches at most 0.5x the baseline's.

Each run is done once per oneDNN setting of ``--onednn``: ``0`` (``TF_ENABLE_ONEDNN_OPTS=0``:
TensorFlow's own kernels, as on CPUs where TensorFlow leaves oneDNN off, and where our
dilated convolutions run by phases), ``1`` (oneDNN forced on: dilated convolutions run
natively), and ``1-avx2`` (oneDNN forced on but limited to AVX2 instructions by
``ONEDNN_MAX_CPU_ISA``, as oneDNN runs on a CPU without AVX-512). Each setting's ratio is
against the baseline of that setting; a machine's own default is ``0`` or ``1`` (the first
line says which).

    python benchmarks/bench_train.py [--epochs 10] [--rounds 2] [--tcn hahn2021,keras-tcn]
        [--onednn 0,1,1-avx2]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import keras  # noqa: E402
from keras import ops  # noqa: E402

from benchmarks.common import PAPER_BEST, paper_prepared  # noqa: E402
from vae.hyperparams import TCN_ARCHITECTURES  # noqa: E402
from vae.machine import machine  # noqa: E402
from vae.model import build_decoder, build_encoder, kl_divergence  # noqa: E402
from vae.training import MIN_EPOCHS_TO_SPLIT, train_vae, use_cores  # noqa: E402


class _KLTerm(keras.layers.Layer):
    """The seeds' latent loss, added where Keras 3 allows it: inside a layer's call."""

    def __init__(self, scale: float, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, inputs):
        mean, log_var, z = inputs
        self.add_loss(self.scale * ops.mean(kl_divergence(mean, log_var)))
        return z


def _rounded_accuracy(y_true, y_pred):
    return keras.metrics.binary_accuracy(ops.round(y_true), ops.round(y_pred))


class _EpochTimes(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def plain_fit(data, epochs: int, tcn: str) -> Run:
    hp = PAPER_BEST.replace(seed=1, tcn=tcn)
    keras.utils.set_random_seed(hp.seed)
    window, channels = data.X_train_slim.shape[1:]
    encoder = build_encoder(hp, window, channels, fused=False)
    decoder = build_decoder(hp, window, channels, fused=False)
    inputs = keras.Input((window, channels))
    z = _KLTerm(hp.beta_value / (window * channels))(encoder(inputs))
    model = keras.Model(inputs, decoder(z))
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=[_rounded_accuracy])
    timer = _EpochTimes()
    model.fit(
        data.X_train_slim,
        data.X_train_slim,
        epochs=epochs,
        batch_size=hp.batch_size,
        shuffle=True,
        validation_data=(data.X_val_slim, data.X_val_slim),
        callbacks=[timer],
        verbose=0,
    )
    return Run(timer.times, branches=1)


def ours_in_one_branch(data, epochs: int, tcn: str) -> Run:
    """As a run shorter than MIN_EPOCHS_TO_SPLIT trains: whole batches, default threads."""
    return _ours(data, epochs, tcn, branches=1)


def ours_in_branches(data, epochs: int, tcn: str) -> Run:
    """As ``vae-search train`` and the search's jobs train: set up for all cores."""
    return _ours(data, epochs, tcn, branches=use_cores(os.cpu_count() or 1))


def _ours(data, epochs: int, tcn: str, branches: int) -> Run:
    hp = PAPER_BEST.replace(seed=1, epochs=epochs, earlystop_patience=epochs, tcn=tcn)
    result = train_vae(hp, data.X_train_slim, data.X_val_slim, branches=branches)
    return Run(result.epoch_times, result.branches)


class Run(NamedTuple):
    epoch_times: list[float]
    branches: int


RUNS = {
    "plain model.fit (baseline)": plain_fit,
    "vae-search, whole batches": ours_in_one_branch,
    "vae-search, in branches": ours_in_branches,
}


# The environment of each oneDNN setting's processes (see the module's docstring).
ONEDNN = {
    "0": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "1": {"TF_ENABLE_ONEDNN_OPTS": "1"},
    "1-avx2": {"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2"},
}


def run_in_own_process(label: str, epochs: int, tcn: str, onednn: str) -> Run:
    """One run in a fresh Python process (thread settings and oneDNN hold for a process)."""
    command = [sys.executable, __file__, "--epochs", str(epochs), "--tcn", tcn, "--only", label]
    environment = {**os.environ, **ONEDNN[onednn]}
    output = subprocess.run(
        command, check=True, capture_output=True, text=True, env=environment
    ).stdout
    return Run(*json.loads(output.splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=MIN_EPOCHS_TO_SPLIT)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tcn", default=",".join(TCN_ARCHITECTURES))
    parser.add_argument("--onednn", default="0,1", help="settings among 0, 1, 1-avx2")
    parser.add_argument("--only", choices=RUNS, help=argparse.SUPPRESS)  # one run, JSON out
    args = parser.parse_args()
    architectures = args.tcn.split(",")
    if args.only:
        print(json.dumps(RUNS[args.only](paper_prepared(), args.epochs, architectures[0])))
        return
    settings = args.onednn.split(",")
    if unknown := set(settings) - set(ONEDNN):
        parser.error(f"--onednn: unknown setting(s) {', '.join(sorted(unknown))}")
    data = paper_prepared()
    runs = {
        (tcn, onednn, label): [] for tcn in architectures for onednn in settings for label in RUNS
    }
    for _ in range(args.rounds):
        for (tcn, onednn, label), done in runs.items():
            done.append(run_in_own_process(label, args.epochs, tcn, onednn))
    print(f"this machine: {machine(with_gpus=False).summary()}")
    print(
        f"paper's best configuration, {len(data.X_train_slim)} training and "
        f"{len(data.X_val_slim)} validation windows, batch 256, {args.epochs} epochs x "
        f"{args.rounds} rounds"
    )
    for tcn, onednn in itertools.product(architectures, settings):
        print(f"tcn={tcn}, TF_ENABLE_ONEDNN_OPTS={onednn}")
        figures = []
        for label in RUNS:
            done = runs[tcn, onednn, label]
            first = statistics.median(run.epoch_times[0] for run in done)
            steady = statistics.median(t for run in done for t in run.epoch_times[1:])
            figures.append((first, steady))
            branches = ", ".join(sorted({str(run.branches) for run in done}))
            print(
                f"  {label:<28} first epoch {first:6.2f} s   steady epoch {steady:5.2f} s   "
                f"branches {branches}"
            )
        (base_first, base_steady), *_, (our_first, our_steady) = figures
        ratio = our_steady / base_steady
        print(
            f"  ratio in branches/baseline: first {our_first / base_first:.2f}, steady "
            f"{ratio:.2f}; goal steady <= 0.50: {'met' if ratio <= 0.5 else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
