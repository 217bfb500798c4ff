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
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow's first import

import keras
import tensorflow as tf

from vae.checkpoint import EVERY_SECONDS, ResumableEarlyStopping, Resumed, TrainingCheckpoint
from vae.hyperparams import Hyperparameters
from vae.model import build_vae
from vae.monitor import ScoredWindows, ValidationScores
from vae.provenance import differences, training_provenance
from vae.scores import MONITORED

MIN_DELTA = 2e-4
# Validation runs forward only, in inference mode, and its epoch means are weighted by batch
# size: its batch size changes the number of steps (each with a fixed cost of its own) and the
# draws of the sampled codings, nothing else.
VALIDATION_BATCH_SIZE = 1024
COMPLETED, FAILED = "completed", "failed"
IMPORTED = "imported"  # trained elsewhere: its weights were read from another format
MAX_BRANCHES = 4
# A batch split into branches traces a graph twice the size, which lengthens the first epoch
# by about as much as ten later epochs gain, so shorter runs (smoke trials) train unsplit
# (benchmarks/bench_train.py).
MIN_EPOCHS_TO_SPLIT = 10


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
    branches: int = 1  # parts each batch was split into (see use_cores)
    resumed_at: int = 0  # epochs done before this run, restored from a checkpoint
    checkpoint_time: float = 0.0  # saving checkpoints
    scored: dict[str, float] = field(default_factory=dict)  # the kept weights' monitored scores
    provenance: dict[str, Any] = field(default_factory=dict)  # vae.provenance: code, path, seeds
    # how the code or path of a resumed run differs from the attempt that wrote its checkpoint
    resumed_changes: list[str] = field(default_factory=list)

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
            "branches": self.branches,
            "resumed_at": self.resumed_at,
            "checkpoint_time": self.checkpoint_time,
            "resumed_changes": self.resumed_changes,
            **self.scored,
            **self._best_monitored(),
        }

    def _best_monitored(self) -> dict[str, float | int]:
        """The epoch with the best validation latent PR-AUC among those scored, and its value:
        recorded, so a user can see what early stopping on the loss left behind; never used to
        choose the weights."""
        values = np.array(self.history.get(MONITORED["latent"], []), dtype=float)
        if not np.isfinite(values).any():
            return {}
        best = int(np.nanargmax(values))
        return {"best_ap_epoch": best + 1, "best_ap_val_latent_ap": float(values[best])}


@functools.cache
def configure_tensorflow() -> None:
    """Once per process, before TensorFlow builds anything (``train_vae`` calls it first).

    On a GPU, allocate memory as needed rather than all of it up front, so one process per job
    and other processes on the same card can coexist (we could not try a GPU here; this is the
    documented TensorFlow setting). Not done on import: listing devices initialises CUDA, a
    process that has initialised CUDA must not fork, and the search forks its training jobs
    from a process that has imported this module (``search.execution.trial``). On CPU, oneDNN's
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
    _set_threads(intra=threads, inter=threads)


def use_cores(cores: int) -> int:
    """Set a training process up for ``cores`` CPU cores; the branches to give ``train_vae``.

    On a CPU, each op runs on one thread and ``cores`` ops run at once, and training splits
    every batch into that many branches which run side by side. TensorFlow's default, every op
    split over all cores, leaves the cores idle much of a step on models this small: they wait
    for each other after every one of hundreds of small ops; branches keep them busy
    (``benchmarks/bench_train.py`` measures both ways). Above ``MAX_BRANCHES`` the branches
    get too small to be worth it, so further cores go to each op instead. On a
    GPU, one branch.

    The branches follow from ``cores`` alone, so a training's arithmetic is the same wherever
    it runs with the same ``cores`` (the search gives every job the machine's cores, however
    many workers share them). Call before TensorFlow's runtime starts: where it has started,
    the threads stay what they are (the provenance records them).
    """
    if tf.config.list_physical_devices("GPU"):
        limit_threads(cores)
        return 1
    branches = max(1, min(cores, MAX_BRANCHES))
    threads_per_op = -(-cores // branches)  # rounded up: no core left out
    _set_threads(intra=threads_per_op, inter=branches)
    return branches


def _set_threads(intra: int, inter: int) -> bool:
    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError:  # the runtime has started; it keeps the counts it has
        return False
    return True


def train_vae(
    hp: Hyperparameters,
    X_train: np.ndarray,
    X_val: np.ndarray,
    *,
    verbose: int = 0,
    callbacks: list | None = None,
    branches: int = 1,
    checkpoint: str | Path | None = None,
    data_key: str | None = None,
    checkpoint_every: float = EVERY_SECONDS,
    scored: ScoredWindows | None = None,
) -> TrainResult:
    """Build and fit a β-VAE; never raises for a diverging run (it is a failed result).

    ``branches`` (from :func:`use_cores`) splits each batch into parts that run side by side;
    the same training whatever its value, within float rounding. With a ``checkpoint``
    directory the run's state is saved there at most every ``checkpoint_every`` seconds of
    training, and a run that finds the state of the same configuration and data
    (``data_key``) there goes on from it, ending as the uninterrupted run would (same cores).
    With ``scored`` windows, their validation PR-AUCs go into each epoch's logs
    (:mod:`vae.monitor`), and the kept weights' into the result.
    """
    if isinstance(branches, bool) or not isinstance(branches, int) or branches < 1:
        raise ValueError(f"branches must be an integer >= 1, got {branches!r}")
    configure_tensorflow()
    _, window, channels = X_train.shape
    hp.check_window(window)
    keras.utils.set_random_seed(hp.seed)
    built = time.perf_counter()
    model = build_vae(hp, window, channels)
    model.branches = _usable_branches(branches, hp, len(X_train), len(X_val))
    build_time = time.perf_counter() - built
    timer = _EpochTimer()
    guard = _NonFiniteGuard()
    stopper = ResumableEarlyStopping(
        monitor="val_loss",
        min_delta=MIN_DELTA,
        patience=hp.earlystop_patience,
        restore_best_weights=True,
    )
    monitor = [] if scored is None else [ValidationScores(scored)]
    provenance = training_provenance(hp.seed, model.branches)
    saving: list[keras.callbacks.Callback] = []
    resumed = Resumed(0)
    changes: list[str] = []
    if checkpoint is not None:
        key = {"hyperparameters": hp.to_dict(), "data": data_key, "branches": model.branches}
        saver = TrainingCheckpoint(checkpoint, key, stopper, timer, checkpoint_every, provenance)
        resumed = saver.restore(model)
        guard.validated = any(map(math.isfinite, resumed.history.get("val_loss", [])))
        saving.append(saver)
        if resumed.epochs_done:
            changes = differences(resumed.provenance, provenance)
        if changes:
            print(
                f"resumed under another code or path than epochs 1-{resumed.epochs_done} "
                f"were trained on: {'; '.join(changes)}",
                flush=True,
            )
    train_data, val_data = _datasets(X_train, X_val, hp, resumed.epochs_done)
    start = time.perf_counter()
    history = model.fit(
        train_data,
        validation_data=val_data,
        epochs=hp.epochs,
        steps_per_epoch=-(-len(X_train) // hp.batch_size),
        initial_epoch=resumed.epochs_done,
        shuffle=False,  # the dataset shuffles each epoch itself, seeded
        verbose=verbose,
        callbacks=[*monitor, timer, guard, stopper, *saving, *(callbacks or [])],
    )
    wall = time.perf_counter() - start
    kept = {} if scored is None or guard.reason else scored.scores(model)
    logs = {
        k: [*resumed.history.get(k, []), *(float(v) for v in values)]
        for k, values in history.history.items()
    }
    epoch_times = [*resumed.epoch_times, *timer.times]
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
        first_epoch_time=epoch_times[0] if epoch_times else 0.0,
        epoch_times=epoch_times,
        param_count=model.count_parameters(),
        branches=model.branches,
        resumed_at=resumed.epochs_done,
        checkpoint_time=sum(saving[0].saves) if saving else 0.0,
        scored=kept,
        provenance=provenance,
        resumed_changes=changes,
    )


def _usable_branches(
    branches: int, hp: Hyperparameters, train_windows: int, val_windows: int
) -> int:
    """``branches``, or 1 for a run too short to pay for the split or with too small a batch.

    No part of a batch may be empty (TensorFlow's oneDNN convolution returns its input for an
    empty batch), and leaving out or moving a window would change the training: a training or
    validation batch of fewer windows than ``branches`` means one branch.
    """
    smallest = min(
        train_windows % hp.batch_size or hp.batch_size,
        val_windows % VALIDATION_BATCH_SIZE or VALIDATION_BATCH_SIZE,
    )
    return branches if hp.epochs >= MIN_EPOCHS_TO_SPLIT and smallest >= branches else 1


def _datasets(X_train: np.ndarray, X_val: np.ndarray, hp: Hyperparameters, epochs_done: int = 0):
    """tf.data pipelines: the remaining epochs' shuffled batches, one after the other, and the
    batched validation data.

    Each epoch's order is a stateless permutation of (seed, epoch) alone, so a run resumed after
    ``epochs_done`` epochs sees the orders the uninterrupted run saw (``fit`` then reads the
    one pipeline through, ``steps_per_epoch`` batches an epoch).

    Without tf.data's autotuning: the windows are in memory and one batch prefetched is all a
    step needs, while the autotuner's thread held up the first batch of some epochs.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    windows = tf.constant(X_train)
    seed = tf.constant(hp.seed, tf.int64)

    def epoch(index):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(len(X_train), dtype=tf.int64), seed=tf.stack([seed, index])
        )
        batches = tf.data.Dataset.from_tensor_slices(order).batch(hp.batch_size)
        return batches.map(lambda ids: tf.gather(windows, ids))

    train = tf.data.Dataset.range(epochs_done, hp.epochs).flat_map(epoch).prefetch(1)
    val = tf.data.Dataset.from_tensor_slices(X_val).batch(VALIDATION_BATCH_SIZE).cache()
    return train.with_options(options), val.with_options(options)


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
    """Stop at the first non-finite training loss and say so; a run whose validation loss was
    never finite fails at its end.

    A non-finite validation loss alone does not stop the run: in the first epochs the moving
    statistics of BatchNormalization (which validation runs on) can lag so far behind at the
    paper's momentum 0.99 that the KL term overflows, while training itself is sound; Keras'
    early stopping, as the paper used it, takes such an epoch as no improvement.
    """

    def __init__(self) -> None:
        super().__init__()
        self.reason: str | None = None
        self.validated = False  # some epoch's validation loss was finite

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        loss, val_loss = logs.get("loss"), logs.get("val_loss")
        if val_loss is None or math.isfinite(float(val_loss)):
            self.validated = True
        if loss is not None and not math.isfinite(float(loss)):
            self.reason = f"non-finite loss ({float(loss)}) at epoch {epoch + 1}"
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.reason is None and not self.validated:
            self.reason = "non-finite val_loss in every epoch"
