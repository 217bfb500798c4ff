"""Train one β-VAE on the healthy (slim) windows, seeded, with early stopping and timings.

Fit on ``X_train_slim``, validate on ``X_val_slim``; stop when validation loss has not improved
by ``min_delta`` for ``earlystop_patience`` epochs and restore the best weights, as the seeds
did. A non-finite loss ends the run as *failed* with the reason, instead of training on NaN.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow's first import

import keras
import tensorflow as tf

from vae.hyperparams import Hyperparameters
from vae.model import build_vae

MIN_DELTA = 2e-4
# Validation runs forward only, in inference mode, and its epoch means are weighted by batch
# size: its batch size changes the number of steps (each with a fixed cost of its own) and the
# draws of the sampled codings, nothing else.
VALIDATION_BATCH_SIZE = 1024
COMPLETED, FAILED = "completed", "failed"


@dataclass
class TrainResult:
    """What one training run produced; ``model`` is None when it failed before building."""

    model: Any
    status: str
    reason: str | None
    history: dict[str, list[float]] = field(default_factory=dict)
    epochs_trained: int = 0
    best_epoch: int | None = None  # 1-based, the epoch whose weights were kept
    build_time: float = 0.0  # building and compiling the model, before fit
    wall_time: float = 0.0  # fit, from its start to the restored best weights
    first_epoch_time: float = 0.0
    epoch_times: list[float] = field(default_factory=list)
    param_count: int = 0

    def summary(self) -> dict[str, Any]:
        """The history in brief, for manifests and the study database."""
        best = None if self.best_epoch is None else self.best_epoch - 1

        def at(name: str, index: int | None) -> float | None:
            values = self.history.get(name, [])
            return None if index is None or index >= len(values) else float(values[index])

        return {
            "status": self.status,
            "reason": self.reason,
            "epochs_trained": self.epochs_trained,
            "best_epoch": self.best_epoch,
            "loss": at("loss", best),
            "val_loss": at("val_loss", best),
            "reconstruction": at("reconstruction", best),
            "val_reconstruction": at("val_reconstruction", best),
            "kl": at("kl", best),
            "val_kl": at("val_kl", best),
            "build_time": self.build_time,
            "wall_time": self.wall_time,
            "first_epoch_time": self.first_epoch_time,
            "param_count": self.param_count,
        }


@functools.cache
def configure_tensorflow() -> None:
    """Once per process, before TensorFlow builds anything (``train_vae`` calls it first).

    On a GPU, allocate memory as needed rather than all of it up front, so one process per job
    and other processes on the same card can coexist (we could not try a GPU here; this is the
    documented TensorFlow setting). Not done on import: listing devices initialises CUDA, a
    process that has initialised CUDA must not fork, and the search forks its training jobs
    from a process that has imported this module (``search.trial_job``). On CPU, oneDNN's
    reordered reductions are kept: they are deterministic for a fixed thread count.
    """
    for gpu in tf.config.list_physical_devices("GPU"):
        # RuntimeError: the GPU was initialised already, so growth was set or cannot change
        with contextlib.suppress(RuntimeError):
            tf.config.experimental.set_memory_growth(gpu, True)


def limit_threads(threads: int) -> None:
    """TensorFlow's intra- and inter-op threads, so parallel processes share the cores.

    TensorFlow fixes them when its runtime starts; a process where it has started already keeps
    the counts it has.
    """
    with contextlib.suppress(RuntimeError):
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def train_vae(
    hp: Hyperparameters,
    X_train: np.ndarray,
    X_val: np.ndarray,
    *,
    verbose: int = 0,
    callbacks: list | None = None,
) -> TrainResult:
    """Build and fit a β-VAE; never raises for a diverging run (it is a failed result)."""
    configure_tensorflow()
    _, window, channels = X_train.shape
    hp.check_window(window)
    keras.utils.set_random_seed(hp.seed)
    built = time.perf_counter()
    model = build_vae(hp, window, channels)
    build_time = time.perf_counter() - built
    timer = _EpochTimer()
    guard = _NonFiniteGuard()
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_loss",
        min_delta=MIN_DELTA,
        patience=hp.earlystop_patience,
        restore_best_weights=True,
    )
    train_data, val_data = _datasets(X_train, X_val, hp)
    start = time.perf_counter()
    history = model.fit(
        train_data,
        validation_data=val_data,
        epochs=hp.epochs,
        shuffle=False,  # the dataset reshuffles itself, seeded
        verbose=verbose,
        callbacks=[timer, guard, stopper, *(callbacks or [])],
    )
    wall = time.perf_counter() - start
    logs = {k: [float(v) for v in values] for k, values in history.history.items()}
    val_loss = logs.get("val_loss", [])
    # EarlyStopping restores the weights of its best epoch (improvement > min_delta) at the end
    best_epoch = stopper.best_epoch + 1 if stopper.best_weights is not None else None
    return TrainResult(
        model=model,
        status=FAILED if guard.reason else COMPLETED,
        reason=guard.reason,
        history=logs,
        epochs_trained=len(val_loss) or len(logs.get("loss", [])),
        best_epoch=best_epoch,
        build_time=build_time,
        wall_time=wall,
        first_epoch_time=timer.times[0] if timer.times else 0.0,
        epoch_times=timer.times,
        param_count=model.count_parameters(),
    )


def _datasets(X_train: np.ndarray, X_val: np.ndarray, hp: Hyperparameters):
    """tf.data pipelines: shuffled, batched training data and batched validation data."""
    train = (
        tf.data.Dataset.from_tensor_slices(X_train)
        .shuffle(len(X_train), seed=hp.seed, reshuffle_each_iteration=True)
        .batch(hp.batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    val = tf.data.Dataset.from_tensor_slices(X_val).batch(VALIDATION_BATCH_SIZE).cache()
    return train, val


class _EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch (the first includes tracing the train and test steps)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


class _NonFiniteGuard(keras.callbacks.Callback):
    """Stop at the first non-finite training or validation loss and say which."""

    def __init__(self) -> None:
        super().__init__()
        self.reason: str | None = None

    def on_epoch_end(self, epoch, logs=None):
        for name in ("loss", "val_loss"):
            value = (logs or {}).get(name)
            if value is not None and not math.isfinite(float(value)):
                self.reason = f"non-finite {name} ({float(value)}) at epoch {epoch + 1}"
                self.model.stop_training = True
                return
