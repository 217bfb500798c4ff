"""Keras layers and optimizer computed by one TensorFlow kernel each, for training speed.

Each is a drop-in subclass of the Keras class it replaces: the same weights, the same results
within float rounding (tested against the stock classes), fewer and larger kernels. The layer
classes keep their leading underscore: Keras' ``.keras`` files store a layer's weights under
its class name in snake case (``__fused_conv1d``), so renaming them would orphan every saved
model's weights.
"""

from __future__ import annotations

import functools
import os
from typing import Any

# before TensorFlow's first import: the probe's refused gradient is a C++ warning, not news
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import tensorflow as tf
from keras import layers, ops

PACKAGE = "vae_search"
# The two ways a dilated convolution runs (see _FusedConv1D), as doctor names them.
NATIVE, BY_PHASES = "native", "by phases"


class _FusedConv1D(layers.Conv1D):
    """``Conv1D`` run as one 2-D convolution with its bias fused in, dilated on every kernel.

    Keras' ``Conv1D`` wraps a dilated convolution in SpaceToBatchND and BatchToSpaceND and adds
    its bias with a broadcasting add after the convolution. Here the bias is added to the 4-D
    result, where Grappler fuses it into the convolution and its gradient into the filter's.
    Where the kernels dilate by themselves (oneDNN's CPU kernels, cuDNN, XLA) the convolution
    dilates natively; TensorFlow's own CPU kernels refuse a dilated convolution's gradients,
    so there it runs undilated over the signal's phases (:func:`convolve_by_phases`). Both
    paths use the same weights and compute the same values within float rounding, so a model
    trained on one runs on the other.
    """

    def call(self, inputs):
        dilation = self.dilation_rate[0]
        by_phases = dilation > 1 and not native_dilation_supported()
        if self.strides[0] != 1 or self.groups != 1 or (by_phases and self.padding == "same"):
            return super().call(inputs)
        x = inputs
        if self.padding == "causal":
            x = ops.pad(x, self._compute_causal_padding())
        if by_phases:
            y = convolve_by_phases(x, self.kernel, dilation, self.bias if self.use_bias else None)
        else:
            y = tf.nn.conv2d(
                tf.expand_dims(x, 1),
                tf.expand_dims(self.kernel, 0),
                strides=1,
                padding="SAME" if self.padding == "same" else "VALID",
                dilations=[1, 1, dilation, 1],
            )
            if self.use_bias:
                y = tf.nn.bias_add(y, self.bias)
            y = tf.squeeze(y, 1)
        return y if self.activation is None else self.activation(y)


def convolve_by_phases(x, kernel, dilation: int, bias=None):
    """The VALID 1-D convolution of ``x`` (batch, steps, channels) by ``kernel`` (taps,
    channels, filters) dilated by ``dilation``, computed by an undilated 2-D convolution.

    Output step t = q * d + r sums x[(q + j) * d + r] * kernel[j] over the taps j: for each
    phase r, an undilated convolution along q. Reshaped to (batch, steps / d, d, channels),
    the phases lie side by side on the 2-D convolution's width axis, so a (taps, 1) kernel
    convolves every phase at once with no transpose and no dilation, which every kernel runs.
    The signal is padded at its end to a whole number of phases; the padding reaches only
    outputs past the valid ones, which are cut off.
    """
    taps, channels, filters = kernel.shape
    batch = tf.shape(x)[0]
    steps = x.shape[1] if x.shape[1] is not None else tf.shape(x)[1]  # static where known
    x = tf.pad(x, [[0, 0], [0, -steps % dilation], [0, 0]])
    y = tf.nn.conv2d(
        tf.reshape(x, (batch, -1, dilation, channels)),
        tf.expand_dims(kernel, 1),
        strides=1,
        padding="VALID",
    )
    if bias is not None:
        y = tf.nn.bias_add(y, bias)
    return tf.reshape(y, (batch, -1, filters))[:, : steps - (taps - 1) * dilation]


class _FusedBatchNormalization(layers.BatchNormalization):
    """BatchNormalization of (batch, steps, channels) as TensorFlow's fused kernel.

    Keras 3 normalizes with about a dozen separate ops (the moments, then scale and shift) and
    as many again for the gradient; ``FusedBatchNormV3`` does each direction in one kernel
    (oneDNN on CPU, cuDNN on GPU). Same batch statistics and the same moving-average update as
    Keras (with the biased batch variance), so the same layer within float rounding.
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
    """Whether this process's convolution kernels dilate by themselves, in both directions.

    TensorFlow's own (Eigen) CPU kernels run a dilated ``Conv2D`` forwards but refuse its two
    gradients; oneDNN's CPU kernels (on where TensorFlow or ``TF_ENABLE_ONEDNN_OPTS=1`` turns
    them on), cuDNN and XLA run all three. So the probe runs all three ops, once per process,
    on the device TensorFlow places ops on. It runs them eagerly even when first asked while a
    model is traced (``init_scope``: traced ops would only be recorded, not run), and as ops
    rather than through a gradient tape, which ``init_scope`` pauses.
    """
    convolution = {"strides": [1] * 4, "padding": "VALID", "dilations": [1, 1, 2, 1]}
    with tf.init_scope():
        signal, kernel, gradient = (
            tf.ones(shape) for shape in [(1, 1, 5, 1), (1, 2, 1, 1), (1, 1, 3, 1)]
        )
        try:
            tf.raw_ops.Conv2D(input=signal, filter=kernel, **convolution)
            tf.raw_ops.Conv2DBackpropInput(
                input_sizes=signal.shape, filter=kernel, out_backprop=gradient, **convolution
            )
            tf.raw_ops.Conv2DBackpropFilter(
                input=signal, filter_sizes=kernel.shape, out_backprop=gradient, **convolution
            )
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
            return False
    return True


def dilation_path() -> str:
    """How dilated convolutions run in this process: natively, or over the signal's phases."""
    return NATIVE if native_dilation_supported() else BY_PHASES


def conv1d_class(fused: bool) -> type[layers.Conv1D]:
    """:class:`_FusedConv1D` (which runs on every kernel), or Keras' own with ``fused=False``.

    The class never depends on the machine: a ``.keras`` file stores top-level layers'
    weights under their class name, so a model saved on one machine loads on every other.
    """
    return _FusedConv1D if fused else layers.Conv1D


def batchnorm_class(fused: bool) -> type[layers.BatchNormalization]:
    return _FusedBatchNormalization if fused else layers.BatchNormalization


@keras.saving.register_keras_serializable(package=PACKAGE)
class FusedAdam(keras.optimizers.Adam):
    """Keras' Adam whose per-variable update is TensorFlow's fused ``ResourceApplyAdam``.

    The rule is the same (both use lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) and add epsilon
    outside the square root); the difference is one kernel per variable instead of about 25
    ops, and the step's scalars (beta_1^t, beta_2^t) computed once per step instead of once per
    variable, which also shrinks the traced first step.
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
