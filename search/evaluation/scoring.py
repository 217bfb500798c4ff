"""The scoring stage: how well each saved model ranks abnormal windows above the rest.

Training minimizes reconstruction loss; the search wants the model that best flags worn tools.
Each model is scored on the full train, validation and test sets (all classes) in two spaces:

- input: per-window reconstruction MSE (mean over time and channels). The model samples its
  coding, so ``repeats`` seeded draws are scored and each metric is kept as mean and standard
  deviation over them (space ``input``); the reconstruction from the mean coding gives the
  deterministic score (space ``input_mean``);
- latent: per-window KL divergence of the encoder's mean and log-variance from N(0, I).

One traced graph per model encodes each chunk of windows once, decodes the mean coding and
every draw stacked, and returns only the per-window scores, instead of a ``predict`` per draw
and split as the reference code did. Metrics are in ``search.evaluation.metrics``. The validation
max-F1 thresholds go to the model's manifest for ``vae-search predict``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from data_prep.prepared import PreparedData
from search.evaluation.bootstrap import CutBootstrap, cut_level
from search.evaluation.metrics import METRICS, max_f1_threshold
from search.evaluation.names import (
    CUT_METRICS,
    DEFAULT_BOOTSTRAP,
    DETERMINISTIC,
    SPACES,
    SPLITS,
)
from studies.results import CUT, SCORE_FAILED, SCORED, WINDOW, Score
from vae.storage import ModelFileError, load_model, read_manifest, update_manifest

SCORER_VERSION = 2  # 2: cut-level scores and bootstrap intervals
THRESHOLD_SPACES = tuple(DETERMINISTIC.values())  # what predict can reproduce
# Windows per graph call, each decoded 1 + repeats times: large enough that the per-call cost
# vanishes beside the work, small enough that the stacked decodes' activations stay small.
CHUNK = 1024


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


def window_scores(model, X: np.ndarray, repeats: int, seed: int) -> WindowScores:
    """Scores of every window of ``X``; the draws are seeded, so the same seed, same scores."""
    import tensorflow as tf

    scorer = _scorer(model)
    noise = np.random.default_rng(seed).standard_normal(
        (repeats, len(X), model.decoder.input_shape[-1]), np.float32
    )
    parts = [
        scorer(tf.constant(X[i : i + CHUNK]), tf.constant(noise[:, i : i + CHUNK]))
        for i in range(0, len(X), CHUNK)
    ]
    mse, kl = (np.concatenate([p[k].numpy() for p in parts], axis=-1) for k in (0, 1))
    return WindowScores(input=mse[1:], input_mean=mse[0], latent=kl)


def _scorer(model):
    """One traced graph per model: encode, decode the mean and every draw, reduce to scores.

    Its input signature leaves the batch free, so every chunk and split reuses one trace, and
    only per-window scores leave the graph, never the reconstructions.
    """
    if getattr(model, "_vae_search_scorer", None) is None:
        import tensorflow as tf

        window, channels = model.window, model.channels
        codings = model.decoder.input_shape[-1]

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, window, channels], tf.float32),
                tf.TensorSpec([None, None, codings], tf.float32),
            ]
        )
        def scores(x, noise):
            mean, log_var, _ = model.encoder(x, training=False)
            draws = mean[tf.newaxis] + tf.exp(log_var / 2)[tf.newaxis] * noise
            z = tf.concat([mean[tf.newaxis], draws], axis=0)  # (1 + repeats, n, codings)
            flat = tf.reshape(z, [-1, codings])
            reconstruction = tf.reshape(
                model.decoder(flat, training=False), [-1, tf.shape(x)[0], window, channels]
            )
            errors = tf.square(tf.cast(reconstruction - x[tf.newaxis], tf.float64))
            mse = tf.reduce_mean(errors, axis=[2, 3])
            mean, log_var = tf.cast(mean, tf.float64), tf.cast(log_var, tf.float64)
            kl = -0.5 * tf.reduce_sum(1.0 + log_var - tf.exp(log_var) - tf.square(mean), axis=-1)
            return mse, kl

        model._vae_search_scorer = scores
    return model._vae_search_scorer


@dataclass(frozen=True)
class ModelScores:
    scores: list[Score]
    thresholds: dict[str, float]  # THRESHOLD_SPACES -> max-F1 threshold on validation


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
    for index, split in enumerate(SPLITS):
        X, y, cut_no = data.split(split)
        is_abnormal = np.isin(y, abnormal)
        windows = window_scores(model, X, repeats, seed=seed * len(SPLITS) + index)
        cuts, cut_class, _ = cut_level(cut_no, y, windows.latent)
        cut_abnormal = np.isin(cut_class, abnormal)
        by_window = CutBootstrap(is_abnormal, cut_no, bootstrap, seed=index)
        by_cut = CutBootstrap(cut_abnormal, cuts, bootstrap, seed=index)
        for space in SPACES:
            draws = windows.space(space)
            scores += _unit_scores(split, space, WINDOW, draws, by_window, tuple(METRICS))
            _, _, cut_draws = cut_level(cut_no, y, draws)
            scores += _unit_scores(split, space, CUT, cut_draws, by_cut, CUT_METRICS)
            if split == "val" and space in THRESHOLD_SPACES:
                thresholds[space] = max_f1_threshold(is_abnormal, draws[0])
    return ModelScores(scores, thresholds)


def _unit_scores(
    split: str,
    space: str,
    unit: str,
    draws: np.ndarray,
    resampled: CutBootstrap,
    metrics: tuple[str, ...],
) -> list[Score]:
    """Each metric of one split, space and unit: its mean and spread over the draws, and its
    interval over the split's resampled cuts."""
    intervals = resampled.interval(draws, metrics)
    scores = []
    for metric in metrics:
        values = np.array([METRICS[metric](resampled.abnormal, draw) for draw in draws])
        std = float(values.std()) if len(values) > 1 else None
        low, high = intervals.get(metric, (None, None))
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
        model = load_model(model_dir)
        result = score_model(model, data, abnormal, repeats, seed, bootstrap)
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
