"""Cut each cut's stable region into fixed-size windows, without a Python loop per window."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from data_prep.errors import DataFileError, ParameterError
from data_prep.labels import CutLabels
from data_prep.mill import MillData


@dataclass(frozen=True)
class Windows:
    """Windows of all kept cuts, in label-row order then time order.

    Attributes:
        X: float64 array (channels, n, window), unscaled. Channel-major, because scaling works
            per channel and reduces much faster over contiguous memory; :func:`to_model_layout`
            gives the (n, window, channels) layout that models take.
        cut_no, case, tool_class: per window, the cut it came from and that cut's labels.
    """

    X: np.ndarray
    cut_no: np.ndarray
    case: np.ndarray
    tool_class: np.ndarray


def window_count(region_length: np.ndarray, window: int, stride: int) -> np.ndarray:
    """Number of whole windows at offsets 0, stride, 2*stride, ... inside each region."""
    region_length = np.asarray(region_length)
    return np.where(region_length >= window, (region_length - window) // stride + 1, 0)


def window_starts(
    region_start: np.ndarray, region_end: np.ndarray, window: int, stride: int
) -> np.ndarray:
    """Each window's first sample in its cut, in the order :func:`make_windows` gives them."""
    counts = window_count(region_end - region_start, window, stride)
    within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(region_start, counts) + within * stride


def check_regions(labels: CutLabels, mill: MillData, window: int) -> None:
    """Refuse regions that leave the signal or cannot hold a single window."""
    lengths = np.array([mill.cut_length(c) for c in labels.cut_no])
    beyond = np.flatnonzero(labels.window_end > lengths)
    if beyond.size:
        i = beyond[0]
        raise DataFileError(
            labels.path,
            f"line {labels.line[i]}: window_end {labels.window_end[i]} of cut_no "
            f"{labels.cut_no[i]} is beyond the signal ({lengths[i]} samples in {mill.path.name})",
        )
    short = np.flatnonzero(labels.window_end - labels.window_start < window)
    if short.size:
        i = short[0]
        raise DataFileError(
            labels.path,
            f"line {labels.line[i]}: stable region [{labels.window_start[i]}, "
            f"{labels.window_end[i]}) of cut_no {labels.cut_no[i]} is shorter than one window "
            f"({window} samples)",
        )


def make_windows(mill: MillData, labels: CutLabels, window: int, stride: int) -> Windows:
    """Windows of size ``window`` every ``stride`` samples in [window_start, window_end).

    Offsets and the order of windows are those of the reference study's loop, which stepped
    through each region and stopped at the first window that no longer fit.
    """
    check_window_params(window, stride)
    check_regions(labels, mill, window)
    counts = window_count(labels.window_end - labels.window_start, window, stride)
    X = np.empty((len(mill.signal_names), int(counts.sum()), window), dtype=np.float64)
    offset = 0
    for cut_no, start, count in zip(labels.cut_no, labels.window_start, counts, strict=True):
        for channel, column in enumerate(mill.columns[cut_no]):
            X[channel, offset : offset + count] = _strided_windows(
                column[start:], count, window, stride
            )
        offset += count
    return Windows(
        X=X,
        cut_no=np.repeat(labels.cut_no, counts),
        case=np.repeat(labels.descriptive["case"], counts),
        tool_class=np.repeat(labels.tool_class, counts),
    )


def _strided_windows(signal: np.ndarray, count: int, window: int, stride: int) -> np.ndarray:
    """A read-only (count, window) view of ``signal`` with rows ``stride`` samples apart.

    ``count`` comes from :func:`window_count` and :func:`check_regions`, so the view never
    leaves the region; ``sliding_window_view`` would check that again at ten times the cost,
    which adds up over a thousand cuts and signals.
    """
    step = signal.strides[0]
    return as_strided(signal, (count, window), (stride * step, step), writeable=False)


def to_model_layout(X: np.ndarray) -> np.ndarray:
    """(channels, n, window) -> contiguous (n, window, channels)."""
    return np.ascontiguousarray(X.transpose(1, 2, 0))


def check_window_params(window: int, stride: int) -> None:
    for name, value in (("window", window), ("stride", stride)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
            raise ParameterError(name, f"must be a positive integer, got {value!r}")
