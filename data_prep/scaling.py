"""Min-max scaling per channel, fit on the training windows only.

Both functions take windows channel-major, (channels, n, window): see
:class:`data_prep.windows.Windows`.
"""

from __future__ import annotations

import numpy as np

from data_prep.errors import InputError


def fit_min_max(
    X: np.ndarray, train: np.ndarray, signal_names: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel minimum and maximum over the training windows ``X[:, train]``."""
    low = X.min(axis=2)[:, train].min(axis=1)
    high = X.max(axis=2)[:, train].max(axis=1)
    flat = np.flatnonzero(high == low)
    if flat.size:
        raise InputError(
            f"signal '{signal_names[flat[0]]}' is constant over the training windows; "
            "it cannot be min-max scaled (leave it out of the signals)"
        )
    return low, high


def apply_min_max(X: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] on the training range, as float32, still channel-major.

    The arithmetic is the reference study's, in float64, ``(x - min) / |max - min|``, so the
    scaled windows match it bit for bit before the cast to float32.
    """
    scaled = X - low[:, None, None]
    scaled /= np.abs(high - low)[:, None, None]
    return scaled.astype(np.float32)
