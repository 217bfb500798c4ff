"""Read the milling data set's MAT file in its original layout.

The NASA file holds a struct array ``mill`` of shape (1, n_cuts). Its first fields describe the
cut (case, run, VB, time, DOC, feed, material); every field after ``material`` is a signal, in
file order. The copy we ship has five signals, the original six: the signal list is therefore
read from the file, never hard-coded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_prep.errors import DataFileError

STRUCT_NAME = "mill"
LAST_METADATA_FIELD = "material"


@dataclass(frozen=True)
class MillData:
    """The signals of every cut in a milling MAT file.

    Attributes:
        path: the file they came from (for messages).
        signal_names: the selected signal fields, in the order of the channels.
        columns: per cut (indexed by cut_no), one contiguous float64 vector per signal, as the
            file holds them: not stacking them saves copying every sample once, and windowing
            copies only the stable region.
    """

    path: Path
    signal_names: tuple[str, ...]
    columns: tuple[tuple[np.ndarray, ...], ...]

    @property
    def n_cuts(self) -> int:
        return len(self.columns)

    def cut_length(self, cut_no: int) -> int:
        return len(self.columns[cut_no][0])

    def cut(self, cut_no: int) -> np.ndarray:
        """One cut's signals as a (channels, samples) array."""
        return np.stack(self.columns[cut_no])


def load_mill(path: str | Path, signals: Sequence[str] | None = None) -> MillData:
    """Load the ``mill`` struct of ``path`` and stack the chosen signals per cut.

    Args:
        path: a MATLAB v5 file with the original NASA layout.
        signals: signal fields to keep, in this channel order; ``None`` keeps every field after
            ``material`` in file order (what the reference study did).

    Raises:
        DataFileError: the file is missing, is not a MAT file, has no ``mill`` struct, lacks a
            requested signal, or holds a signal that is not a numeric vector.
    """
    path = Path(path)
    struct = _read_struct(path)
    fields = struct.dtype.names
    if LAST_METADATA_FIELD not in fields:
        raise DataFileError(path, f"struct '{STRUCT_NAME}' has no field '{LAST_METADATA_FIELD}'")
    available = fields[fields.index(LAST_METADATA_FIELD) + 1 :]
    if not available:
        raise DataFileError(path, f"struct '{STRUCT_NAME}' has no signal field after 'material'")
    chosen = tuple(available if signals is None else signals)
    if not chosen:
        raise DataFileError(path, "no signal selected")
    missing = [name for name in chosen if name not in available]
    if missing:
        raise DataFileError(
            path,
            f"signal field '{missing[0]}' missing (signals in file: {', '.join(available)})",
        )
    if len(set(chosen)) != len(chosen):
        raise DataFileError(path, f"signal selected twice in {', '.join(chosen)}")
    records = struct.ravel()
    columns = tuple(
        _cut_columns(path, cut_no, records[cut_no], chosen) for cut_no in range(len(records))
    )
    return MillData(path=path, signal_names=chosen, columns=columns)


def _read_struct(path: Path) -> np.ndarray:
    """Return the ``mill`` struct array, or raise one clear error naming the file."""
    from scipy.io import loadmat  # scipy.io alone; keeps `vae-search --help` light

    if not path.is_file():
        raise DataFileError(path, "file not found")
    try:
        content = loadmat(path, variable_names=[STRUCT_NAME])
    except NotImplementedError:
        raise DataFileError(
            path, "MATLAB v7.3 (HDF5) files are not supported; save it with -v7"
        ) from None
    except Exception as exc:  # scipy raises a zoo of types for broken files
        raise DataFileError(path, f"not a MAT file or truncated ({exc})") from None
    struct = content.get(STRUCT_NAME)
    if struct is None or struct.dtype.names is None:
        raise DataFileError(path, f"no '{STRUCT_NAME}' struct in the file")
    if struct.size == 0:
        raise DataFileError(path, f"struct '{STRUCT_NAME}' holds no cut")
    return struct


def _cut_columns(
    path: Path, cut_no: int, record: np.void, names: tuple[str, ...]
) -> tuple[np.ndarray, ...]:
    """One cut's signals as contiguous float64 vectors, checked for shape and length.

    A field that is not a numeric vector, or signals of one cut with different lengths, mean the
    file's layout is not the one we read: that is an error, not a corrupted cut to drop.
    """
    columns = []
    for name in names:
        value = record[name]
        if (
            not isinstance(value, np.ndarray)
            or value.ndim != 2
            or min(value.shape) != 1
            or not np.issubdtype(value.dtype, np.number)
        ):
            shape = getattr(value, "shape", type(value).__name__)
            raise DataFileError(
                path,
                f"cut {cut_no}: signal '{name}' has shape {shape}; "
                "expected a numeric vector (n, 1)",
            )
        columns.append(np.ascontiguousarray(value.ravel(), dtype=np.float64))
    if len({len(column) for column in columns}) > 1:
        lengths = ", ".join(f"{n}={len(c)}" for n, c in zip(names, columns, strict=True))
        raise DataFileError(path, f"cut {cut_no}: signals differ in length ({lengths})")
    return tuple(columns)
