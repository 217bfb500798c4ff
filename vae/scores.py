"""A model's anomaly scores of windows, as the scoring stage and the training monitor see them.

- input: per-window reconstruction MSE (mean over time and channels). The model samples its
  coding, so ``repeats`` seeded draws are scored; the reconstruction from the mean coding gives
  the deterministic score (``input_mean``);
- latent: per-window KL divergence of the encoder's mean and log-variance from N(0, I);
- beside them, each signal's own reconstruction error and each latent dimension's KL, what an
  engineer checks before trusting a detector (``search.evaluation.diagnostics``).

One traced graph per model encodes each chunk of windows once, decodes the mean coding and
every draw stacked, and returns only the per-window scores, instead of a ``predict`` per draw
as the reference code did. It lives beside the model, below the search, because training
scores its validation windows with it too (:mod:`vae.monitor`): the value a training records
at its best epoch is the one the scoring stage finds for the saved model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# What a training logs of its validation scores (vae.monitor), by space: named as the scoring
# stage names the same scores of the saved model
MONITORED = {"latent": "val_latent_ap", "input_mean": "val_input_mean_ap"}
# Every how many epochs a training scores its validation windows by default: scoring every
# window of the validation split costs about a fifth of an epoch of the paper's trainings, and
# every fifth epoch keeps it within 5 % (benchmarks/bench_monitor.py)
DEFAULT_SCORE_EVERY = 5
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
    """Scores of every window of ``X``; the draws are seeded, so the same seed, same scores.
    A detector that scores windows its own way (:class:`vae.ensemble.Ensemble`) does."""
    if hasattr(model, "window_scores"):
        return model.window_scores(X, repeats, seed)
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
            mean, log_var = model.codings(x)
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
