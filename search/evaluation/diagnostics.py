"""What an engineer checks in a model beyond its ranking score: which signals carry its
reconstruction error, and whether its latent space is alive.

- Per signal: the input-space score of each signal alone, its share of the reconstruction
  error through the mean coding (the window's MSE is the mean of its signals' MSEs), scored as
  average precision per window and per cut with the same intervals as every score. It says
  which sensor the alarm rests on (the published model's: vib_table, then AE_table).
- Latent checks: the KL divergence of each latent dimension, averaged over the validation
  windows; a dimension above :data:`ACTIVE_KL` nats is active. With none active the posterior
  has collapsed onto the prior and the latent (KL) score is noise: every ranking marks it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from search.evaluation.units import SplitUnits
from studies.diagnostics import LatentCheck, SignalScore

__all__ = [
    "ACTIVE_KL",
    "SIGNAL_METRIC",
    "LatentCheck",
    "SignalScore",
    "latent_check",
    "leading_signals",
    "shares",
    "signal_scores",
]

ACTIVE_KL = 0.01  # nats: a latent dimension whose mean KL over validation exceeds it is active
SIGNAL_METRIC = "ap"  # each signal is scored by average precision, per window and per cut


def signal_scores(units: SplitUnits, names: Sequence[str], errors: np.ndarray) -> list[SignalScore]:
    """Each signal's score on one split from its (n, signals) reconstruction errors."""
    found = []
    for column, name in enumerate(names):
        for score in units.scores("signal", errors[np.newaxis, :, column], (SIGNAL_METRIC,)):
            found.append(
                SignalScore(
                    score.split, name, score.metric, score.unit, score.value, score.low, score.high
                )
            )
    return found


def latent_check(kl_dims: np.ndarray) -> LatentCheck:
    """Active dimensions from the (n, codings) KL of each validation window's dimensions."""
    mean = kl_dims.mean(axis=0)
    return LatentCheck(int((mean > ACTIVE_KL).sum()), [float(v) for v in mean])


def shares(errors: np.ndarray) -> np.ndarray:
    """Each signal's share of the reconstruction error, per row of (n, signals) errors."""
    total = errors.sum(axis=-1, keepdims=True)
    return np.divide(errors, total, out=np.zeros_like(errors, dtype=np.float64), where=total > 0)


def leading_signals(errors: np.ndarray, names: Sequence[str], share: float = 0.5) -> str:
    """The signals that carry most of one window's (or cut's) reconstruction error: the largest
    shares, in order, until together they reach ``share``; as ``vib_table:0.62;AE_table:0.21``."""
    parts = shares(errors)
    order = np.argsort(-parts, kind="stable")
    picked, total = [], 0.0
    for i in order:
        picked.append(f"{names[i]}:{parts[i]:.2f}")
        total += parts[i]
        if total >= share:
            break
    return ";".join(picked)
