"""The scoring stage: how well each saved model ranks abnormal windows above the rest.

Training minimizes reconstruction loss; the search wants the model that best flags worn tools.
Each model is scored on the full train, validation and test sets (all classes) in the spaces of
:mod:`vae.scores` (input through sampled codings, kept as mean and standard deviation over the
draws; input through the mean coding; latent), by the metrics of :mod:`vae.metrics`.

The same graph gives what an engineer checks before trusting a detector
(``search.evaluation.diagnostics``): each signal's own reconstruction error (scored as ``ap``
per window and per cut, with intervals), the KL of each latent dimension (how many are active),
and, besides the validation max-F1 thresholds, percentile tiers of the healthy validation
scores with what each flags (``search.evaluation.thresholds``). The thresholds go to the
model's manifest for ``vae-search predict``, appended to its threshold history.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from data_prep.prepared import PreparedData, write_npz
from search.evaluation.diagnostics import LatentCheck, SignalScore, latent_check, signal_scores
from search.evaluation.names import (
    DEFAULT_BOOTSTRAP,
    DEFAULT_TIERS,
    DETERMINISTIC,
    SPACES,
    SPLITS,
)
from search.evaluation.thresholds import (
    MAX_F1,
    OUTCOME_SPLITS,
    percentile_thresholds,
    thresholds_of,
)
from search.evaluation.units import SplitUnits
from studies.diagnostics import Threshold
from studies.results import SCORE_FAILED, SCORED, Score
from vae.ensemble import load_detector
from vae.metrics import max_f1_threshold
from vae.scores import window_scores
from vae.storage import ModelFileError, read_manifest, update_manifest

# 2: cut-level scores and intervals; 3: signals, latent checks, tiers; 4: PCA's finer grid,
# standardised too, and the baselines' resample values kept
SCORER_VERSION = 4
BASELINES_DIR = "baselines"  # in the study directory: the baselines' resample values
THRESHOLD_SPACES = tuple(DETERMINISTIC.values())  # what predict can reproduce
REPLICATED_SPLITS = ("val", "test")  # whose resample values are kept (ranking, reports)


@dataclass(frozen=True)
class ModelScores:
    scores: list[Score]
    thresholds: dict[str, float]  # THRESHOLD_SPACES -> max-F1 threshold on validation
    signals: list[SignalScore] = field(default_factory=list)
    latent: LatentCheck | None = None
    tiers: list[Threshold] = field(default_factory=list)  # every threshold with its outcome
    # each validation and test score's value in every resample of the split's cuts, by its
    # name (score_name): the resamples are the same for every model, so a configuration's
    # seeds combine resample by resample into an interval over seeds and cuts
    replicates: dict[str, np.ndarray] = field(default_factory=dict)


class NotFinite(ValueError):
    """A model whose scores hold NaN or infinity: no metric can rank it."""


def score_model(
    model,
    data: PreparedData,
    abnormal: tuple[int, ...],
    repeats: int,
    seed: int = 0,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    tiers: dict[str, float] = DEFAULT_TIERS,
) -> ModelScores:
    """Every metric of every space on every split, per window and per cut, each with its
    bootstrap interval over the split's cuts (``bootstrap`` resamples; 0: none); each signal's
    own score; the active latent dimensions; the max-F1 and percentile ``tiers`` thresholds
    with what each flags on validation and test.

    The resamples depend on the split only, not on the model: every model is judged on the
    same resampled sets of cuts, so their intervals compare like with like.
    """
    scores: list[Score] = []
    signals: list[SignalScore] = []
    thresholds: dict[str, float] = {}
    deterministic: dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    replicates: dict[str, np.ndarray] = {}
    latent = None
    for index, split in enumerate(SPLITS):
        X, y, cut_no = data.split(split)
        windows = window_scores(model, X, repeats, seed=seed * len(SPLITS) + index)
        units = SplitUnits.of(data, split, abnormal, bootstrap)
        kept = replicates if split in REPLICATED_SPLITS else None
        for space in SPACES:
            draws = windows.space(space)
            if not np.isfinite(draws).all():
                raise NotFinite(f"{space} scores are not finite: the model diverged")
            scores += units.scores(space, draws, replicates=kept)
            if split == "val" and space in THRESHOLD_SPACES:
                thresholds[space] = max_f1_threshold(units.by_window.abnormal, draws[0])
            if space in THRESHOLD_SPACES and split in OUTCOME_SPLITS:
                deterministic.setdefault(space, {})[split] = (draws[0], y, cut_no)
        signals += signal_scores(units, data.signal_names, windows.signals)
        if split == "val":
            latent = latent_check(windows.kl_dims)
    all_thresholds = [
        threshold
        for space, splits in deterministic.items()
        for threshold in thresholds_of(
            space,
            {MAX_F1: thresholds[space], **percentile_thresholds(*splits["val"][:2], tiers)},
            tiers,
            splits,
            abnormal,
        )
    ]
    return ModelScores(scores, thresholds, signals, latent, all_thresholds, replicates)


@dataclass(frozen=True)
class ScoringOutcome:
    """What scoring one model gave: scores, or the reason it could not be scored."""

    model_name: str
    status: str
    reason: str | None
    seconds: float
    result: ModelScores | None


def score_saved_model(
    model_dir: Path,
    data: PreparedData,
    abnormal: tuple[int, ...],
    repeats: int,
    seed: int = 0,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    tiers: dict[str, float] = DEFAULT_TIERS,
) -> ScoringOutcome:
    """Load, score, and write the thresholds to the manifest; never raises for a bad model."""
    start = time.perf_counter()
    try:
        model = load_detector(model_dir)
        result = score_model(model, data, abnormal, repeats, seed, bootstrap, tiers)
        if result.replicates:
            write_npz(model_dir / replicates_file(abnormal), result.replicates)
        update_manifest(
            model_dir,
            scoring=_manifest_record(result, abnormal, read_manifest(model_dir).get("scoring")),
            preprocessing=_preprocessing(model_dir, data),
        )
    except (ModelFileError, NotFinite) as exc:
        return _failed(model_dir, str(exc), start)
    except Exception as exc:  # a model that cannot be scored must not stop the others
        return _failed(model_dir, f"{type(exc).__name__}: {exc}", start)
    return ScoringOutcome(model_dir.name, SCORED, None, time.perf_counter() - start, result)


def replicates_file(abnormal: tuple[int, ...]) -> str:
    """The file in a model's directory holding its scores' resample values (ModelScores)."""
    return f"bootstrap-v{SCORER_VERSION}-abnormal-{'-'.join(map(str, abnormal))}.npz"


def baseline_replicates(study_dir: Path, name: str, abnormal: tuple[int, ...]) -> Path:
    """The file holding baseline ``name``'s scores' resample values in a study directory."""
    return study_dir / BASELINES_DIR / f"{name}-{replicates_file(abnormal)}"


def read_replicates(model_dir: Path, abnormal: tuple[int, ...]) -> dict[str, np.ndarray]:
    """A scored model's resample values by score name; {} when it has none (scored without a
    bootstrap, or by an older scorer)."""
    return read_npz(model_dir / replicates_file(abnormal))


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Resample values by score name from ``path``; {} where there is none."""
    try:
        with np.load(path) as stored:
            return {name: stored[name] for name in stored.files}
    except (OSError, ValueError):
        return {}


def _failed(model_dir: Path, reason: str, start: float) -> ScoringOutcome:
    return ScoringOutcome(model_dir.name, SCORE_FAILED, reason, time.perf_counter() - start, None)


def _manifest_record(
    result: ModelScores, abnormal: tuple[int, ...], before: dict[str, Any] | None
) -> dict[str, Any]:
    """The manifest's scoring record: the max-F1 thresholds (what predict used before tiers
    existed), every tier by space, and the history of every threshold set before, the previous
    record's thresholds appended to it."""
    tiers: dict[str, dict[str, Any]] = {}
    for t in result.tiers:
        tiers.setdefault(t.tier, {"percentile": t.percentile})[t.space] = t.value
    now = datetime.now(UTC).isoformat(timespec="seconds")
    history = list((before or {}).get("threshold_history", []))
    history.append(
        {"set_at": now, "scorer_version": SCORER_VERSION, "abnormal": sorted(abnormal), **tiers}
    )
    return {
        "scorer_version": SCORER_VERSION,
        "abnormal": sorted(abnormal),
        "thresholds": result.thresholds,
        "rule": "max F1 on the validation set; a window is abnormal when score >= threshold",
        "tiers": tiers,
        "set_at": now,
        "threshold_history": history,
    }


def _preprocessing(model_dir: Path, data: PreparedData) -> dict[str, Any]:
    """The manifest's preprocessing record, filled in for models saved before it existed."""
    return read_manifest(model_dir).get("preprocessing") or data.preprocessing()
