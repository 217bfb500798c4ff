"""The scoring stage: how well each saved model ranks abnormal windows above the rest.

Training minimizes reconstruction loss; the search wants the model that best flags worn tools.
Each model is scored on the full train, validation and test sets (all classes) in two spaces:

- input: per-window reconstruction MSE (mean over time and channels). The model samples its
  coding, so ``repeats`` seeded draws are scored and each metric is kept as mean and standard
  deviation over them (space ``input``); the reconstruction from the mean coding gives the
  deterministic score (space ``input_mean``);
- latent: per-window KL divergence of the encoder's mean and log-variance from N(0, I).

The encoder runs once per split and the decoder once over all draws stacked, not once per
draw and metric as the reference code did. Metrics are in ``search.metrics``. The validation
max-F1 thresholds go to the model's manifest for ``vae-search predict``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from data_prep.prepared import PreparedData
from search.metrics import METRICS, max_f1_threshold
from studies.results import SCORE_FAILED, SCORED, Score
from vae.storage import ModelFileError, load_model, read_manifest, update_manifest

SCORER_VERSION = 1
SPLITS = ("train", "val", "test")
SPACES = ("input", "input_mean", "latent")
THRESHOLD_SPACES = ("input_mean", "latent")  # deterministic: what predict can reproduce
DEFAULT_REPEATS = 4
DEFAULT_ABNORMAL = (2,)  # failed
BATCH_SIZE = 2048


@dataclass(frozen=True)
class WindowScores:
    """Anomaly scores of one split's windows."""

    input: np.ndarray  # (repeats, n): MSE of reconstructions through sampled codings
    input_mean: np.ndarray  # (n,): MSE of the reconstruction through the mean coding
    latent: np.ndarray  # (n,): KL divergence

    def space(self, name: str) -> np.ndarray:
        """The (draws, n) scores of a space; deterministic spaces have one draw."""
        scores = getattr(self, name)
        return scores if scores.ndim == 2 else scores[np.newaxis]


def kl_per_window(mean: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    mean, log_var = mean.astype(np.float64), log_var.astype(np.float64)
    return -0.5 * np.sum(1.0 + log_var - np.exp(log_var) - np.square(mean), axis=-1)


def window_scores(model, X: np.ndarray, repeats: int, seed: int) -> WindowScores:
    """Scores of every window of ``X``; the draws are seeded, so the same seed, same scores."""
    mean, log_var, _ = model.encoder.predict(X, batch_size=BATCH_SIZE, verbose=0)
    noise = np.random.default_rng(seed).standard_normal((repeats, *mean.shape), np.float32)
    codings = np.concatenate([mean[np.newaxis], mean + np.exp(log_var / 2) * noise])
    flat = codings.reshape(-1, mean.shape[-1])
    reconstructions = model.decoder.predict(flat, batch_size=BATCH_SIZE, verbose=0)
    errors = np.square(reconstructions.reshape(repeats + 1, *X.shape) - X[np.newaxis])
    mse = errors.mean(axis=(2, 3), dtype=np.float64)
    return WindowScores(input=mse[1:], input_mean=mse[0], latent=kl_per_window(mean, log_var))


@dataclass(frozen=True)
class ModelScores:
    scores: list[Score]
    thresholds: dict[str, float]  # THRESHOLD_SPACES -> max-F1 threshold on validation


def score_model(
    model, data: PreparedData, abnormal: tuple[int, ...], repeats: int, seed: int = 0
) -> ModelScores:
    """Every metric of every space on every split."""
    scores: list[Score] = []
    thresholds: dict[str, float] = {}
    for index, split in enumerate(SPLITS):
        X, y, _ = data.split(split)
        is_abnormal = np.isin(y, abnormal)
        windows = window_scores(model, X, repeats, seed=seed * len(SPLITS) + index)
        for space in SPACES:
            draws = windows.space(space)
            for metric, function in METRICS.items():
                values = np.array([function(is_abnormal, draw) for draw in draws])
                std = float(values.std()) if len(values) > 1 else None
                scores.append(Score(split, space, metric, float(values.mean()), std))
            if split == "val" and space in THRESHOLD_SPACES:
                thresholds[space] = max_f1_threshold(is_abnormal, draws[0])
    return ModelScores(scores, thresholds)


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
) -> ScoringOutcome:
    """Load, score, and write the thresholds to the manifest; never raises for a bad model."""
    start = time.perf_counter()
    try:
        model = load_model(model_dir)
        result = score_model(model, data, abnormal, repeats, seed)
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
