"""Per-cut labels: tool class and stable cutting region, from the reference study's CSV.

The CSV has one row per cut: ``case, run, VB, time, DOC, feed, material, cut_no, tool_class,
window_start, window_end``. Only the last four are needed to build windows; the rest describe
the cut and feed the reports. It is read with the ``csv`` module: pandas would cost more to
import than the whole file costs to parse.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_prep.errors import DataFileError

REQUIRED_COLUMNS = ("cut_no", "tool_class", "window_start", "window_end")
DESCRIPTIVE_COLUMNS = ("case", "run", "VB", "time", "DOC", "feed", "material")
CLASS_NAMES = ("healthy", "degraded", "failed")
DEFAULT_THRESHOLDS = (0.2, 0.7)  # flank wear VB in mm: healthy below 0.2, failed from 0.7


@dataclass(frozen=True)
class CutLabels:
    """Labels of the cuts listed in a CSV, as parallel arrays in CSV row order.

    Descriptive columns that the CSV lacks hold NaN, so reports can say "unknown".
    """

    path: Path
    line: np.ndarray  # CSV line number of each row (header is line 1), for messages
    cut_no: np.ndarray
    tool_class: np.ndarray
    window_start: np.ndarray
    window_end: np.ndarray
    descriptive: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.cut_no)

    def select(self, rows: np.ndarray) -> CutLabels:
        """The labels of the given rows (boolean mask or indices), in that order."""
        return CutLabels(
            path=self.path,
            line=self.line[rows],
            cut_no=self.cut_no[rows],
            tool_class=self.tool_class[rows],
            window_start=self.window_start[rows],
            window_end=self.window_end[rows],
            descriptive={name: values[rows] for name, values in self.descriptive.items()},
        )

    def with_classes(self, tool_class: np.ndarray) -> CutLabels:
        """The same labels with another class per cut (e.g. derived from VB)."""
        return CutLabels(
            path=self.path,
            line=self.line,
            cut_no=self.cut_no,
            tool_class=np.asarray(tool_class, dtype=np.int64),
            window_start=self.window_start,
            window_end=self.window_end,
            descriptive=self.descriptive,
        )


def read_labels(path: str | Path) -> CutLabels:
    """Read and check a labels CSV.

    Raises:
        DataFileError: the file is missing, lacks a required column, holds a value that is not
            an integer where one is needed, a class outside 0..2, a repeated cut_no, or a region
            whose end is not after its start.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, "file not found")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = tuple(reader.fieldnames or ())
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataFileError(path, f"not a readable CSV ({exc})") from None
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise DataFileError(
            path, f"missing column '{missing[0]}' (columns: {', '.join(header) or 'none'})"
        )
    if not rows:
        raise DataFileError(path, "no rows")
    lines = np.arange(2, len(rows) + 2)
    required = {
        name: np.array(
            [_integer(path, line, name, row[name]) for line, row in zip(lines, rows, strict=True)]
        )
        for name in REQUIRED_COLUMNS
    }
    descriptive = {
        name: np.array(
            [_number(path, line, name, row[name]) for line, row in zip(lines, rows, strict=True)]
        )
        if name in header
        else np.full(len(rows), np.nan)
        for name in DESCRIPTIVE_COLUMNS
    }
    labels = CutLabels(path=path, line=lines, descriptive=descriptive, **required)
    _check_consistency(labels)
    return labels


def _check_consistency(labels: CutLabels) -> None:
    bad_class = np.flatnonzero(~np.isin(labels.tool_class, (0, 1, 2)))
    if bad_class.size:
        i = bad_class[0]
        raise DataFileError(
            labels.path,
            f"line {labels.line[i]}: tool_class {labels.tool_class[i]} is not 0, 1 or 2",
        )
    _, first, counts = np.unique(labels.cut_no, return_index=True, return_counts=True)
    if (counts > 1).any():
        cut = labels.cut_no[first[np.argmax(counts > 1)]]
        raise DataFileError(labels.path, f"cut_no {cut} appears more than once")
    empty = np.flatnonzero((labels.window_start < 0) | (labels.window_end <= labels.window_start))
    if empty.size:
        i = empty[0]
        raise DataFileError(
            labels.path,
            f"line {labels.line[i]}: stable region [{labels.window_start[i]}, "
            f"{labels.window_end[i]}) of cut_no {labels.cut_no[i]} is empty or negative",
        )


def _integer(path: Path, line: int, column: str, text: str | None) -> int:
    try:
        value = float(text or "")
    except ValueError:
        value = math.nan
    if not value.is_integer():
        raise DataFileError(path, f"line {line}: {column} '{text}' is not an integer")
    return int(value)


def _number(path: Path, line: int, column: str, text: str | None) -> float:
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise DataFileError(path, f"line {line}: {column} '{text}' is not a number") from None


def classes_from_vb(
    vb: np.ndarray, thresholds: tuple[float, float] = DEFAULT_THRESHOLDS
) -> np.ndarray:
    """Tool class per flank wear: 0 below ``thresholds[0]``, 2 from ``thresholds[1]``, else 1.

    NaN (not measured) gives -1: fill it first with :func:`fill_missing_vb`.
    """
    healthy_below, failed_from = thresholds
    if not 0 < healthy_below < failed_from:
        raise ValueError(f"thresholds must satisfy 0 < healthy < failed, got {thresholds}")
    vb = np.asarray(vb, dtype=np.float64)
    classes = np.where(vb < healthy_below, 0, np.where(vb < failed_from, 1, 2))
    return np.where(np.isnan(vb), -1, classes)


def fill_missing_vb(case: np.ndarray, time: np.ndarray, vb: np.ndarray) -> np.ndarray:
    """Fill unmeasured VB by linear interpolation in cutting time within each case.

    Each case starts with a new tool, so VB is anchored at 0 mm at time 0. On the milling data
    this reproduces every hand-filled class of the reference CSV (tested), which is why custom
    thresholds can be applied to cuts whose wear was never measured.
    """
    case, time, vb = (np.asarray(a, dtype=np.float64) for a in (case, time, vb))
    filled = vb.copy()
    for case_id in np.unique(case):
        rows = case == case_id
        measured = rows & ~np.isnan(vb)
        order = np.argsort(time[measured], kind="stable")
        known_time = np.r_[0.0, time[measured][order]]
        known_vb = np.r_[0.0, vb[measured][order]]
        filled[rows] = np.interp(time[rows], known_time, known_vb)
    return filled


def derive_classes(labels: CutLabels, thresholds: tuple[float, float]) -> np.ndarray:
    """Tool class of every cut from its (filled) VB, for thresholds other than the CSV's."""
    needed = [n for n in ("case", "time", "VB") if np.isnan(labels.descriptive[n]).all()]
    if needed:
        raise DataFileError(
            labels.path, f"thresholds need column '{needed[0]}' to derive classes from VB"
        )
    d = labels.descriptive
    return classes_from_vb(fill_missing_vb(d["case"], d["time"], d["VB"]), thresholds)
