"""The TCN β-VAE (Hahn & Mechefske 2021) as a Keras 3 model with its own train and test steps.

Encoder: L x [TCN -> BatchNormalization -> MaxPool1D(2)] -> Flatten -> Dense mean and Dense
log-variance -> z = mean + exp(log_var / 2) * eps. Decoder: Dense(F * W / 2^L, selu) -> Reshape
-> L x [UpSampling1D(2) -> BatchNormalization -> TCN] -> Conv1D(channels, K, same, final
activation). Loss: binary cross-entropy + beta * KL / (W * channels). The TCN is the paper's
(``tcn="hahn2021"``) or keras-tcn 3.5's block (``"keras-tcn"``), see :mod:`vae.tcn`.

Keras 3 no longer accepts ``add_loss`` on symbolic tensors, which is how the seeds attached
the KL term; here it is computed in :meth:`BetaVAE.train_step` (as the keras-io VAE example
does), which also lets us log reconstruction and KL apart, so KL collapse shows in the history.

The model is rebuilt from its hyperparameters on load (``get_config`` holds plain values only)
and then gets its weights, so ``safe_mode=True`` loading never deserializes code.
"""

from __future__ import annotations

import itertools
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from vae.fused import (
    PACKAGE,
    FusedAdam,
    _FusedBatchNormalization,
    batchnorm_class,
    conv1d_class,
)
from vae.hyperparams import Hyperparameters
from vae.tcn import TCN

# The encoder's last layers: two heads on the flattened features, then the sampled codings.
CODINGS_MEAN, CODINGS_LOG_VAR, SAMPLING = "codings_mean", "codings_log_var", "sampling"
HEAD_NAMES = (CODINGS_MEAN, CODINGS_LOG_VAR, SAMPLING)


@keras.saving.register_keras_serializable(package=PACKAGE)
class Sampling(layers.Layer):
    """z = mean + exp(log_var / 2) * eps, with eps from a seeded generator."""

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        mean, log_var = inputs
        return self.reparameterize(mean, log_var, self.noise(ops.shape(mean)))

    def noise(self, shape):
        """eps ~ N(0, I): the generator's next draw (drawn whole for a batch split in parts)."""
        return keras.random.normal(shape, seed=self.seed_generator)

    @staticmethod
    def reparameterize(mean, log_var, eps):
        return mean + ops.exp(0.5 * log_var) * eps

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}


def _tcn(hp: Hyperparameters, channels: int, fused: bool, name: str) -> TCN:
    return TCN(
        hp.tcn,
        channels=channels,
        filters=hp.start_filter_no,
        kernel_size=hp.kernel_size_1,
        dilations=hp.dilations,
        activation="selu",
        fused=fused,
        name=name,
    )


def build_encoder(
    hp: Hyperparameters, window: int, channels: int, fused: bool = True
) -> keras.Model:
    """The encoder; ``fused=False`` builds it of Keras' stock layers."""
    batchnorm = batchnorm_class(fused)
    inputs = keras.Input(shape=(window, channels), name="windows")
    x, width = inputs, channels
    for i in range(hp.conv_layers):
        x = _tcn(hp, width, fused, f"encoder_tcn_{i}")(x)
        x = batchnorm(momentum=hp.batchnorm_momentum, name=f"encoder_bn_{i}")(x)
        x = layers.MaxPool1D(pool_size=2, name=f"encoder_pool_{i}")(x)
        width = hp.start_filter_no
    x = layers.Flatten(name="flatten")(x)
    mean = layers.Dense(hp.codings_size, name=CODINGS_MEAN)(x)
    log_var = layers.Dense(hp.codings_size, name=CODINGS_LOG_VAR)(x)
    z = Sampling(seed=hp.seed, name=SAMPLING)([mean, log_var])
    return keras.Model(inputs, [mean, log_var, z], name="encoder")


def build_decoder(
    hp: Hyperparameters, window: int, channels: int, fused: bool = True
) -> keras.Model:
    """The decoder; ``fused=False`` builds it of Keras' stock layers."""
    batchnorm = batchnorm_class(fused)
    inputs = keras.Input(shape=(hp.codings_size,), name="codings")
    steps = window // 2**hp.conv_layers
    x = layers.Dense(hp.start_filter_no * steps, activation="selu", name="decoder_dense")(inputs)
    x = layers.Reshape((steps, hp.start_filter_no), name="reshape")(x)
    for i in range(hp.conv_layers):
        x = layers.UpSampling1D(size=2, name=f"decoder_upsample_{i}")(x)
        x = batchnorm(momentum=hp.batchnorm_momentum, name=f"decoder_bn_{i}")(x)
        x = _tcn(hp, hp.start_filter_no, fused, f"decoder_tcn_{i}")(x)
    outputs = conv1d_class(fused)(
        channels,
        kernel_size=hp.kernel_size_1,
        padding="same",
        activation=hp.final_activation,
        name="reconstruction",
    )(x)
    return keras.Model(inputs, outputs, name="decoder")


def kl_divergence(mean, log_var):
    """KL(q(z|x) || N(0, I)) per window: -0.5 * sum(1 + log_var - exp(log_var) - mean^2)."""
    return -0.5 * ops.sum(1.0 + log_var - ops.exp(log_var) - ops.square(mean), axis=-1)


def split_batch(x, branches: int) -> list:
    """``x`` cut along its first axis into ``branches`` consecutive parts of near-equal size."""
    if branches == 1:
        return [x]
    windows = ops.shape(x)[0]
    bounds = [windows * i // branches for i in range(branches + 1)]
    return [x[start:stop] for start, stop in itertools.pairwise(bounds)]


def _layers(model: keras.Model) -> list[layers.Layer]:
    """A functional model's layers in the order they are applied, its input left out."""
    return [layer for layer in model.layers if not isinstance(layer, layers.InputLayer)]


def _run_on_parts(chain: list[layers.Layer], parts: list, training: bool) -> list:
    """Layers applied in turn to each part; BatchNormalization sees the parts as one batch."""
    for layer in chain:
        if isinstance(layer, _FusedBatchNormalization):
            parts = layer.call_on_parts(parts, training)
        else:
            parts = [layer(part, training=training) for part in parts]
    return parts


def _mean(parts: list):
    """The mean over every element of the parts together."""
    if len(parts) == 1:
        return ops.mean(parts[0])
    total = tf.add_n([ops.sum(part) for part in parts])
    return total / tf.add_n([ops.cast(ops.size(part), total.dtype) for part in parts])


def _rounded_hits(x, reconstruction):
    """The seeds' rounded accuracy per value: round(x) == round(x_hat), threshold 0.5."""
    predicted = ops.cast(ops.round(reconstruction) > 0.5, x.dtype)
    return ops.cast(ops.equal(ops.round(x), predicted), x.dtype)


@keras.saving.register_keras_serializable(package=PACKAGE)
class BetaVAE(keras.Model):
    """A β-VAE over windows of shape (window, channels); call() reconstructs via sampled z."""

    def __init__(self, hyperparameters: dict[str, Any], window: int, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.hp = Hyperparameters.from_saved(hyperparameters)
        self.hp.check_window(window)
        self.window = int(window)
        self.channels = int(channels)
        self.encoder = build_encoder(self.hp, self.window, self.channels)
        self.decoder = build_decoder(self.hp, self.window, self.channels)
        self.kl_scale = self.hp.beta_value / (self.window * self.channels)
        # Training and validation steps split each batch into this many parts that run side by
        # side, each op on one thread (``vae.training.use_cores``); same loss, same gradients.
        self.branches = 1
        self.built = True  # encoder and decoder are built functional models
        self.trackers = {
            name: keras.metrics.Mean(name=name)
            for name in ("loss", "reconstruction", "kl", "rounded_accuracy")
        }

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, inputs, training=None):
        _, _, z = self.encoder(inputs, training=training)
        return self.decoder(z, training=training)

    def _loss_terms(self, x, training: bool):
        parts = split_batch(x, self.branches)
        means, log_vars, codings = self._encode_parts(parts, ops.shape(x)[0], training)
        reconstructions = _run_on_parts(_layers(self.decoder), codings, training)
        pairs = list(zip(parts, reconstructions, strict=True))
        bce = _mean([keras.losses.binary_crossentropy(p, r) for p, r in pairs])
        kl = _mean([kl_divergence(m, v) for m, v in zip(means, log_vars, strict=True)])
        total = bce + self.kl_scale * kl
        accuracy = _mean([_rounded_hits(p, r) for p, r in pairs])
        return total, {"reconstruction": bce, "kl": kl, "rounded_accuracy": accuracy}

    def _encoder_heads(self) -> tuple[dict[str, layers.Layer], list[layers.Layer]]:
        """The encoder's heads (mean, log-variance, sampling) by name, and the layers before."""
        heads = {name: self.encoder.get_layer(name) for name in HEAD_NAMES}
        return heads, [layer for layer in _layers(self.encoder) if layer.name not in heads]

    def codings(self, x, training: bool = False):
        """The coding distribution of windows ``x``: (mean, log_var), with no draw.

        The encoder's functional call also samples a coding, which advances the sampling
        layer's generator: the noise stream of this model's training. What only looks at a
        model (the validation monitor, scoring, figures) encodes here instead, so looking never
        changes what the training draws next.
        """
        heads, trunk = self._encoder_heads()
        (features,) = _run_on_parts(trunk, [x], training)
        return heads[CODINGS_MEAN](features), heads[CODINGS_LOG_VAR](features)

    def _encode_parts(self, parts: list, windows, training: bool) -> tuple[list, list, list]:
        """The encoder on each part: means, log-variances and sampled codings, one per part.

        The noise is drawn once for the whole batch and split as the windows were, so a batch
        gets the same draw however many branches it is split into.
        """
        heads, trunk = self._encoder_heads()
        features = _run_on_parts(trunk, parts, training)
        means = [heads[CODINGS_MEAN](f) for f in features]
        log_vars = [heads[CODINGS_LOG_VAR](f) for f in features]
        sampling = heads[SAMPLING]
        noise = split_batch(sampling.noise((windows, self.hp.codings_size)), len(parts))
        codings = [
            sampling.reparameterize(m, v, e) for m, v, e in zip(means, log_vars, noise, strict=True)
        ]
        return means, log_vars, codings

    def _record(self, x, total, parts) -> dict[str, Any]:
        """Epoch means weighted by batch size, as Keras' own loss tracker (and the seeds') has
        them: an epoch's short last batch counts for its windows, not as a whole batch."""
        windows = ops.cast(ops.shape(x)[0], total.dtype)
        for name, value in {"loss": total, **parts}.items():
            self.trackers[name].update_state(value, sample_weight=windows)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            total, parts = self._loss_terms(x, training=True)
        gradients = tape.gradient(total, self.trainable_weights)
        self.optimizer.apply(gradients, self.trainable_weights)
        return self._record(x, total, parts)

    def test_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        return self._record(x, *self._loss_terms(x, training=False))

    def encode(self, X: np.ndarray, batch_size: int = 1024):
        """(mean, log_var, z) of every window, as NumPy arrays."""
        mean, log_var, z = self.encoder.predict(X, batch_size=batch_size, verbose=0)
        return mean, log_var, z

    def reconstruct(self, X: np.ndarray, batch_size: int = 1024, sample: bool = True):
        """Reconstructions through a sampled z, or through the mean coding (deterministic)."""
        mean, _, z = self.encode(X, batch_size)
        return self.decoder.predict(z if sample else mean, batch_size=batch_size, verbose=0)

    def count_parameters(self) -> int:
        return int(self.encoder.count_params() + self.decoder.count_params())

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "hyperparameters": self.hp.to_dict(),
            "window": self.window,
            "channels": self.channels,
        }


def build_vae(hp: Hyperparameters, window: int, channels: int):
    """A compiled :class:`BetaVAE` ready for ``fit`` (Adam at ``hp.learning_rate``, as the
    seeds at Keras' default)."""
    model = BetaVAE(hp.to_dict(), window, channels)
    model.compile(optimizer=FusedAdam(learning_rate=hp.learning_rate))
    # Created here, eagerly, Adam's two slots per weight cost little; left to Keras, they are
    # created inside the first traced train step, each behind a tf.cond, which lengthens every
    # model's first epoch (benchmarks/bench_train.py measures the first epoch).
    model.optimizer.build(model.trainable_variables)
    return model
