"""The temporal convolutional network (TCN) layer of the β-VAE, in its two architectures.

``"hahn2021"`` is the TCN the paper's author vendored (keras-tcn of early 2020), read off his
published model: a 1x1 input convolution, then one residual block per dilation, each
``conv -> ReLU -> conv -> ReLU`` (the *path*) with a 1x1 convolution on the residual in every
block but the last; a block passes ``activation(residual + path)`` on and ``path`` to the skip
sum, which is the layer's output.

``"keras-tcn"`` is keras-tcn 3.5's block, which vae-search trained before it had the paper's:
no input convolution, the path ``conv -> act -> conv -> act -> act`` (its blocks apply the
activation once more after the second one), and a 1x1 convolution on the residual only where
the channels change.

Both are written here rather than taken from keras-tcn, so that their convolutions are
:class:`~vae.fused._FusedConv1D` without rebinding anything in another package. The sub-layers
sit under keras-tcn's attribute names (``residual_block_0``, ``conv1D_0``, ``matching_conv1D``)
because a ``.keras`` file stores weights under them: models saved when vae-search built
keras-tcn's own layers load into these.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

from vae.fused import PACKAGE, conv1d_class
from vae.hyperparams import HAHN2021, KERAS_TCN, TCN_ARCHITECTURES

# The paper's TCN applies ReLU inside its blocks, whatever the TCN's activation is.
_HAHN2021_PATH_ACTIVATION = "relu"


class ResidualBlock(layers.Layer):
    """One dilated block; ``call`` returns ``(output to the next block, skip output)``."""

    def __init__(
        self,
        architecture: str,
        filters: int,
        kernel_size: int,
        dilation: int,
        activation: str,
        residual_conv: bool,
        conv1d: type[layers.Conv1D],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.architecture = architecture
        self.activation = keras.activations.get(activation)
        path_activation = activation if architecture == KERAS_TCN else _HAHN2021_PATH_ACTIVATION
        self.path_activation = keras.activations.get(path_activation)
        self.conv1D_0, self.conv1D_1 = (
            conv1d(
                filters,
                kernel_size,
                dilation_rate=dilation,
                padding="causal",
                kernel_initializer="he_normal",
                name=f"conv1D_{k}",
            )
            for k in range(2)
        )
        self.matching_conv1D = (
            conv1d(
                filters, 1, padding="same", kernel_initializer="he_normal", name="matching_conv1D"
            )
            if residual_conv
            else None
        )

    def call(self, inputs):
        path = self.path_activation(self.conv1D_0(inputs))
        path = self.path_activation(self.conv1D_1(path))
        if self.architecture == KERAS_TCN:
            path = self.activation(path)
        residual = inputs if self.matching_conv1D is None else self.matching_conv1D(inputs)
        return self.activation(residual + path), path


@keras.saving.register_keras_serializable(package=PACKAGE)
class TCN(layers.Layer):
    """A causal TCN with skip connections that returns the whole sequence (one stack).

    Its input's channel count must be known when it is built (``channels``), since the
    keras-tcn architecture's first block convolves the residual only where channels change.
    """

    def __init__(
        self,
        architecture: str,
        channels: int,
        filters: int,
        kernel_size: int,
        dilations: tuple[int, ...],
        activation: str = "selu",
        fused: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if architecture not in TCN_ARCHITECTURES:
            raise ValueError(
                f"architecture must be one of {TCN_ARCHITECTURES}, got {architecture!r}"
            )
        self.architecture = architecture
        self.channels = int(channels)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.dilations = tuple(int(d) for d in dilations)
        self.activation = activation
        self.fused = fused
        conv1d = conv1d_class(fused)
        self.input_conv = (
            conv1d(filters, 1, padding="causal", kernel_initializer="he_normal", name="input")
            if architecture == HAHN2021
            else None
        )
        block_inputs = filters if architecture == HAHN2021 else self.channels
        self._blocks = []
        for i, dilation in enumerate(self.dilations):
            last = i == len(self.dilations) - 1
            residual_conv = not last if architecture == HAHN2021 else block_inputs != filters
            block = ResidualBlock(
                architecture,
                filters,
                kernel_size,
                dilation,
                activation,
                residual_conv,
                conv1d,
                name=f"residual_block_{i}",
            )
            setattr(self, block.name, block)  # the attribute names a .keras file stores
            self._blocks.append(block)
            block_inputs = filters

    def blocks(self) -> list[ResidualBlock]:
        """The residual blocks in order (a method: Keras' saving walks list attributes)."""
        return list(self._blocks)

    def call(self, inputs):
        x = inputs if self.input_conv is None else self.input_conv(inputs)
        skips = []
        for block in self._blocks:
            x, skip = block(x)
            skips.append(skip)
        output = skips[0]
        for skip in skips[1:]:  # in order, as keras.layers.add sums
            output = output + skip
        return output

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "architecture": self.architecture,
            "channels": self.channels,
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "dilations": list(self.dilations),
            "activation": self.activation,
            "fused": self.fused,
        }
