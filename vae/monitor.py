"""The metric that matters, while a model trains: validation PR-AUC every few epochs.

Training minimizes the β-VAE loss on healthy windows and stops early on the validation loss,
as the paper did; what the search wants is a model that ranks failed windows above the rest.
:class:`ValidationScores` scores the validation split's windows (every class) with the scoring
stage's own functions (:func:`vae.scores.window_scores`, :func:`vae.metrics.average_precision`)
and adds ``val_latent_ap`` and ``val_input_mean_ap`` to the epoch's logs, so the history, the
checkpoint, the trial's log line and its epoch records carry them beside the losses. It never
steers the training: early stopping stays on the validation loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from data_prep.labels import CLASS_NAMES
from vae.metrics import average_precision
from vae.scores import MONITORED, window_scores

FAILED = CLASS_NAMES.index("failed")


@dataclass(frozen=True)
class ScoredWindows:
    """The windows a training scores itself on: every window of the validation split, which of
    them count as abnormal, and every how many epochs (1: each)."""

    X: np.ndarray
    abnormal: np.ndarray  # bool per window
    every: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"every must be an integer >= 1, got {self.every!r}")
        if len(self.X) != len(self.abnormal):
            raise ValueError(f"{len(self.X)} windows but {len(self.abnormal)} labels")

    def scores(self, model) -> dict[str, float]:
        """The monitored PR-AUCs of ``model`` as it is now (inference mode, mean coding)."""
        windows = window_scores(model, self.X, repeats=0, seed=0)
        return {
            key: average_precision(self.abnormal, getattr(windows, space))
            for space, key in MONITORED.items()
        }


class ValidationScores(keras.callbacks.Callback):
    """Adds the monitored PR-AUCs to every epoch's logs, first among the callbacks so that those
    after it (the history, the checkpoint, the trial's log) see them: scored every ``every``-th
    epoch, NaN between, so each epoch keeps its place in the history."""

    def __init__(self, windows: ScoredWindows) -> None:
        super().__init__()
        self.windows = windows

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        if (epoch + 1) % self.windows.every == 0:
            logs.update(self.windows.scores(self.model))
        else:
            logs.update(dict.fromkeys(MONITORED.values(), float("nan")))


def validation_windows(data, every: int, abnormal: tuple[int, ...] = (FAILED,)):
    """The validation split of prepared ``data`` as :class:`ScoredWindows` (None when ``every``
    is 0: no monitoring); failed windows count as abnormal, as the scoring stage's default."""
    if every == 0:
        return None
    X, y, _ = data.split("val")
    return ScoredWindows(X, np.isin(y, abnormal), every)
