"""Find cuts whose recording is garbage, so they can be dropped with a report.

On the milling data two records are garbage: cut 94 holds 15,360 samples of values near 1e-33
instead of 9,000, and cut 17 holds values up to 1e34 where its neighbours peak near 1 to 10.
The reference study dropped both by hand. We find them by rule, so that another copy of the
data (or another data set in the same layout) is treated the same way:

- wrong length: a cut whose length differs from the most common cut length;
- non-finite: a signal with no finite sample at all;
- degenerate: a constant signal, or one whose peak magnitude is more than ``scale_factor``
  times above or below the median peak of that signal over all cuts.

On our file the good cuts' peaks lie within a factor 16 of the median and the garbage ones at
least a factor 350 away, so the default factor of 100 leaves a wide margin both ways.
A cut with only *some* non-finite samples is not garbage but a damaged file: that is an error
raised by :func:`check_finite`, not a silent drop.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass

import numpy as np

from data_prep.errors import DataFileError
from data_prep.mill import MillData

DEFAULT_SCALE_FACTOR = 100.0


@dataclass(frozen=True)
class CorruptCut:
    """A cut to drop and why."""

    cut_no: int
    reason: str

    def __str__(self) -> str:
        return f"{self.cut_no} ({self.reason})"


def cut_extremes(mill: MillData) -> np.ndarray:
    """Plain (min, max) of every channel of every cut: (cuts, 2, channels).

    Plain min and max propagate NaN and reach inf, so finite extremes prove a cut finite.
    Computed once and shared by :func:`find_corrupted_cuts` and :func:`check_finite`.
    """
    return np.array([[[c.min() for c in cols], [c.max() for c in cols]] for cols in mill.columns])


def find_corrupted_cuts(
    mill: MillData,
    extremes: np.ndarray | None = None,
    scale_factor: float = DEFAULT_SCALE_FACTOR,
) -> list[CorruptCut]:
    """Every garbage cut of ``mill``, in cut order, with the first reason found for each."""
    lengths = [mill.cut_length(cut_no) for cut_no in range(mill.n_cuts)]
    usual_length = Counter(lengths).most_common(1)[0][0]
    extremes = (cut_extremes(mill) if extremes is None else extremes).copy()
    for cut_no in np.flatnonzero(~np.isfinite(extremes).all(axis=(1, 2))):
        extremes[cut_no] = _finite_extremes(mill.columns[cut_no])
    low, high = extremes[:, 0], extremes[:, 1]
    peak = np.fmax(np.abs(low), np.abs(high))  # NaN where a channel has no finite sample
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no cut with a finite sample: NaN
        ratio = peak / np.nanmedian(peak, axis=0)
    found = []
    for cut_no, length in enumerate(lengths):
        reason = None
        if length != usual_length:
            reason = f"{length} samples where cuts have {usual_length}"
        for channel, name in enumerate(mill.signal_names):
            if reason:
                break
            if np.isnan(peak[cut_no, channel]):
                reason = f"{name} has no finite sample"
            elif low[cut_no, channel] == high[cut_no, channel]:
                reason = f"{name} is constant"
            elif not 1 / scale_factor <= ratio[cut_no, channel] <= scale_factor:
                reason = (
                    f"{name} peaks at {peak[cut_no, channel]:.3g}, "
                    f"{ratio[cut_no, channel]:.3g} times the median cut's peak"
                )
        if reason:
            found.append(CorruptCut(cut_no, reason))
    return found


def _finite_extremes(columns: tuple[np.ndarray, ...]) -> np.ndarray:
    """Per-channel (min, max) over finite samples only; NaN for a channel with none."""
    masked = [np.where(np.isfinite(c), c, np.nan) for c in columns]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN channel: NaN is the answer
        return np.array([[np.nanmin(c) for c in masked], [np.nanmax(c) for c in masked]])


def check_finite(mill: MillData, cut_nos: np.ndarray, extremes: np.ndarray | None = None) -> None:
    """Refuse NaN or inf in any of the kept cuts: we neither invent nor silently drop data."""
    for cut_no in cut_nos:
        if extremes is not None and np.isfinite(extremes[cut_no]).all():
            continue
        bad = ~np.isfinite(mill.cut(cut_no))
        if bad.any():
            channel, sample = np.argwhere(bad)[0]
            raise DataFileError(
                mill.path,
                f"cut {cut_no}: {int(bad.sum())} NaN or inf value(s) in a kept cut, first in "
                f"signal '{mill.signal_names[channel]}' at sample {sample}; fix the file or "
                f"remove cut_no {cut_no} from the labels CSV",
            )
