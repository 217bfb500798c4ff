"""Cuts to score with a saved model: a file in the MAT layout or a plain array file, read with
the model's signals, and the cutting region of each cut when no labels file gives one.

The array file is a NumPy ``.npz`` holding ``cuts``, a numeric array of shape
(cuts, samples, signals), and ``signals``, the signal names in the order of its last axis:
names, because a model reads its signals by name (the order may differ from the model's), and
a file that lacks one of the model's signals is refused rather than guessed at. A plain ``.npy``
has no room for the names, so it is not taken.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from data_prep.errors import DataFileError
from data_prep.labels import DESCRIPTIVE_COLUMNS, CutLabels
from data_prep.mill import MillData, load_mill

ARRAY_SUFFIX = ".npz"
CUTS_KEY, SIGNALS_KEY = "cuts", "signals"


def load_cuts(path: str | Path, signals: Sequence[str]) -> tuple[MillData, tuple[str, ...]]:
    """The cuts of ``path`` (MAT layout, or ``.npz`` of cuts) with ``signals``, in that order,
    and the file's other signals, which are left out (the original six-signal file scored by a
    model of the five-signal copy, say).

    Raises:
        DataFileError: the file cannot be read, or lacks one of ``signals`` (the message names
            both sets).
    """
    path = Path(path)
    if path.suffix.lower() == ARRAY_SUFFIX:
        names, columns = _read_arrays(path)
    else:
        mill = load_mill(path)
        names, columns = mill.signal_names, mill.columns
    if not set(signals) <= set(names):
        raise DataFileError(
            path,
            f"its signals differ from the model's: the file has {', '.join(names)}; "
            f"the model takes {', '.join(signals)}",
        )
    order = [names.index(name) for name in signals]
    mill = MillData(
        path=path,
        signal_names=tuple(signals),
        columns=tuple(tuple(cut[i] for i in order) for cut in columns),
    )
    return mill, tuple(name for name in names if name not in signals)


def _read_arrays(path: Path) -> tuple[tuple[str, ...], tuple[tuple[np.ndarray, ...], ...]]:
    """(signal names, per cut one float64 vector per signal) of a ``.npz`` of cuts."""
    if not path.is_file():
        raise DataFileError(path, "file not found")
    try:
        with np.load(path, allow_pickle=False) as content:
            arrays = {key: content[key] for key in content.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataFileError(path, f"not a readable .npz file ({exc})") from None
    missing = [key for key in (CUTS_KEY, SIGNALS_KEY) if key not in arrays]
    if missing:
        raise DataFileError(
            path,
            f"no array '{missing[0]}' (a file of cuts holds '{CUTS_KEY}', shaped "
            f"cuts x samples x signals, and '{SIGNALS_KEY}', their names)",
        )
    cuts, names = arrays[CUTS_KEY], arrays[SIGNALS_KEY]
    if cuts.ndim != 3 or not np.issubdtype(cuts.dtype, np.number) or cuts.shape[0] == 0:
        raise DataFileError(
            path,
            f"'{CUTS_KEY}' is {cuts.dtype} of shape {cuts.shape}; expected numbers shaped "
            "cuts x samples x signals, at least one cut",
        )
    if names.ndim != 1 or names.dtype.kind not in "US" or len(names) != cuts.shape[2]:
        raise DataFileError(
            path,
            f"'{SIGNALS_KEY}' must name each of the {cuts.shape[2]} signals of '{CUTS_KEY}' "
            f"as text, got {names.dtype} of shape {names.shape}",
        )
    signal_names = tuple(str(name) for name in names)
    if len(set(signal_names)) != len(signal_names):
        raise DataFileError(path, f"a signal is named twice in {', '.join(signal_names)}")
    values = cuts.astype(np.float64)
    columns = tuple(
        tuple(np.ascontiguousarray(values[cut, :, channel]) for channel in range(cuts.shape[2]))
        for cut in range(cuts.shape[0])
    )
    return signal_names, columns


def whole_cuts(mill: MillData) -> CutLabels:
    """Every cut of ``mill`` with its whole length as the region to window, and no class: the
    regions to score when no labels file gives the stable cutting region."""
    n = mill.n_cuts
    return CutLabels(
        path=mill.path,
        line=np.arange(1, n + 1),
        cut_no=np.arange(n),
        tool_class=np.full(n, -1),
        window_start=np.zeros(n, dtype=np.int64),
        window_end=np.array([mill.cut_length(cut) for cut in range(n)]),
        descriptive={name: np.full(n, np.nan) for name in DESCRIPTIVE_COLUMNS},
    )
