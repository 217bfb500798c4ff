"""The fused convolution on both of its paths against the exact result, within float rounding.

A dilated convolution runs natively where the kernels dilate (oneDNN, cuDNN, XLA) and by
phases where they do not (TensorFlow's own CPU kernels): ``vae.fused``. Each path and Keras'
own ``Conv1D`` are checked against the exact value computed in float64 from the same float32
numbers, for the output and for the gradients of a loss ``sum(y * G)`` with respect to the
input, the kernel and the bias. The tolerance is the standard bound on a float32 sum of n
products, ``gamma_n * sum |a_i b_i|`` with ``gamma_n = n u / (1 - n u)`` and ``u = 2**-24``,
taken element by element (plus one rounding of the result): any summation order meets it,
so it holds on every CPU, and a wrong tap, dilation, padding or weight layout misses it by
orders of magnitude.
"""

from __future__ import annotations

import numpy as np
import pytest

UNIT_ROUNDOFF = 2.0**-24


def gamma(n: int) -> float:
    return n * UNIT_ROUNDOFF / (1 - n * UNIT_ROUNDOFF)


def taps(x: np.ndarray, taps_count: int, dilation: int) -> np.ndarray:
    """(batch, steps, taps, channels): the inputs each causal output step sums over."""
    steps = x.shape[1]
    padded = np.pad(x, ((0, 0), ((taps_count - 1) * dilation, 0), (0, 0)))
    return np.stack([padded[:, j * dilation : j * dilation + steps] for j in range(taps_count)], 2)


def exact(x, kernel, bias, grad_out, dilation):
    """Output and gradients in float64, each with the sum of its terms' absolute values."""
    k = kernel.shape[0]
    t, w, g = taps(x, k, dilation), kernel.astype(np.float64), grad_out.astype(np.float64)
    d_taps = np.einsum("btf,kcf->btkc", g, w)
    d_taps_abs = np.einsum("btf,kcf->btkc", np.abs(g), np.abs(w))

    def scatter(per_tap: np.ndarray) -> np.ndarray:  # the transpose of taps()
        steps, pad = x.shape[1], (k - 1) * dilation
        padded = np.zeros((x.shape[0], steps + pad, x.shape[2]))
        for j in range(k):
            padded[:, j * dilation : j * dilation + steps] += per_tap[:, :, j]
        return padded[:, pad:]

    return {
        "y": (
            np.einsum("btkc,kcf->btf", t, w) + bias,
            np.einsum("btkc,kcf->btf", np.abs(t), np.abs(w)) + np.abs(bias),
            k * x.shape[2] + 1,
        ),
        "dx": (scatter(d_taps), scatter(d_taps_abs), k * kernel.shape[2]),
        "dkernel": (
            np.einsum("btkc,btf->kcf", t, g),
            np.einsum("btkc,btf->kcf", np.abs(t), np.abs(g)),
            x.shape[0] * x.shape[1],
        ),
        "dbias": (g.sum((0, 1)), np.abs(g).sum((0, 1)), x.shape[0] * x.shape[1]),
    }


def computed(implementation, x, kernel, bias, grad_out):
    """The output and the gradients of ``sum(y * G)``, by ``implementation(kernel, bias)``,
    which returns the convolution and the kernel and bias variables it convolves with."""
    import tensorflow as tf

    convolve, kernel, bias = implementation(kernel, bias)
    x = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = convolve(x)
        loss = tf.reduce_sum(y * grad_out)
    dx, dkernel, dbias = tape.gradient(loss, [x, kernel, bias])
    return {"y": y, "dx": dx, "dkernel": dkernel, "dbias": dbias}


def causal_layer(layer_class, dilation: int):
    def implementation(kernel, bias):
        layer = layer_class(
            kernel.shape[2], kernel.shape[0], dilation_rate=dilation, padding="causal"
        )
        layer.build((None, None, kernel.shape[1]))
        layer.set_weights([kernel, bias])
        return layer, layer.kernel, layer.bias

    return implementation


def by_phases(dilation: int):
    def implementation(kernel, bias):
        import tensorflow as tf

        from vae.fused import convolve_by_phases

        kernel, bias = tf.Variable(kernel), tf.Variable(bias)

        def convolve(x):
            causal = tf.pad(x, [[0, 0], [(kernel.shape[0] - 1) * dilation, 0], [0, 0]])
            return convolve_by_phases(causal, kernel, dilation, bias)

        return convolve, kernel, bias

    return implementation


def implementations(dilation: int) -> dict:
    import keras

    from vae.fused import _FusedConv1D

    return {
        "keras Conv1D": causal_layer(keras.layers.Conv1D, dilation),
        "fused, this process's path": causal_layer(_FusedConv1D, dilation),
        "fused by phases": by_phases(dilation),
    }


@pytest.mark.parametrize(
    ("steps", "taps_count", "dilation", "channels", "filters"),
    [(64, 3, 1, 5, 16), (64, 3, 2, 5, 16), (32, 8, 4, 16, 16), (16, 2, 8, 16, 8), (13, 3, 4, 3, 4)],
)
def test_every_path_is_within_float_rounding_of_the_exact_convolution(
    steps, taps_count, dilation, channels, filters
):
    """Real-sized cases of the paper's space (kernel 2-8, dilations 1-8, 64 steps halved per
    layer) and a length that is no multiple of the dilation (the phases' padded end)."""
    rng = np.random.default_rng(steps * 100 + dilation)
    x = rng.normal(size=(8, steps, channels)).astype(np.float32)
    kernel = rng.normal(size=(taps_count, channels, filters)).astype(np.float32)
    bias = rng.normal(size=filters).astype(np.float32)
    grad_out = rng.normal(size=(8, steps, filters)).astype(np.float32)
    reference = exact(x, kernel, bias, grad_out, dilation)
    for label, implementation in implementations(dilation).items():
        for name, value in computed(implementation, x, kernel, bias, grad_out).items():
            truth, magnitude, terms = reference[name]
            error = np.abs(np.asarray(value, np.float64) - truth)
            bound = gamma(terms) * magnitude + UNIT_ROUNDOFF * np.abs(truth)
            worst = float(np.max(error / bound))
            assert worst <= 1.0, f"{label}: {name} off by {worst:.1f} x the rounding bound"


def test_fused_batch_normalization_is_within_rounding_of_the_exact_one():
    """The fused BatchNormalization in training mode: its output, its moving statistics and
    the gradients of ``sum(y * G)`` for the input, the scale and the offset, against float64.

    Each of them is a sum over the batch's N = windows x steps values (the mean, the variance,
    the gradients' reductions) followed by a few elementwise operations, so each is within
    ``gamma_N`` of its scale for every sum, four of them chained at most: ``4 gamma_N``.
    """
    import tensorflow as tf

    from vae.fused import _FusedBatchNormalization

    rng = np.random.default_rng(3)
    x = (rng.normal(size=(64, 32, 16)) * 3 + 1).astype(np.float32)
    grad_out = rng.normal(size=x.shape).astype(np.float32)
    layer = _FusedBatchNormalization(momentum=0.9)
    layer.build(x.shape)
    layer.set_weights([rng.normal(size=16).astype(np.float32) for _ in range(4)])
    gamma_, beta, moving_mean, moving_variance = (w.astype(np.float64) for w in layer.get_weights())
    inputs = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = layer(inputs, training=True)
        loss = tf.reduce_sum(y * grad_out)
    dx, dgamma, dbeta = tape.gradient(loss, [inputs, layer.gamma, layer.beta])

    x64, g = x.astype(np.float64), grad_out.astype(np.float64)
    mean, variance = x64.mean((0, 1)), x64.var((0, 1))
    normalized = (x64 - mean) / np.sqrt(variance + layer.epsilon)
    scale = gamma_ / np.sqrt(variance + layer.epsilon)
    g_mean, gx_mean = g.mean((0, 1)), (g * normalized).mean((0, 1))
    expected = {
        "y": normalized * gamma_ + beta,
        "moving mean": moving_mean * 0.9 + mean * 0.1,
        "moving variance": moving_variance * 0.9 + variance * 0.1,
        "dx": scale * (g - g_mean - normalized * gx_mean),
        "dgamma": (g * normalized).sum((0, 1)),
        "dbeta": g.sum((0, 1)),
    }
    computed_ = [y, layer.moving_mean, layer.moving_variance, dx, dgamma, dbeta]
    got = dict(zip(expected, computed_, strict=True))
    tolerance = 4 * gamma(x.shape[0] * x.shape[1])
    for name, truth in expected.items():
        error = np.abs(np.asarray(got[name], np.float64) - truth).max() / np.abs(truth).max()
        assert error <= tolerance, f"{name} off by {error:.1e} of its scale (> {tolerance:.1e})"
