"""A training run's state between two epochs, so an interrupted run resumes where it was.

What a run needs to go on exactly as it would have: the model's weights (moving statistics
included), the optimizer's state, the sampling layer's noise generator, early stopping's state
(its best weights among them), the history and epoch times so far, and how many epochs are
done (the training data's shuffle follows from it). All of it is one ``.npz`` file, written
under a temporary name and renamed, so a kill at any moment leaves the previous state or the
new one. A checkpoint is only taken for the run it was made by: the same hyperparameters and
data, else it is ignored.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

STATE_FILE = "state.npz"
EVERY_SECONDS = 30.0
_stop_at: float | None = None  # this process's training stops here: see stop_at


def stop_at(moment: float | None) -> None:
    """Stop this process's checkpointed training at the end of the first epoch that ends at or
    after ``moment`` (``time.time()``; None: never): its state is saved then, and
    :class:`TimeLimitReached` ends the training, so that a run with a time limit (``run
    --until``) puts the trial back to go on from there. One training per process (a trial's
    job), so the moment is the process's."""
    global _stop_at
    _stop_at = moment


class TimeLimitReached(Exception):
    """The training was stopped at :func:`stop_at`'s moment, its state saved."""

    def __init__(self, epochs_done: int) -> None:
        super().__init__(f"time limit reached after epoch {epochs_done}; state checkpointed")
        self.epochs_done = epochs_done


@dataclass
class Resumed:
    """What a restored checkpoint gives the run besides the model's own state."""

    epochs_done: int
    history: dict[str, list[float]] = field(default_factory=dict)
    epoch_times: list[float] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)  # of the attempt that saved it


class TrainingCheckpoint(keras.callbacks.Callback):
    """Saves the run's state at the end of an epoch, at most every ``every_seconds``."""

    def __init__(
        self,
        directory: str | Path,
        key: dict[str, Any],
        stopper: keras.callbacks.EarlyStopping,
        timer,
        every_seconds: float = EVERY_SECONDS,
        provenance: dict[str, Any] | None = None,
    ) -> None:
        """``provenance`` (vae.provenance) is saved with the state, so an attempt that goes on
        from it can tell whether it runs the same code on the same path."""
        super().__init__()
        self.provenance = provenance or {}
        self.path = Path(directory) / STATE_FILE
        self.key = json.dumps(key, sort_keys=True)
        self.stopper = stopper
        self.timer = timer
        self.every_seconds = every_seconds
        self.history: dict[str, list[float]] = {}
        self.epoch_times: list[float] = []
        self.saves: list[float] = []  # seconds each save took
        self._last = time.monotonic()

    def restore(self, model) -> Resumed:
        """Put the saved state into ``model`` and the early stopping; what else it holds.

        Nothing is restored (0 epochs done) when there is no checkpoint, one of another run,
        or one that does not fit the model (shapes, a file from another version).
        """
        try:
            with np.load(self.path, allow_pickle=False) as saved:
                state = {name: saved[name] for name in saved.files}
            meta = json.loads(str(state["meta"]))
            weights, optimizer = _arrays(state, "weight"), _arrays(state, "optimizer")
            fits = (
                meta["key"] == self.key
                and _shapes(weights) == _shapes(model.get_weights())
                and _shapes(optimizer) == _shapes(model.optimizer.variables)
                and state["noise"].shape == tuple(_noise(model).shape)
            )
        except (OSError, ValueError, KeyError, TypeError):
            return Resumed(0)
        if not fits:
            return Resumed(0)
        model.set_weights(weights)
        for variable, value in zip(model.optimizer.variables, optimizer, strict=True):
            variable.assign(value)
        _noise(model).assign(state["noise"])
        stopper = meta["stopper"]
        self.stopper.resume_from = {**stopper, "best_weights": _arrays(state, "best") or None}
        self.history = meta["history"]
        self.epoch_times = meta["epoch_times"]
        history = {name: list(values) for name, values in self.history.items()}
        return Resumed(
            meta["epochs_done"], history, list(self.epoch_times), meta.get("provenance", {})
        )

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(float(value))
        self.epoch_times.append(self.timer.times[-1])
        last = self.model.stop_training or epoch + 1 >= self.params.get("epochs", epoch + 2)
        due = _stop_at is not None and time.time() >= _stop_at
        if last or (not due and time.monotonic() - self._last < self.every_seconds):
            return  # a run about to end needs no checkpoint
        start = time.monotonic()
        try:
            self._save(epoch + 1)
        except OSError as exc:  # a full disk: the run goes on, only resuming is lost
            print(f"checkpoint not saved: {exc}", flush=True)
        self._last = time.monotonic()
        self.saves.append(self._last - start)
        if due:
            raise TimeLimitReached(epoch + 1)

    def _save(self, epochs_done: int) -> None:
        stopper = self.stopper
        meta = {
            "key": self.key,
            "epochs_done": epochs_done,
            "history": self.history,
            "epoch_times": self.epoch_times,
            "provenance": self.provenance,
            "stopper": {
                "wait": stopper.wait,
                "best": None if stopper.best is None else float(stopper.best),
                "best_epoch": stopper.best_epoch,
            },
        }
        arrays = {
            **_named("weight", self.model.get_weights()),
            **_named("optimizer", [v.numpy() for v in self.model.optimizer.variables]),
            **_named("best", stopper.best_weights or []),
            "noise": _noise(self.model).numpy(),
            "meta": np.array(json.dumps(meta)),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("wb") as handle:
                np.savez(handle, **arrays)
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras' EarlyStopping that can start from a saved state instead of afresh, and takes a
    non-finite validation loss as no improvement (as Keras 2 did, starting from infinity;
    Keras 3 takes any first value as the best, a NaN too)."""

    resume_from: dict[str, Any] | None = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.resume_from:
            for name, value in self.resume_from.items():
                setattr(self, name, value)

    def _is_improvement(self, monitor_value, reference_value):
        if not np.isfinite(monitor_value):
            return False
        return super()._is_improvement(monitor_value, reference_value)


def _noise(model):
    """The state of the sampling layer's seeded noise generator."""
    return model.encoder.get_layer("sampling").seed_generator.state


def _shapes(arrays) -> list[tuple[int, ...]]:
    return [tuple(np.shape(a)) for a in arrays]


def _named(prefix: str, arrays: list) -> dict[str, np.ndarray]:
    return {f"{prefix}_{i:04d}": np.asarray(a) for i, a in enumerate(arrays)}


def _arrays(state: dict[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    return [state[name] for name in sorted(state) if name.startswith(f"{prefix}_")]
