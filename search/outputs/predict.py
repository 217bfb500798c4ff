"""Anomaly scores and verdicts for new data from one saved model, per window and per cut.

The data go through the model's own recorded preprocessing (signals, window, stride and the
training data's min-max range, from its manifest). Scores are the deterministic ones: KL
divergence of the coding (latent space) or the MSE of the reconstruction through the mean
coding (input space). The default threshold is the one chosen on validation (max F1) when the
model was scored; a cut is flagged when at least half of its windows are. Corrupted cuts (as
``prepare`` finds them) are left out and named in the output with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_prep.errors import check_choice
from data_prep.labels import CLASS_NAMES
from data_prep.pipeline import windows_like
from search.evaluation.names import DEFAULT_SPACE, DETERMINISTIC, RANK_SPACES
from vae.ensemble import load_detector
from vae.scores import window_scores
from vae.storage import ModelFileError, read_manifest

CUT_SHARE = 0.5  # a cut is abnormal when at least this share of its windows is


@dataclass(frozen=True)
class Prediction:
    space: str
    threshold: float
    cut_no: np.ndarray  # per window
    tool_class: np.ndarray  # per window, from the labels
    scores: np.ndarray  # per window
    skipped: tuple[tuple[int, str], ...] = ()  # (cut_no, reason): corrupted cuts, not scored

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

    def lines(self) -> list[str]:
        lines = [f"# {self.space} space, threshold {self.threshold:.6g} (abnormal if >=)"]
        lines += [f"# cut {cut} not scored: {reason}" for cut, reason in self.skipped]
        lines.append("window,cut_no,class,score,verdict")
        first = {}
        for i, (cut, cls, score, flag) in enumerate(
            zip(self.cut_no, self.tool_class, self.scores, self.flagged, strict=True)
        ):
            first.setdefault(int(cut), i)
            lines.append(
                f"{i - first[int(cut)]},{cut},{CLASS_NAMES[cls]},{score:.6g},{_verdict(flag)}"
            )
        lines.append("cut_no,class,windows,mean_score,share_flagged,verdict")
        lines += [
            f"{cut},{CLASS_NAMES[cls]},{n},{mean:.6g},{share:.3f},{_verdict(flag)}"
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
) -> Prediction:
    """Score every window of ``data`` (cut regions from ``labels``) with the saved model."""
    check_choice("space", space, RANK_SPACES)
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    preprocessing = manifest.get("preprocessing")
    if not preprocessing:
        raise ModelFileError(
            model_dir / "manifest.json", "no preprocessing record: score the model first"
        )
    if threshold is None:
        threshold = manifest.get("scoring", {}).get("thresholds", {}).get(DETERMINISTIC[space])
        if threshold is None or not np.isfinite(threshold):
            raise ModelFileError(
                model_dir / "manifest.json",
                f"no {space}-space threshold: score the model first, or give a threshold",
            )
    new = windows_like(Path(data), Path(labels), preprocessing)
    model = load_detector(model_dir)
    scores = window_scores(model, new.X, repeats=0, seed=0)
    return Prediction(
        space,
        float(threshold),
        new.cut_no,
        new.tool_class,
        getattr(scores, DETERMINISTIC[space]),
        new.skipped,
    )
