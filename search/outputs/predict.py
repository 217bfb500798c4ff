"""Anomaly scores and verdicts for new data from one saved model, per window and per cut.

The data (a MAT file in the original layout, or a ``.npz`` of cuts: see :mod:`data_prep.cuts`)
go through the model's own recorded preprocessing (signals, window, stride and the training
data's min-max range, from its manifest). Windows come from each cut's stable cutting region
when a labels file gives it, else from the whole cut; labels also add the metrics. Scores are
the deterministic ones: KL divergence of the coding (latent space) or the MSE of the
reconstruction through the mean coding (input space). The threshold is one the model's scoring
set (``tier``: ``max-f1``, the default, chosen on validation; ``watch`` or ``act``,
percentiles of the healthy validation scores) or one the user gives; the summary says which,
and when it was set. A cut is flagged when at least half of its windows are. Each flagged
window and cut names the signals that carry most of its reconstruction error
(``signal:share``). Corrupted cuts (as ``prepare`` finds them) are not scored and are named with
the reason. The result is two tables, ``windows.csv`` and ``cuts.csv``, written to a directory
of the user's choice and logged whole to ``predictions/`` in the model's directory.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from data_prep.errors import DataFileError, ParameterError, check_choice
from data_prep.files import writable_directory, write_text_atomically
from data_prep.labels import CLASS_NAMES
from data_prep.pipeline import NewData, windows_like
from search.evaluation.diagnostics import leading_signals
from search.evaluation.names import (
    DEFAULT_ABNORMAL,
    DEFAULT_SPACE,
    DETERMINISTIC,
    RANK_SPACES,
    space_label,
)
from search.evaluation.thresholds import CUT_SHARE, MAX_F1, outcome
from search.execution.quiet import tensorflow_startup_filtered
from vae.ensemble import load_detector
from vae.metrics import average_precision
from vae.scores import window_scores
from vae.storage import ModelFileError, read_manifest

LOG_DIR = "predictions"  # in the model's directory: one folder of tables per prediction
WINDOWS_TABLE, CUTS_TABLE = "windows.csv", "cuts.csv"
WINDOW_COLUMNS = ("cut_no", "window", "start", "class", "score", "verdict", "signals")
CUT_COLUMNS = (
    "cut_no",
    "class",
    "windows",
    "mean_score",
    "share_flagged",
    "verdict",
    "signals",
    "note",  # why a cut was not scored
)
NOT_SCORED = "not scored"


@dataclass(frozen=True)
class Prediction:
    space: str
    threshold: float
    data: Path
    new: NewData
    scores: np.ndarray  # per window
    threshold_source: str = "given"  # how the threshold was set, in words
    signal_errors: np.ndarray | None = None  # (n, signals) reconstruction error per signal
    signal_names: tuple[str, ...] = ()
    abnormal: tuple[int, ...] = DEFAULT_ABNORMAL  # the classes the metrics count as abnormal
    log: Path | None = None  # where the prediction was logged

    @property
    def flagged(self) -> np.ndarray:
        return self.scores >= self.threshold

    @property
    def cut_no(self) -> np.ndarray:
        return self.new.cut_no

    def cut_rows(self) -> list[tuple[int, int, float, float, bool]]:
        """(cut_no, windows, mean score, share flagged, verdict) per scored cut, in order."""
        rows = []
        for cut in dict.fromkeys(self.cut_no.tolist()):
            mine = self.cut_no == cut
            share = float(self.flagged[mine].mean())
            rows.append(
                (cut, int(mine.sum()), float(self.scores[mine].mean()), share, share >= CUT_SHARE)
            )
        return rows

    def signals(self, rows: np.ndarray, flagged: bool) -> str:
        """The signals carrying most of the reconstruction error of these windows (one
        window, or a cut's), named for a flagged verdict only."""
        if not flagged or self.signal_errors is None:
            return ""
        return leading_signals(self.signal_errors[rows].sum(axis=0), self.signal_names)

    def _class(self, rows: np.ndarray) -> str:
        """The class name of these windows' cut, blank without labels."""
        labels = self.new.tool_class
        return "" if labels is None else CLASS_NAMES[labels[rows][0]]

    def window_table(self) -> list[str]:
        """``windows.csv``: the header, then one line per scored window."""
        rows = []
        first: dict[int, int] = {}
        for i, (cut, start, score, flag) in enumerate(
            zip(self.cut_no, self.new.start, self.scores, self.flagged, strict=True)
        ):
            first.setdefault(int(cut), i)
            mine = np.array([i])
            rows.append(
                (
                    cut,
                    i - first[int(cut)],
                    start,
                    self._class(mine),
                    f"{score:.6g}",
                    _verdict(flag),
                    self.signals(mine, flag),
                )
            )
        return _csv_lines(WINDOW_COLUMNS, rows)

    def cut_table(self) -> list[str]:
        """``cuts.csv``: the header, then one line per cut of the file, in cut order; a cut
        left out as corrupted is ``not scored``, with the reason in ``note``."""
        by_cut = {}
        for cut, n, mean, share, flag in self.cut_rows():
            mine = np.flatnonzero(self.cut_no == cut)
            by_cut[cut] = (
                cut,
                self._class(mine),
                n,
                f"{mean:.6g}",
                f"{share:.3f}",
                _verdict(flag),
                self.signals(mine, flag),
                "",
            )
        for cut, reason in self.new.skipped:
            by_cut[cut] = (cut, "", 0, "", "", NOT_SCORED, "", reason)
        return _csv_lines(CUT_COLUMNS, [by_cut[cut] for cut in sorted(by_cut)])

    def summary(self) -> list[str]:
        """A few lines for people: what was scored, how, and what was found."""
        rows = self.cut_rows()
        flagged_cuts = [str(cut) for cut, *_, flag in rows if flag]
        lines = [
            f"scored {len(rows)} of {self.new.cuts} cut(s), {len(self.scores)} windows, "
            f"of {self.data}",
            f"windows from {self.new.regions}",
            f"score: {space_label(DETERMINISTIC[self.space])}, threshold {self.threshold:.6g} "
            f"({self.threshold_source}); "
            "a window is abnormal if its score is >= it, a cut if at least "
            f"{CUT_SHARE:.0%} of its windows are",
            f"abnormal: {len(flagged_cuts)} of {len(rows)} cut(s)"
            + (f" ({', '.join(flagged_cuts)})" if flagged_cuts else "")
            + f", {int(self.flagged.sum())} of {len(self.scores)} windows",
        ]
        if self.new.ignored:
            lines.append(
                f"signals the model does not read, left out: {', '.join(self.new.ignored)}"
            )
        lines += [f"cut {cut} not scored: {reason}" for cut, reason in self.new.skipped]
        return lines + self._metric_lines()

    def _metric_lines(self) -> list[str]:
        """With labels: how the verdicts and scores agree with them."""
        y = self.new.tool_class
        if y is None:
            return []
        classes = ",".join(CLASS_NAMES[c] for c in self.abnormal)
        found = outcome(self.threshold, self.scores, y, self.cut_no, self.abnormal)
        ap = average_precision(np.isin(y, self.abnormal), self.scores)
        return [
            f"against the labels ({classes} abnormal): window precision "
            f"{_share(found['precision'])}, recall {_share(found['recall'])}; cut precision "
            f"{_share(found['cut_precision'])}, recall {_share(found['cut_recall'])}; "
            f"average precision over windows {_share(None if math.isnan(ap) else ap)}"
        ]

    def write(self, directory: Path) -> tuple[Path, Path]:
        """``windows.csv`` and ``cuts.csv`` in ``directory``, each written whole (temporary
        name, then rename)."""
        paths = directory / WINDOWS_TABLE, directory / CUTS_TABLE
        for path, lines in zip(paths, (self.window_table(), self.cut_table()), strict=True):
            write_text_atomically(path, "\n".join(lines) + "\n")
        return paths


def _csv_lines(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    """The header and rows as CSV lines (a reason holding a comma is quoted)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header, *rows])
    return buffer.getvalue().splitlines()


def _verdict(flag: bool) -> str:
    return "abnormal" if flag else "normal"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


@tensorflow_startup_filtered()
def predict(
    model_dir: str | Path,
    data: str | Path,
    labels: str | Path | None = None,
    threshold: float | None = None,
    space: str = DEFAULT_SPACE,
    tier: str | None = None,
    abnormal: tuple[int, ...] = DEFAULT_ABNORMAL,
) -> Prediction:
    """Score every window of ``data`` with the saved model, against ``threshold`` or else the
    model's ``tier`` (max-f1 when neither is given); log it beside the model.

    The windows come from each cut's stable region in ``labels`` when given (which also adds
    the metrics, ``abnormal`` naming the classes counted abnormal), else from the whole cut."""
    check_choice("space", space, RANK_SPACES)
    if threshold is not None:
        if tier is not None:
            raise ParameterError("tier", "and threshold exclude each other: give one")
        if not math.isfinite(threshold):
            raise ParameterError("threshold", f"must be a finite number, got {threshold}")
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    preprocessing = manifest.get("preprocessing")
    if not preprocessing:
        raise ModelFileError(
            model_dir / "manifest.json", "no preprocessing record: score the model first"
        )
    source = "given"
    if threshold is None:
        threshold, source = _stored_threshold(
            model_dir, manifest.get("scoring", {}), space, tier or MAX_F1
        )
    data = Path(data)
    new = windows_like(data, None if labels is None else Path(labels), preprocessing)
    model = load_detector(model_dir)
    scores = window_scores(model, new.X, repeats=0, seed=0)
    prediction = Prediction(
        space,
        float(threshold),
        data.resolve(),
        new,
        getattr(scores, DETERMINISTIC[space]),
        source,
        scores.signals,
        tuple(preprocessing["signals"]),
        abnormal,
    )
    return _logged(prediction, model_dir)


def _stored_threshold(model_dir: Path, scoring: dict, space: str, tier: str) -> tuple[float, str]:
    """The threshold the model's scoring set for ``space`` and ``tier``, and how it was set."""
    stored = DETERMINISTIC[space]
    tiers = scoring.get("tiers", {})
    if tier == MAX_F1:
        value, how = scoring.get("thresholds", {}).get(stored), "max-f1: max F1 on validation"
    elif tier in tiers:
        value = tiers[tier].get(stored)
        how = f"{tier}: {tiers[tier]['percentile']:g}th percentile of healthy validation scores"
    elif not tiers:
        raise ModelFileError(
            model_dir / "manifest.json",
            f"no threshold tier {tier!r}: the model has no tiers yet (vae-search score sets "
            "them), or give a threshold",
        )
    else:
        known = ", ".join([MAX_F1, *tiers])
        raise ModelFileError(
            model_dir / "manifest.json", f"no threshold tier {tier!r} (it has: {known})"
        )
    if value is None or not np.isfinite(value):
        raise ModelFileError(
            model_dir / "manifest.json",
            f"no {space}-space threshold: score the model first, or give a threshold",
        )
    when = scoring.get("set_at")
    return float(value), how + (f", set {when}" if when else "")


def _logged(prediction: Prediction, model_dir: Path) -> Prediction:
    """The prediction's tables and summary written to a new folder of the model's log
    directory; a directory that cannot take it (read-only) leaves the prediction unlogged,
    and the caller says so."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    folder = model_dir / LOG_DIR / f"{stamp}_{prediction.space}"
    try:
        writable_directory(folder, "prediction log")
        prediction.write(folder)
        write_text_atomically(folder / "summary.txt", "\n".join(prediction.summary()) + "\n")
    except (OSError, DataFileError):
        return prediction
    return replace(prediction, log=folder)
