"""Hyperparameters of one β-VAE, under the reference study's names, validated at the door.

The names (beta_value, codings_size, conv_layers, start_filter_no, kernel_size_1, dilations,
earlystop_patience) are the seeds' own, and are used unchanged in specs, manifests, the
database and exports, so results line up with the reference study's files.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from data_prep.errors import InputError

FINAL_ACTIVATIONS = ("sigmoid", "selu")
# The TCN architectures (vae.tcn): the paper's, and keras-tcn 3.5's block.
HAHN2021, KERAS_TCN = "hahn2021", "keras-tcn"
TCN_ARCHITECTURES = (HAHN2021, KERAS_TCN)
# What a configuration saved before ``tcn`` and ``batchnorm_momentum`` existed was trained with.
SAVED_BEFORE_TCN_CHOICE = {"tcn": KERAS_TCN, "batchnorm_momentum": 0.9}


class HyperparameterError(InputError):
    """A hyperparameter value that cannot make a model."""


@dataclass(frozen=True)
class Hyperparameters:
    """Everything that defines one model and its training run."""

    beta_value: float = 1.0
    codings_size: int = 10
    conv_layers: int = 1
    start_filter_no: int = 32
    kernel_size_1: int = 2
    dilations: tuple[int, ...] = (1, 2, 4)
    final_activation: str = "sigmoid"
    tcn: str = HAHN2021
    epochs: int = 500
    earlystop_patience: int = 30
    batch_size: int = 256
    # Keras' default is 0.99 (the paper's); validation runs on the moving statistics, which at
    # 0.99 trail the batch statistics for hundreds of steps, and an epoch is 3-12 steps here.
    batchnorm_momentum: float = 0.9
    learning_rate: float = 1e-3  # Adam's, Keras' default as in the paper
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "dilations", _dilations(self.dilations))
        beta = self.beta_value
        if not _is_number(beta) or not math.isfinite(beta):
            raise HyperparameterError(f"beta_value must be a finite number >= 0, got {beta!r}")
        if beta < 0:
            raise HyperparameterError(f"beta_value must be >= 0, got {beta!r}")
        object.__setattr__(self, "beta_value", float(beta))
        for name, low in (
            ("codings_size", 1),
            ("conv_layers", 1),
            ("start_filter_no", 1),
            ("kernel_size_1", 1),
            ("epochs", 1),
            ("earlystop_patience", 0),
            ("batch_size", 1),
            ("seed", 0),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not _is_int(value) or value < low:
                raise HyperparameterError(f"{name} must be an integer >= {low}, got {value!r}")
            object.__setattr__(self, name, int(value))
        for name, allowed in (("final_activation", FINAL_ACTIVATIONS), ("tcn", TCN_ARCHITECTURES)):
            if getattr(self, name) not in allowed:
                raise HyperparameterError(
                    f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )
        momentum = self.batchnorm_momentum
        if not _is_number(momentum) or not 0 <= momentum < 1:
            raise HyperparameterError(
                f"batchnorm_momentum must be a number >= 0 and < 1, got {momentum!r}"
            )
        object.__setattr__(self, "batchnorm_momentum", float(momentum))
        rate = self.learning_rate
        if not _is_number(rate) or not math.isfinite(rate) or rate <= 0:
            raise HyperparameterError(f"learning_rate must be a finite number > 0, got {rate!r}")
        object.__setattr__(self, "learning_rate", float(rate))

    def check_window(self, window: int) -> None:
        """Each layer halves the sequence (MaxPool1D(2)), and the decoder doubles it back."""
        if window % 2**self.conv_layers:
            raise HyperparameterError(
                f"window {window} is not divisible by 2**conv_layers = {2**self.conv_layers} "
                f"(conv_layers={self.conv_layers})"
            )

    def to_dict(self) -> dict[str, Any]:
        params = asdict(self)
        params["dilations"] = list(self.dilations)
        return params

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> Hyperparameters:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise HyperparameterError(
                f"unknown hyperparameter '{unknown[0]}' (known: {', '.join(sorted(known))})"
            )
        return cls(**params)

    @classmethod
    def from_saved(cls, params: dict[str, Any]) -> Hyperparameters:
        """A configuration as stored in a manifest, a model file or the study database; one
        stored before ``tcn`` and ``batchnorm_momentum`` existed is what it was trained as."""
        return cls.from_dict({**SAVED_BEFORE_TCN_CHOICE, **params})

    def replace(self, **changes: Any) -> Hyperparameters:
        return Hyperparameters.from_dict({**self.to_dict(), **changes})


# What a spec fixes or samples, in the order tables and figures show them; the seed is the
# plan's, one per trial.
HYPERPARAMETERS = tuple(f.name for f in fields(Hyperparameters) if f.name != "seed")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _dilations(value: Any) -> tuple[int, ...]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = [part for part in value.replace("-", ",").split(",") if part]
    try:
        items = list(value)
    except TypeError:
        items = None
    if (
        not items
        or any(isinstance(d, bool) or not _is_int(_number(d)) for d in items)
        or any(_number(d) < 1 for d in items)
    ):
        raise HyperparameterError(
            f"dilations must be a non-empty list of positive integers, got {value!r}"
        )
    return tuple(int(_number(d)) for d in items)


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def read_params(text_or_path: str) -> Hyperparameters:
    """Hyperparameters from a JSON string or the path of a JSON file (the CLI's --params)."""
    path = Path(text_or_path)
    source = "--params"
    if not text_or_path.lstrip().startswith("{"):
        if not path.is_file():
            raise InputError(f"{path}: file not found (--params takes JSON or a JSON file)")
        text_or_path, source = path.read_text(), str(path)
    try:
        params = json.loads(text_or_path)
    except json.JSONDecodeError as exc:
        raise InputError(f"{source}: not valid JSON ({exc})") from None
    if not isinstance(params, dict):
        raise InputError(f"{source}: expected a JSON object of hyperparameters")
    try:
        return Hyperparameters.from_dict(params)
    except HyperparameterError as exc:
        raise HyperparameterError(f"{source}: {exc}") from None


# Hahn & Mechefske (2021), the best model of the reference study: beta 3.92, 21 codings,
# 2 layers of 16 filters, kernel 3, dilations 1-2-4-8, selu output, the paper's TCN.
PAPER_BEST = Hyperparameters(
    beta_value=3.92,
    codings_size=21,
    conv_layers=2,
    start_filter_no=16,
    kernel_size_1=3,
    dilations=(1, 2, 4, 8),
    final_activation="selu",
    tcn=HAHN2021,
    batch_size=256,
)

# What each hyperparameter means, for the reference (written from these at build time; one
# without its description fails tests/test_docs.py).
HYPERPARAMETER_DOCS = {
    "beta_value": "β, the weight of the KL term in the loss (0: a plain autoencoder)",
    "codings_size": "latent dimensions",
    "conv_layers": "TCN layers in the encoder (and the decoder); each halves the window, so "
    "the window must be divisible by 2^conv_layers",
    "start_filter_no": "filters of every TCN layer",
    "kernel_size_1": "the TCN's convolution kernel size",
    "dilations": "the TCN's dilation rates, e.g. [1, 2, 4, 8]",
    "final_activation": "the decoder's last activation: sigmoid or selu",
    "tcn": "the TCN architecture: hahn2021 (the paper's) or keras-tcn (keras-tcn 3.5's block)",
    "epochs": "the most epochs a training runs",
    "earlystop_patience": "epochs without a better validation loss before the training stops "
    "(the best weights are kept)",
    "batch_size": "windows per training step",
    "batchnorm_momentum": "BatchNormalization's momentum (the paper's Keras: 0.99)",
    "learning_rate": "Adam's learning rate",
}
