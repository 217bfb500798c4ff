"""The prepared data set and its ``.npz`` file: deterministic bytes, atomic writes.

``numpy.savez`` stamps each member with the current time, so two runs on the same inputs would
give different bytes and different hashes; trained models record the hash of the data they saw,
so we write the zip ourselves with a fixed timestamp and members in sorted order.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from data_prep.errors import DataFileError
from data_prep.files import atomic_path

FORMAT_VERSION = 1
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_CUTS_PREFIX = "cuts_"


@dataclass(frozen=True)
class PreparedData:
    """Windows split into train / validation / test, scaled on the training range.

    ``X_*`` are float32 (n, window, channels); ``y_*`` the tool class per window; ``cut_*`` the
    cut_no per window; ``*_slim`` the healthy windows only (what the VAE is trained on).
    ``cuts`` holds one row per kept cut (cut_no, case, run, VB, time, DOC, feed, material,
    tool_class) for reports; ``meta`` the parameters, input hashes and dropped cuts.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    X_train_slim: np.ndarray
    X_val_slim: np.ndarray
    cut_train: np.ndarray
    cut_val: np.ndarray
    cut_test: np.ndarray
    scaler_min: np.ndarray
    scaler_max: np.ndarray
    signal_names: tuple[str, ...]
    cuts: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    sha256: str | None = None  # of the file it was loaded from, when it was

    @property
    def window(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def channels(self) -> int:
        return int(self.X_train.shape[2])

    def preprocessing(self) -> dict[str, Any]:
        """What new data must go through to be scored like these: signals, windows, scaling."""
        params = self.meta.get("params", {})
        return {
            "signals": list(self.signal_names),
            "window": self.window,
            "stride": int(params.get("stride", self.window)),
            "scaler_min": [float(v) for v in self.scaler_min],
            "scaler_max": [float(v) for v in self.scaler_max],
        }

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(X, y, cut_no) of split ``name`` in train, val, test."""
        return getattr(self, f"X_{name}"), getattr(self, f"y_{name}"), getattr(self, f"cut_{name}")


_ARRAY_FIELDS = tuple(
    f.name for f in fields(PreparedData) if f.name not in ("signal_names", "cuts", "meta", "sha256")
)


def to_arrays(data: PreparedData) -> dict[str, np.ndarray]:
    arrays = {name: np.asarray(getattr(data, name)) for name in _ARRAY_FIELDS}
    arrays["signal_names"] = np.array(data.signal_names, dtype=np.str_)
    arrays["meta"] = np.array(json.dumps(data.meta, sort_keys=True), dtype=np.str_)
    arrays.update({_CUTS_PREFIX + name: values for name, values in data.cuts.items()})
    return arrays


def save_prepared(data: PreparedData, path: str | Path) -> str:
    """Write ``data`` to ``path`` atomically; return the sha256 of the bytes written."""
    return write_npz(path, to_arrays(data))


def write_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> str:
    """Write an uncompressed ``.npz`` with fixed timestamps, via a temporary name and rename."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name in sorted(arrays):
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
                info.external_attr = 0o644 << 16
                with zf.open(info, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asarray(arrays[name]), allow_pickle=False)
        with tmp.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
            os.fsync(handle.fileno())
    return digest


def load_prepared(path: str | Path) -> PreparedData:
    """Read a file written by :func:`save_prepared`, refusing anything else by name."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, "file not found")
    try:
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataFileError(path, f"not a prepared data file ({exc})") from None
    missing = [name for name in (*_ARRAY_FIELDS, "signal_names", "meta") if name not in arrays]
    if missing:
        raise DataFileError(path, f"not a prepared data file (no '{missing[0]}' array)")
    meta = json.loads(str(arrays["meta"]))
    if meta.get("format_version") != FORMAT_VERSION:
        raise DataFileError(
            path,
            f"prepared with format {meta.get('format_version')}, this version reads "
            f"{FORMAT_VERSION}: prepare the data again",
        )
    return PreparedData(
        **{name: arrays[name] for name in _ARRAY_FIELDS},
        signal_names=tuple(str(s) for s in arrays["signal_names"]),
        cuts={
            name.removeprefix(_CUTS_PREFIX): values
            for name, values in arrays.items()
            if name.startswith(_CUTS_PREFIX)
        },
        meta=meta,
        sha256=digest,
    )
