"""The scoring stage: how well each saved model ranks abnormal windows above the rest.

Training minimizes reconstruction loss; the search wants the model that best flags worn tools.
Each model is scored on the full train, validation and test sets (all classes) in the spaces of
:mod:`vae.scores` (input through sampled codings, kept as mean and standard deviation over the
draws; input through the mean coding; latent), by the metrics of :mod:`vae.metrics`. The
validation max-F1 thresholds go to the model's manifest for ``vae-search predict``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from data_prep.prepared import PreparedData, write_npz
from search.evaluation.bootstrap import CutBootstrap, cut_level, percentile_interval
from search.evaluation.names import (
    CUT_METRICS,
    DEFAULT_BOOTSTRAP,
    DETERMINISTIC,
    SPACES,
    SPLITS,
    score_name,
)
from studies.results import CUT, SCORE_FAILED, SCORED, WINDOW, Score
from vae.ensemble import load_detector
from vae.metrics import METRICS, max_f1_threshold
from vae.scores import window_scores
from vae.storage import ModelFileError, read_manifest, update_manifest

SCORER_VERSION = 2  # 2: cut-level scores and bootstrap intervals
THRESHOLD_SPACES = tuple(DETERMINISTIC.values())  # what predict can reproduce
REPLICATED_SPLITS = ("val", "test")  # whose resample values are kept (ranking, reports)


@dataclass(frozen=True)
class ModelScores:
    scores: list[Score]
    thresholds: dict[str, float]  # THRESHOLD_SPACES -> max-F1 threshold on validation
    # each validation and test score's value in every resample of the split's cuts, by its
    # name (score_name): the resamples are the same for every model, so a configuration's
    # seeds combine resample by resample into an interval over seeds and cuts
    replicates: dict[str, np.ndarray] = field(default_factory=dict)


def score_model(
    model,
    data: PreparedData,
    abnormal: tuple[int, ...],
    repeats: int,
    seed: int = 0,
    bootstrap: int = DEFAULT_BOOTSTRAP,
) -> ModelScores:
    """Every metric of every space on every split, per window and per cut, each with its
    bootstrap interval over the split's cuts (``bootstrap`` resamples; 0: none).

    The resamples depend on the split only, not on the model: every model is judged on the
    same resampled sets of cuts, so their intervals compare like with like.
    """
    scores: list[Score] = []
    thresholds: dict[str, float] = {}
    replicates: dict[str, np.ndarray] = {}
    for index, split in enumerate(SPLITS):
        X, y, cut_no = data.split(split)
        is_abnormal = np.isin(y, abnormal)
        windows = window_scores(model, X, repeats, seed=seed * len(SPLITS) + index)
        cuts, cut_class, _ = cut_level(cut_no, y, windows.latent)
        cut_abnormal = np.isin(cut_class, abnormal)
        by_window = CutBootstrap(is_abnormal, cut_no, bootstrap, seed=index)
        by_cut = CutBootstrap(cut_abnormal, cuts, bootstrap, seed=index)
        kept = replicates if split in REPLICATED_SPLITS else {}
        for space in SPACES:
            draws = windows.space(space)
            scores += _unit_scores(split, space, WINDOW, draws, by_window, tuple(METRICS), kept)
            _, _, cut_draws = cut_level(cut_no, y, draws)
            scores += _unit_scores(split, space, CUT, cut_draws, by_cut, CUT_METRICS, kept)
            if split == "val" and space in THRESHOLD_SPACES:
                thresholds[space] = max_f1_threshold(is_abnormal, draws[0])
    return ModelScores(scores, thresholds, replicates)


def _unit_scores(
    split: str,
    space: str,
    unit: str,
    draws: np.ndarray,
    resampled: CutBootstrap,
    metrics: tuple[str, ...],
    replicates: dict[str, np.ndarray],
) -> list[Score]:
    """Each metric of one split, space and unit: its mean and spread over the draws, and its
    interval over the split's resampled cuts (each resample's value kept in ``replicates``)."""
    values_by_resample = resampled.replicates(draws, metrics)
    scores = []
    for metric in metrics:
        values = np.array([METRICS[metric](resampled.abnormal, draw) for draw in draws])
        std = float(values.std()) if len(values) > 1 else None
        low = high = None
        if metric in values_by_resample:
            low, high = percentile_interval(values_by_resample[metric])
            replicates[score_name(split, space, unit, metric)] = values_by_resample[metric]
        scores.append(Score(split, space, metric, float(values.mean()), std, unit, low, high))
    return scores


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
) -> ScoringOutcome:
    """Load, score, and write the thresholds to the manifest; never raises for a bad model."""
    start = time.perf_counter()
    try:
        model = load_detector(model_dir)
        result = score_model(model, data, abnormal, repeats, seed, bootstrap)
        if result.replicates:
            write_npz(model_dir / replicates_file(abnormal), result.replicates)
        update_manifest(
            model_dir,
            scoring=_manifest_record(result, abnormal),
            preprocessing=_preprocessing(model_dir, data),
        )
    except ModelFileError as exc:
        return _failed(model_dir, str(exc), start)
    except Exception as exc:  # a model that cannot be scored must not stop the others
        return _failed(model_dir, f"{type(exc).__name__}: {exc}", start)
    return ScoringOutcome(model_dir.name, SCORED, None, time.perf_counter() - start, result)


def replicates_file(abnormal: tuple[int, ...]) -> str:
    """The file in a model's directory holding its scores' resample values (ModelScores)."""
    return f"bootstrap-v{SCORER_VERSION}-abnormal-{'-'.join(map(str, abnormal))}.npz"


def read_replicates(model_dir: Path, abnormal: tuple[int, ...]) -> dict[str, np.ndarray]:
    """A scored model's resample values by score name; {} when it has none (scored without a
    bootstrap, or by an older scorer)."""
    try:
        with np.load(model_dir / replicates_file(abnormal)) as stored:
            return {name: stored[name] for name in stored.files}
    except (OSError, ValueError):
        return {}


def _failed(model_dir: Path, reason: str, start: float) -> ScoringOutcome:
    return ScoringOutcome(model_dir.name, SCORE_FAILED, reason, time.perf_counter() - start, None)


def _manifest_record(result: ModelScores, abnormal: tuple[int, ...]) -> dict[str, Any]:
    return {
        "scorer_version": SCORER_VERSION,
        "abnormal": sorted(abnormal),
        "thresholds": result.thresholds,
        "rule": "max F1 on the validation set; a window is abnormal when score >= threshold",
    }


def _preprocessing(model_dir: Path, data: PreparedData) -> dict[str, Any]:
    """The manifest's preprocessing record, filled in for models saved before it existed."""
    return read_manifest(model_dir).get("preprocessing") or data.preprocessing()
