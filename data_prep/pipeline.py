"""From a MAT file and a labels CSV to a :class:`PreparedData`, once per set of inputs.

:func:`prepare` does the work; :func:`prepare_cached` keys the result by a hash of the input
files' bytes and the parameters, so a search of a thousand trials prepares the data once.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from data_prep.corruption import check_finite, cut_extremes, find_corrupted_cuts
from data_prep.cuts import load_cuts, whole_cuts
from data_prep.errors import DataFileError, ParameterError, check_choice, check_integer
from data_prep.labels import (
    CLASS_NAMES,
    DESCRIPTIVE_COLUMNS,
    CutLabels,
    derive_classes,
    read_labels,
)
from data_prep.mill import MillData, load_mill
from data_prep.prepared import FORMAT_VERSION, PreparedData, save_prepared
from data_prep.scaling import apply_min_max, fit_min_max
from data_prep.splits import SPLITS, split_windows
from data_prep.windows import check_window_params, make_windows, to_model_layout, window_starts

HEALTHY = 0


@dataclass(frozen=True)
class PrepareConfig:
    """What to prepare. Validated at construction, so a bad value fails before any work.

    Attributes:
        data: the milling MAT file (five- or six-signal layout).
        labels: the labels CSV (tool_class, window_start, window_end per cut_no).
        window, stride: window size and step in samples.
        split: ``paper`` (the reference split, by window) or ``cut`` (leakage-free, by cut).
        seed: seed of the ``cut`` split; the ``paper`` split always uses the reference seeds.
        signals: signal fields to use, in channel order; ``None`` for all, in file order.
        thresholds: VB thresholds (mm) to derive classes from wear instead of the CSV's
            tool_class; ``None`` keeps the CSV's hand-checked classes.
    """

    data: Path
    labels: Path
    window: int = 64
    stride: int = 64
    split: str = "paper"
    seed: int = 0
    signals: tuple[str, ...] | None = None
    thresholds: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", Path(self.data))
        object.__setattr__(self, "labels", Path(self.labels))
        check_window_params(self.window, self.stride)
        check_choice("split", self.split, SPLITS)
        check_integer("seed", self.seed, 0)
        if self.signals is not None:
            object.__setattr__(self, "signals", tuple(self.signals))
        if self.thresholds is not None:
            healthy, failed = self.thresholds
            if not 0 < healthy < failed:
                raise ParameterError(
                    "thresholds", f"must satisfy 0 < healthy < failed, got {self.thresholds}"
                )
            object.__setattr__(self, "thresholds", (float(healthy), float(failed)))

    def params(self) -> dict:
        """The parameters without the paths: with the inputs' hashes, they define the result."""
        params = asdict(self)
        del params["data"], params["labels"]
        return params


def load_windows(
    data: Path,
    labels_path: Path,
    signals: tuple[str, ...] | None,
    window: int,
    stride: int,
    thresholds: tuple[float, float] | None = None,
):
    """(mill, kept labels, dropped cuts, unscaled windows) of the labelled, sound cuts."""
    mill = load_mill(data, signals)
    labels = read_labels(labels_path)
    check_cut_numbers(labels, mill)
    if thresholds is not None:
        labels = labels.with_classes(derive_classes(labels, thresholds))
    kept, dropped, windows = sound_windows(mill, labels, window, stride)
    return mill, kept, dropped, windows


def check_cut_numbers(labels: CutLabels, mill: MillData) -> None:
    """Refuse labels that name a cut the data file does not hold."""
    out_of_range = np.flatnonzero((labels.cut_no < 0) | (labels.cut_no >= mill.n_cuts))
    if out_of_range.size:
        i = out_of_range[0]
        raise DataFileError(
            labels.path,
            f"line {labels.line[i]}: cut_no {labels.cut_no[i]} is out of range: "
            f"{mill.path.name} has {mill.n_cuts} cuts (0..{mill.n_cuts - 1})",
        )


def sound_windows(mill: MillData, labels: CutLabels, window: int, stride: int):
    """(kept labels, dropped cuts, unscaled windows): the labelled cuts' windows, corrupted
    cuts left out; no window at all is refused in one line, naming the cuts left out."""
    extremes = cut_extremes(mill)
    dropped = find_corrupted_cuts(mill, extremes)
    kept = labels.select(~np.isin(labels.cut_no, [d.cut_no for d in dropped]))
    check_finite(mill, kept.cut_no, extremes)
    windows = make_windows(mill, kept, window, stride)
    if windows.X.shape[1] == 0:
        if len(kept) == 0:
            raise DataFileError(
                mill.path, "no cut left: every cut is corrupted: " + "; ".join(map(str, dropped))
            )
        raise DataFileError(labels.path, "no window left to prepare")
    return kept, dropped, windows


@dataclass(frozen=True)
class NewData:
    """Windows of new data scaled as a model's training data were, for scoring.

    ``tool_class`` is None without a labels file; ``regions`` says in words where in each cut
    the windows were taken, and why there."""

    X: np.ndarray  # (n, window, channels), float32
    cut_no: np.ndarray  # per window
    start: np.ndarray  # per window, its first sample in the cut
    tool_class: np.ndarray | None  # per window
    cuts: int  # cuts in the file, scored or not
    regions: str
    skipped: tuple[tuple[int, str], ...] = ()  # (cut_no, reason) of corrupted cuts left out
    ignored: tuple[str, ...] = ()  # the file's signals that the model does not read


WHOLE_CUTS = (
    "whole cuts: no labels file gives the stable cutting region, so each cut's entry and exit "
    "are scored too"
)


def windows_like(data: Path, labels: Path | None, preprocessing: dict) -> NewData:
    """Window and scale new data with a model's recorded preprocessing (its manifest's): the
    regions of ``labels`` when given, else whole cuts."""
    window, stride = int(preprocessing["window"]), int(preprocessing["stride"])
    mill, ignored = load_cuts(data, tuple(preprocessing["signals"]))
    if labels is None:
        regions, how = whole_cuts(mill), WHOLE_CUTS
    else:
        regions, how = read_labels(labels), f"stable cutting regions from {labels}"
        check_cut_numbers(regions, mill)
    kept, dropped, windows = sound_windows(mill, regions, window, stride)
    low = np.asarray(preprocessing["scaler_min"], dtype=np.float64)
    high = np.asarray(preprocessing["scaler_max"], dtype=np.float64)
    X = to_model_layout(apply_min_max(windows.X, low, high))
    return NewData(
        X,
        windows.cut_no,
        window_starts(kept.window_start, kept.window_end, window, stride),
        None if labels is None else windows.tool_class,
        mill.n_cuts,
        how,
        tuple((int(d.cut_no), d.reason) for d in dropped),
        ignored,
    )


def prepare(config: PrepareConfig) -> PreparedData:
    """Load, drop corrupted cuts, window, split, scale. Raises InputError on bad input."""
    mill, kept, dropped, windows = load_windows(
        config.data, config.labels, config.signals, config.window, config.stride, config.thresholds
    )
    split = split_windows(config.split, windows.cut_no, windows.tool_class, config.seed)
    low, high = fit_min_max(windows.X, split.train, mill.signal_names)
    X_scaled = apply_min_max(windows.X, low, high)  # once; each split gathers from it

    def X(index: np.ndarray) -> np.ndarray:
        return to_model_layout(X_scaled[:, index])

    y = windows.tool_class
    X_train, X_val = X(split.train), X(split.val)
    return PreparedData(
        X_train=X_train,
        y_train=y[split.train],
        X_val=X_val,
        y_val=y[split.val],
        X_test=X(split.test),
        y_test=y[split.test],
        X_train_slim=X_train[y[split.train] == HEALTHY],
        X_val_slim=X_val[y[split.val] == HEALTHY],
        cut_train=windows.cut_no[split.train],
        cut_val=windows.cut_no[split.val],
        cut_test=windows.cut_no[split.test],
        scaler_min=low,
        scaler_max=high,
        signal_names=mill.signal_names,
        cuts={
            "cut_no": kept.cut_no,
            "tool_class": kept.tool_class,
            **{name: kept.descriptive[name] for name in DESCRIPTIVE_COLUMNS},
        },
        meta={
            "format_version": FORMAT_VERSION,
            "params": config.params(),
            "sources": {
                "data": {"name": config.data.name, "sha256": file_sha256(config.data)},
                "labels": {"name": config.labels.name, "sha256": file_sha256(config.labels)},
            },
            "dropped_cuts": [{"cut_no": d.cut_no, "reason": d.reason} for d in dropped],
        },
    )


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, remembered while its size and mtime stay the same."""
    stat = path.stat()
    return _sha256_of(path.resolve(), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _sha256_of(path: Path, size: int, mtime_ns: int) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def cache_key(config: PrepareConfig) -> str:
    """Hash of the input files' bytes, the parameters and the file format."""
    for path in (config.data, config.labels):
        if not path.is_file():
            raise DataFileError(path, "file not found")
    identity = {
        "format_version": FORMAT_VERSION,
        "params": config.params(),
        "data": file_sha256(config.data),
        "labels": file_sha256(config.labels),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def default_cache_dir() -> Path:
    """``$VAE_SEARCH_CACHE``, else ``~/.cache/vae-search``."""
    configured = os.environ.get("VAE_SEARCH_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "vae-search"


def prepare_cached(config: PrepareConfig, cache_dir: str | Path | None = None) -> tuple[Path, bool]:
    """Path of the prepared file for ``config``, preparing it only on a cache miss.

    Returns the path and whether it was a cache hit. Concurrent callers may both prepare on a
    miss; each writes under a temporary name and renames, and the bytes are the same.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache_dir / f"prepared-{cache_key(config)[:24]}.npz"
    if path.is_file():
        return path, True
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataFileError(
            cache_dir, f"cannot create the cache directory ({exc.strerror})"
        ) from None
    save_prepared(prepare(config), path)
    return path, False


def summary_lines(data: PreparedData) -> list[str]:
    """Counts per split and class, the slim sets, and the dropped cuts, for people to read."""
    header = (
        f"{'split':<8}{'windows':>9}" + "".join(f"{n:>14}" for n in CLASS_NAMES) + f"{'cuts':>7}"
    )
    lines = [header]
    for name in ("train", "val", "test"):
        _, y, cut = data.split(name)
        counts = np.bincount(y, minlength=len(CLASS_NAMES))
        shares = "".join(f"{count:>7} {100 * count / max(len(y), 1):4.1f}%" for count in counts)
        lines.append(f"{name:<8}{len(y):>9}{shares}{len(np.unique(cut)):>7}")
    lines.append(
        f"slim (healthy only): train {len(data.X_train_slim)}, val {len(data.X_val_slim)}; "
        f"signals: {', '.join(data.signal_names)}"
    )
    dropped = data.meta.get("dropped_cuts", [])
    if dropped:
        reasons = "; ".join(f"{d['cut_no']} ({d['reason']})" for d in dropped)
        lines.append(f"dropped {len(dropped)} corrupted cut(s): {reasons}")
    return lines
