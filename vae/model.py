"""The TCN β-VAE (Hahn & Mechefske 2021) as a Keras 3 model with its own train and test steps.

Encoder: L x [TCN -> BatchNormalization -> MaxPool1D(2)] -> Flatten -> Dense mean and Dense
log-variance -> z = mean + exp(log_var / 2) * eps. Decoder: Dense(F * W / 2^L, selu) -> Reshape
-> L x [UpSampling1D(2) -> BatchNormalization -> TCN] -> Conv1D(channels, K, same, final
activation). Loss: binary cross-entropy + beta * KL / (W * channels).

Keras 3 no longer accepts ``add_loss`` on symbolic tensors, which is how the seeds attached
the KL term; here it is computed in :meth:`BetaVAE.train_step` (as the keras-io VAE example
does), which also lets us log reconstruction and KL apart, so KL collapse shows in the history.

The model is rebuilt from its hyperparameters on load (``get_config`` holds plain values only)
and then gets its weights, so ``safe_mode=True`` loading never deserializes code.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np
import tcn.tcn as keras_tcn
import tensorflow as tf
from keras import layers, ops
from tcn import TCN

from vae.hyperparams import Hyperparameters

PACKAGE = "vae_search"
# Keras' default BatchNormalization momentum (0.99) lets the moving statistics trail the batch
# statistics for hundreds of steps; with ~12 steps per epoch, validation (which uses the moving
# statistics) saw losses up to 1e19 in the first epochs. 0.9 tracks them within a few epochs:
# see benchmarks/bench_batchnorm.py for the measurement.
BATCHNORM_MOMENTUM = 0.9
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


class _FusedConv1D(layers.Conv1D):
    """``Conv1D`` run as one 2-D convolution that dilates by itself, with its bias fused in.

    Keras' ``Conv1D`` wraps a dilated convolution in SpaceToBatchND and BatchToSpaceND, because
    TensorFlow's plain (Eigen) CPU kernel cannot dilate (oneDNN's CPU kernel and cuDNN can), and
    adds its bias with a broadcasting add after the convolution. On the paper's best model the
    wrapping was a quarter of each training step (116 -> 86 ms at batch 256 on 2 cores); a bias
    added to the 4-D result instead is fused by Grappler into the convolution, and its gradient
    into the filter's gradient (about 5 % of a step, timed against the unfused layers in one
    process). Same weights, same outputs (tested).
    """

    def call(self, inputs):
        if self.strides[0] != 1 or self.groups != 1:
            return super().call(inputs)
        x = inputs
        if self.padding == "causal":
            x = ops.pad(x, self._compute_causal_padding())
        y = tf.nn.conv2d(
            tf.expand_dims(x, 1),
            tf.expand_dims(self.kernel, 0),
            strides=1,
            padding="SAME" if self.padding == "same" else "VALID",
            dilations=[1, 1, self.dilation_rate[0], 1],
        )
        if self.use_bias:
            y = tf.nn.bias_add(y, self.bias)
        y = tf.squeeze(y, 1)
        return y if self.activation is None else self.activation(y)


class _FusedBatchNormalization(layers.BatchNormalization):
    """BatchNormalization of (batch, steps, channels) as TensorFlow's fused kernel.

    Keras 3 normalizes with about a dozen separate ops (the moments, then scale and shift) and
    as many again for the gradient; ``FusedBatchNormV3`` does each direction in one kernel
    (oneDNN on CPU, cuDNN on GPU): about 8 % of a step on the paper's model, timed against
    Keras' layer in one process. Same batch statistics and the same moving-average update as
    Keras (with the biased batch variance), so the same layer within float rounding (tested).
    """

    def call(self, inputs, training=None, mask=None):
        x = tf.expand_dims(inputs, 1)  # NHWC with H = 1: normalized over batch and steps
        training = bool(training and self.trainable)
        # in training mode the kernel ignores the statistics passed in and uses the batch's
        mean, variance = (
            (tf.zeros_like(self.moving_mean), tf.ones_like(self.moving_variance))
            if training
            else (self.moving_mean, self.moving_variance)
        )
        y, batch_mean, unbiased_variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=x,
            scale=self.gamma,
            offset=self.beta,
            mean=mean,
            variance=variance,
            epsilon=self.epsilon,
            is_training=training,
        )
        if training:
            count = tf.cast(tf.shape(x)[0] * tf.shape(x)[2], unbiased_variance.dtype)
            self._follow(batch_mean, unbiased_variance * (count - 1.0) / count)
        return tf.squeeze(y, 1)

    def call_on_parts(self, parts: list, training: bool) -> list:
        """The layer on a batch given in parts, the parts normalized as the whole batch would be.

        In training, one mean and one variance over all parts (a sum per part, then combined),
        so a batch split into branches gets exactly the statistics, moving averages and
        gradients of the whole batch; inference needs nothing shared.
        """
        if len(parts) == 1 or not (training and self.trainable):
            return [self(part, training=training) for part in parts]
        count = tf.add_n([tf.cast(tf.shape(p)[0] * tf.shape(p)[1], p.dtype) for p in parts])
        mean = tf.add_n([tf.reduce_sum(p, axis=(0, 1)) for p in parts]) / count
        variance = tf.add_n([tf.reduce_sum(tf.square(p - mean), axis=(0, 1)) for p in parts])
        variance /= count  # biased, as the batch statistics of the fused kernel and of Keras
        self._follow(mean, variance)
        scale = self.gamma * tf.math.rsqrt(variance + self.epsilon)
        return [(p - mean) * scale + self.beta for p in parts]

    def _follow(self, batch_mean, batch_variance) -> None:
        """Move the moving statistics towards the batch's, as Keras' layer does."""
        for moving, batch in (
            (self.moving_mean, batch_mean),
            (self.moving_variance, batch_variance),
        ):
            moving.assign(moving * self.momentum + batch * (1.0 - self.momentum))


@functools.cache
def native_dilation_supported() -> bool:
    """Whether this process's convolution kernel dilates by itself (probed once)."""
    try:
        tf.nn.conv2d(
            tf.ones((1, 1, 5, 1)), tf.ones((1, 2, 1, 1)), 1, "VALID", dilations=[1, 1, 2, 1]
        )
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
        return False
    return True


def _conv1d_class(fused: bool) -> type[layers.Conv1D]:
    return _FusedConv1D if fused and native_dilation_supported() else layers.Conv1D


def _batchnorm_class(fused: bool) -> type[layers.BatchNormalization]:
    return _FusedBatchNormalization if fused else layers.BatchNormalization


@contextlib.contextmanager
def _tcn_convolutions(fused: bool) -> Iterator[None]:
    """Let keras-tcn build its convolutions as :class:`_FusedConv1D` where that works.

    keras-tcn creates its layers from the module-level name ``Conv1D`` and has no option to
    choose the class; the name is swapped only while our layers are built.
    """
    original = keras_tcn.Conv1D
    keras_tcn.Conv1D = _conv1d_class(fused)
    try:
        yield
    finally:
        keras_tcn.Conv1D = original


def _tcn(hp: Hyperparameters, name: str) -> TCN:
    return TCN(
        nb_filters=hp.start_filter_no,
        kernel_size=hp.kernel_size_1,
        nb_stacks=1,
        dilations=list(hp.dilations),
        padding="causal",
        use_skip_connections=True,
        dropout_rate=0.0,
        return_sequences=True,
        activation="selu",
        kernel_initializer="he_normal",
        name=name,
    )


def build_encoder(
    hp: Hyperparameters, window: int, channels: int, fused: bool = True
) -> keras.Model:
    """The encoder; ``fused=False`` builds Keras' and keras-tcn's stock layers."""
    with _tcn_convolutions(fused):
        return _build_encoder(hp, window, channels, _batchnorm_class(fused))


def build_decoder(
    hp: Hyperparameters, window: int, channels: int, fused: bool = True
) -> keras.Model:
    """The decoder; ``fused=False`` builds Keras' and keras-tcn's stock layers."""
    with _tcn_convolutions(fused):
        return _build_decoder(hp, window, channels, _conv1d_class(fused), _batchnorm_class(fused))


def _build_encoder(
    hp: Hyperparameters,
    window: int,
    channels: int,
    batchnorm: type[layers.BatchNormalization],
) -> keras.Model:
    inputs = keras.Input(shape=(window, channels), name="windows")
    x = inputs
    for i in range(hp.conv_layers):
        x = _tcn(hp, f"encoder_tcn_{i}")(x)
        x = batchnorm(momentum=BATCHNORM_MOMENTUM, name=f"encoder_bn_{i}")(x)
        x = layers.MaxPool1D(pool_size=2, name=f"encoder_pool_{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    mean = layers.Dense(hp.codings_size, name=CODINGS_MEAN)(x)
    log_var = layers.Dense(hp.codings_size, name=CODINGS_LOG_VAR)(x)
    z = Sampling(seed=hp.seed, name=SAMPLING)([mean, log_var])
    return keras.Model(inputs, [mean, log_var, z], name="encoder")


def _build_decoder(
    hp: Hyperparameters,
    window: int,
    channels: int,
    conv1d: type[layers.Conv1D],
    batchnorm: type[layers.BatchNormalization],
) -> keras.Model:
    inputs = keras.Input(shape=(hp.codings_size,), name="codings")
    steps = window // 2**hp.conv_layers
    x = layers.Dense(hp.start_filter_no * steps, activation="selu", name="decoder_dense")(inputs)
    x = layers.Reshape((steps, hp.start_filter_no), name="reshape")(x)
    for i in range(hp.conv_layers):
        x = layers.UpSampling1D(size=2, name=f"decoder_upsample_{i}")(x)
        x = batchnorm(momentum=BATCHNORM_MOMENTUM, name=f"decoder_bn_{i}")(x)
        x = _tcn(hp, f"decoder_tcn_{i}")(x)
    outputs = conv1d(
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
        self.hp = Hyperparameters.from_dict(hyperparameters)
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

    def _encode_parts(self, parts: list, windows, training: bool) -> tuple[list, list, list]:
        """The encoder on each part: means, log-variances and sampled codings, one per part.

        The noise is drawn once for the whole batch and split as the windows were, so a batch
        gets the same draw however many branches it is split into.
        """
        heads = {name: self.encoder.get_layer(name) for name in HEAD_NAMES}
        trunk = [layer for layer in _layers(self.encoder) if layer.name not in heads]
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


@keras.saving.register_keras_serializable(package=PACKAGE)
class FusedAdam(keras.optimizers.Adam):
    """Keras' Adam whose per-variable update is TensorFlow's fused ``ResourceApplyAdam``.

    The rule is the same (both use lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) and add epsilon
    outside the square root); the difference is one kernel per variable instead of about 25
    ops, and the step's scalars (beta_1^t, beta_2^t) computed once per step instead of once per
    variable (about 2 % of a step and 500 fewer ops), which also shrinks the traced first step.
    """

    def apply(self, grads, trainable_variables=None):
        self._step_scalars: dict[Any, dict[str, Any]] = {}  # filled by the first update_step
        try:
            return super().apply(grads, trainable_variables)
        finally:
            self._step_scalars = {}

    def _scalars(self, dtype, learning_rate) -> dict[str, Any]:
        if dtype not in self._step_scalars:
            step = ops.cast(self.iterations + 1, dtype)
            beta_1, beta_2 = ops.cast(self.beta_1, dtype), ops.cast(self.beta_2, dtype)
            self._step_scalars[dtype] = {
                "beta1_power": ops.power(beta_1, step),
                "beta2_power": ops.power(beta_2, step),
                "lr": ops.cast(learning_rate, dtype),
                "beta1": beta_1,
                "beta2": beta_2,
                "epsilon": ops.cast(self.epsilon, dtype),
            }
        return self._step_scalars[dtype]

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=self._momentums[index].handle,
            v=self._velocities[index].handle,
            grad=ops.cast(gradient, variable.dtype),
            **self._scalars(variable.dtype, learning_rate),
        )


def build_vae(hp: Hyperparameters, window: int, channels: int, learning_rate: float = 1e-3):
    """A compiled :class:`BetaVAE` ready for ``fit`` (Adam, as the seeds)."""
    model = BetaVAE(hp.to_dict(), window, channels)
    model.compile(optimizer=FusedAdam(learning_rate=learning_rate))
    # Created here, eagerly, Adam's two slots per weight take a tenth of a second; left to
    # Keras, they are created inside the first traced train step, each behind a tf.cond, which
    # was seconds of every model's first epoch (benchmarks/bench_train.py).
    model.optimizer.build(model.trainable_variables)
    return model
