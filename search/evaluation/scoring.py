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
and split as the reference code did. Metrics are in ``search.evaluation.metrics``.

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

from data_prep.prepared import PreparedData
from search.evaluation.bootstrap import CutBootstrap, cut_level
from search.evaluation.diagnostics import LatentCheck, SignalScore, latent_check, signal_scores
from search.evaluation.metrics import METRICS, max_f1_threshold
from search.evaluation.names import (
    CUT_METRICS,
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
from studies.diagnostics import Threshold
from studies.results import CUT, SCORE_FAILED, SCORED, WINDOW, Score
from vae.storage import ModelFileError, load_model, read_manifest, update_manifest

SCORER_VERSION = 3  # 2: cut-level scores and intervals; 3: signals, latent checks, tiers
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
    signals: np.ndarray  # (n, channels): each channel's MSE through the mean coding
    kl_dims: np.ndarray  # (n, codings): each latent dimension's KL divergence

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
    signals, kl_dims = (np.concatenate([p[k].numpy() for p in parts]) for k in (2, 3))
    return WindowScores(mse[1:], mse[0], kl, signals, kl_dims)


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
            signals = tf.reduce_mean(errors[0], axis=1)  # (n, channels), the mean coding's
            mean, log_var = tf.cast(mean, tf.float64), tf.cast(log_var, tf.float64)
            kl_dims = -0.5 * (1.0 + log_var - tf.exp(log_var) - tf.square(mean))
            return mse, tf.reduce_sum(kl_dims, axis=-1), signals, kl_dims

        model._vae_search_scorer = scores
    return model._vae_search_scorer


@dataclass(frozen=True)
class ModelScores:
    scores: list[Score]
    thresholds: dict[str, float]  # THRESHOLD_SPACES -> max-F1 threshold on validation
    signals: list[SignalScore] = field(default_factory=list)
    latent: LatentCheck | None = None
    tiers: list[Threshold] = field(default_factory=list)  # every threshold with its outcome


@dataclass(frozen=True)
class SplitUnits:
    """One split's windows as the metrics see them: which are abnormal, and the resamples of
    its cuts behind the intervals, per window and per cut (drawn once, shared by every score
    of the split: each space, signal and baseline)."""

    split: str
    y: np.ndarray
    cut_no: np.ndarray
    by_window: CutBootstrap
    by_cut: CutBootstrap

    @classmethod
    def of(
        cls, data: PreparedData, split: str, abnormal: tuple[int, ...], bootstrap: int
    ) -> SplitUnits:
        _, y, cut_no = data.split(split)
        index = SPLITS.index(split)  # the resamples' seed: the same for every model
        _, cut_class, _ = cut_level(cut_no, y, np.zeros(len(y)))
        by_window = CutBootstrap(np.isin(y, abnormal), cut_no, bootstrap, seed=index)
        cuts = np.unique(cut_no)
        by_cut = CutBootstrap(np.isin(cut_class, abnormal), cuts, bootstrap, seed=index)
        return cls(split, y, cut_no, by_window, by_cut)

    def scores(
        self, space: str, draws: np.ndarray, metrics: tuple[str, ...] = tuple(METRICS)
    ) -> list[Score]:
        """Each of ``metrics`` (those defined over cuts, at the cut level) of the (draws, n)
        window scores of one space, per window and per cut."""
        _, _, cut_draws = cut_level(self.cut_no, self.y, draws)
        cut_metrics = tuple(m for m in metrics if m in CUT_METRICS)
        return [
            *_unit_scores(self.split, space, WINDOW, draws, self.by_window, metrics),
            *_unit_scores(self.split, space, CUT, cut_draws, self.by_cut, cut_metrics),
        ]


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
    latent = None
    for index, split in enumerate(SPLITS):
        X, y, cut_no = data.split(split)
        windows = window_scores(model, X, repeats, seed=seed * len(SPLITS) + index)
        units = SplitUnits.of(data, split, abnormal, bootstrap)
        for space in SPACES:
            draws = windows.space(space)
            scores += units.scores(space, draws)
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
    return ModelScores(scores, thresholds, signals, latent, all_thresholds)


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
    tiers: dict[str, float] = DEFAULT_TIERS,
) -> ScoringOutcome:
    """Load, score, and write the thresholds to the manifest; never raises for a bad model."""
    start = time.perf_counter()
    try:
        model = load_model(model_dir)
        result = score_model(model, data, abnormal, repeats, seed, bootstrap, tiers)
        update_manifest(
            model_dir,
            scoring=_manifest_record(result, abnormal, read_manifest(model_dir).get("scoring")),
            preprocessing=_preprocessing(model_dir, data),
        )
    except ModelFileError as exc:
        return _failed(model_dir, str(exc), start)
    except Exception as exc:  # a model that cannot be scored must not stop the others
        return _failed(model_dir, f"{type(exc).__name__}: {exc}", start)
    return ScoringOutcome(model_dir.name, SCORED, None, time.perf_counter() - start, result)


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
