"""Anomaly scores and verdicts for new data from one saved model, per window and per cut.

The data go through the model's own recorded preprocessing (signals, window, stride and the
training data's min-max range, from its manifest). Scores are the deterministic ones: KL
divergence of the coding (latent space) or the MSE of the reconstruction through the mean
coding (input space). The threshold is one the model's scoring set (``tier``: ``max-f1``, the
default, chosen on validation; ``watch`` or ``act``, percentiles of the healthy validation
scores) or one the user gives; the output's first line says which, and when it was set. A cut
is flagged when at least half of its windows are. Each flagged window and cut names the
signals that carry most of its reconstruction error (``signal:share``). Corrupted cuts (as
``prepare`` finds them) are left out and named in the output with the reason. Every prediction
is logged whole to ``predictions/`` in the model's directory (UTC time in the file's name).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from data_prep.errors import check_choice
from data_prep.files import write_text_atomically
from data_prep.labels import CLASS_NAMES
from data_prep.pipeline import windows_like
from search.evaluation.diagnostics import leading_signals
from search.evaluation.names import DEFAULT_SPACE, DETERMINISTIC, RANK_SPACES
from search.evaluation.thresholds import CUT_SHARE, MAX_F1
from vae.ensemble import load_detector
from vae.scores import window_scores
from vae.storage import ModelFileError, read_manifest

LOG_DIR = "predictions"  # in the model's directory: one CSV per prediction


@dataclass(frozen=True)
class Prediction:
    space: str
    threshold: float
    cut_no: np.ndarray  # per window
    tool_class: np.ndarray  # per window, from the labels
    scores: np.ndarray  # per window
    skipped: tuple[tuple[int, str], ...] = ()  # (cut_no, reason): corrupted cuts, not scored
    threshold_source: str = "given"  # how the threshold was set, in words
    signal_errors: np.ndarray | None = None  # (n, signals) reconstruction error per signal
    signal_names: tuple[str, ...] = ()
    log: Path | None = None  # where the prediction was logged

    @property
    def flagged(self) -> np.ndarray:
        return self.scores >= self.threshold

    def cut_rows(self) -> list[tuple[int, int, int, float, float, bool]]:
        """(cut_no, class, windows, mean score, share flagged, verdict) per cut, in order."""
        rows = []
        for cut in dict.fromkeys(self.cut_no.tolist()):
            mine = self.cut_no == cut
            share = float(self.flagged[mine].mean())
            rows.append(
                (
                    cut,
                    int(self.tool_class[mine][0]),
                    int(mine.sum()),
                    float(self.scores[mine].mean()),
                    share,
                    share >= CUT_SHARE,
                )
            )
        return rows

    def signals(self, rows: np.ndarray, flagged: bool) -> str:
        """The signals carrying most of the reconstruction error of these windows (one
        window, or a cut's), named for a flagged verdict only."""
        if not flagged or self.signal_errors is None:
            return ""
        return leading_signals(self.signal_errors[rows].sum(axis=0), self.signal_names)

    def lines(self) -> list[str]:
        lines = [
            f"# {self.space} space, threshold {self.threshold:.6g} ({self.threshold_source}) "
            "(abnormal if >=)"
        ]
        lines += [f"# cut {cut} not scored: {reason}" for cut, reason in self.skipped]
        lines.append("window,cut_no,class,score,verdict,signals")
        first = {}
        for i, (cut, cls, score, flag) in enumerate(
            zip(self.cut_no, self.tool_class, self.scores, self.flagged, strict=True)
        ):
            first.setdefault(int(cut), i)
            lines.append(
                f"{i - first[int(cut)]},{cut},{CLASS_NAMES[cls]},{score:.6g},{_verdict(flag)},"
                + self.signals(np.array([i]), flag)
            )
        lines.append("cut_no,class,windows,mean_score,share_flagged,verdict,signals")
        lines += [
            f"{cut},{CLASS_NAMES[cls]},{n},{mean:.6g},{share:.3f},{_verdict(flag)},"
            + self.signals(np.flatnonzero(self.cut_no == cut), flag)
            for cut, cls, n, mean, share, flag in self.cut_rows()
        ]
        return lines


def _verdict(flag: bool) -> str:
    return "abnormal" if flag else "normal"


def predict(
    model_dir: str | Path,
    data: str | Path,
    labels: str | Path,
    threshold: float | None = None,
    space: str = DEFAULT_SPACE,
    tier: str = MAX_F1,
) -> Prediction:
    """Score every window of ``data`` (cut regions from ``labels``) with the saved model,
    against ``threshold`` or else the model's ``tier``; log it beside the model."""
    check_choice("space", space, RANK_SPACES)
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    preprocessing = manifest.get("preprocessing")
    if not preprocessing:
        raise ModelFileError(
            model_dir / "manifest.json", "no preprocessing record: score the model first"
        )
    source = "given"
    if threshold is None:
        threshold, source = _stored_threshold(model_dir, manifest.get("scoring", {}), space, tier)
    new = windows_like(Path(data), Path(labels), preprocessing)
    model = load_detector(model_dir)
    scores = window_scores(model, new.X, repeats=0, seed=0)
    prediction = Prediction(
        space,
        float(threshold),
        new.cut_no,
        new.tool_class,
        getattr(scores, DETERMINISTIC[space]),
        new.skipped,
        source,
        scores.signals,
        tuple(preprocessing["signals"]),
    )
    return _logged(prediction, model_dir, data)


def _stored_threshold(model_dir: Path, scoring: dict, space: str, tier: str) -> tuple[float, str]:
    """The threshold the model's scoring set for ``space`` and ``tier``, and how it was set."""
    stored = DETERMINISTIC[space]
    tiers = scoring.get("tiers", {})
    if tier == MAX_F1:
        value, how = scoring.get("thresholds", {}).get(stored), "max-f1: max F1 on validation"
    elif tier in tiers:
        value = tiers[tier].get(stored)
        how = f"{tier}: {tiers[tier]['percentile']:g}th percentile of healthy validation scores"
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


def _logged(prediction: Prediction, model_dir: Path, data: str | Path) -> Prediction:
    """The prediction written whole to the model's log directory (temporary name, rename);
    a directory that cannot take it (read-only) leaves the prediction unlogged, and says so."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    path = model_dir / LOG_DIR / f"{stamp}_{prediction.space}.csv"
    text = "\n".join([f"# data {Path(data).resolve()}", *prediction.lines()]) + "\n"
    try:
        path.parent.mkdir(exist_ok=True)
        write_text_atomically(path, text)
    except OSError:
        return prediction
    return replace(prediction, log=path)
