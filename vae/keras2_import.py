"""A β-VAE of this family saved by Keras 2 (``model.json`` + ``weights.h5``), as a BetaVAE.

The paper's author published his best model this way: a functional model holding an encoder
and a decoder model, built with the TCN he vendored (``tcn="hahn2021"`` here), its KL term
added as a chain of TensorFlow ops ending in ``add_loss``. Every hyperparameter is read from
``model.json`` (β from the constant the KL term multiplies by, -0.5 x β); the model is built
anew and each weight is copied by name from the nested models' groups of ``weights.h5``.
Anything that does not fit exactly (a layer of another kind, a missing or left-over weight, a
shape) is refused with the file and the reason, before anything is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from vae.hyperparams import FINAL_ACTIVATIONS, HAHN2021, HyperparameterError, Hyperparameters
from vae.storage import ModelFileError, sha256_file

MODEL_JSON, WEIGHTS_H5 = "model.json", "weights.h5"
# model.json holds the network, not how it was trained: these are the paper's settings (its
# best model's name says eps=2000_pat=50; the paper trained at batch 1024).
PAPER_TRAINING = {"epochs": 2000, "earlystop_patience": 50, "batch_size": 1024}
_MODEL_CLASSES = ("Model", "Functional")
_TCN_FIXED = {  # the TCN options this family uses (their keras-tcn defaults where left out)
    "nb_stacks": 1,
    "padding": "causal",
    "use_skip_connections": True,
    "return_sequences": True,
    "dropout_rate": 0.0,
    "use_batch_norm": False,
    "use_layer_norm": False,
    "activation": "selu",
}
_BN_WEIGHTS = ("gamma", "beta", "moving_mean", "moving_variance")
_ENCODER_HEAD = ("Flatten", "Dense", "Sampling")


@dataclass(frozen=True)
class ImportedModel:
    """The built model and where it came from (for its manifest)."""

    model: Any  # vae.model.BetaVAE
    created: datetime
    source: dict[str, Any]


def import_keras2(folder: str | Path) -> ImportedModel:
    """Read ``folder/model.json`` and ``folder/weights.h5`` into a new BetaVAE."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFileError(folder, "not a directory holding model.json and weights.h5")
    for name in (MODEL_JSON, WEIGHTS_H5):
        if not (folder / name).is_file():
            raise ModelFileError(folder / name, "file not found")
    json_path = folder / MODEL_JSON
    try:
        description = json.loads(json_path.read_text(encoding="utf-8"))
        layers = description["config"]["layers"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise ModelFileError(json_path, f"not a Keras model description ({exc})") from None
    reading = _Reading(json_path)
    try:
        hp, window, channels, names = reading.architecture(layers)
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
        raise ModelFileError(json_path, f"not a β-VAE of this family ({problem})") from None

    from vae.model import BetaVAE

    model = BetaVAE(hp.to_dict(), window, channels)
    _copy_weights(folder / WEIGHTS_H5, names, model)
    source = {
        "from": str(folder.resolve()),
        "keras_version": description.get("keras_version"),
        "sha256": {name: sha256_file(folder / name) for name in (MODEL_JSON, WEIGHTS_H5)},
        "not_in_model_json": {**PAPER_TRAINING, "taken_from": "the paper"},
    }
    return ImportedModel(model, _created(folder), source)


class _Reading:
    """The walk through model.json's layers; every refusal names the file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def refuse(self, problem: str) -> ModelFileError:
        return ModelFileError(self.path, problem)

    def architecture(self, layers: list) -> tuple[Hyperparameters, int, int, dict]:
        """Hyperparameters, window, channels and, per nested model, its weights' owners."""
        inputs = [layer for layer in layers if layer.get("class_name") == "InputLayer"]
        models = [layer for layer in layers if layer.get("class_name") in _MODEL_CLASSES]
        if len(inputs) != 1 or len(models) != 2:
            raise self.refuse(
                f"expected one input and two nested models (encoder, decoder), found "
                f"{len(inputs)} and {len(models)}: not a β-VAE of this family"
            )
        shape = inputs[0]["config"].get("batch_input_shape") or [None]
        if len(shape) != 3 or not all(isinstance(n, int) for n in shape[1:]):
            raise self.refuse(f"input shape {shape} is not (windows, window, channels)")
        window, channels = shape[1], shape[2]
        encoder, decoder = sorted(models, key=lambda m: _inbound(m) != inputs[0]["name"])
        beta = self.beta(layers, window * channels)
        enc = self.encoder(encoder["config"]["layers"])
        dec = self.decoder(decoder["config"]["layers"], channels)
        if (enc["tcn"], enc["momentum"]) != (dec["tcn"], dec["momentum"]):
            raise self.refuse("encoder and decoder TCNs or normalizations differ")
        tcn, layers_count = enc["tcn"], enc["layers"]
        if dec["layers"] != layers_count or dec["codings"] != enc["codings"]:
            raise self.refuse("encoder and decoder differ in layers or codings")
        if dec["kernel"] != tcn["kernel_size"]:
            raise self.refuse(
                f"output kernel {dec['kernel']} differs from the TCN's {tcn['kernel_size']}"
            )
        try:
            hp = Hyperparameters(
                beta_value=beta,
                codings_size=enc["codings"],
                conv_layers=layers_count,
                start_filter_no=tcn["nb_filters"],
                kernel_size_1=tcn["kernel_size"],
                dilations=tuple(tcn["dilations"]),
                final_activation=dec["activation"],
                tcn=HAHN2021,
                batchnorm_momentum=enc["momentum"],
                **PAPER_TRAINING,
            )
            hp.check_window(window)
        except HyperparameterError as exc:
            raise self.refuse(str(exc)) from None
        names = {encoder["name"]: enc["names"], decoder["name"]: dec["names"]}
        return hp, window, channels, names

    def beta(self, layers: list, scale: int) -> float:
        """β from the KL term: ``Mul`` by -0.5 x β, then ``RealDiv`` by window x channels."""
        constants = {}
        for layer in layers:
            if layer.get("class_name") == "TensorFlowOpLayer":
                node = layer["config"].get("node_def", {})
                values = list(layer["config"].get("constants", {}).values())
                if node.get("op") in ("Mul", "RealDiv") and len(values) == 1:
                    constants[node["op"]] = values[0]
        if set(constants) != {"Mul", "RealDiv"}:
            raise self.refuse("no KL term (Mul by -0.5 x beta, RealDiv) found: beta unknown")
        if constants["RealDiv"] != scale:
            raise self.refuse(
                f"the KL term is divided by {constants['RealDiv']}, not window x channels "
                f"({scale}): another loss than this family's"
            )
        return -2.0 * float(constants["Mul"])

    def encoder(self, layers: list) -> dict[str, Any]:
        body = [layer for layer in layers if layer["class_name"] != "InputLayer"]
        names: dict[str, Any] = {}
        blocks, rest = self.blocks(body, ("TCN", "BatchNormalization", "MaxPooling1D"))
        tcn, momentum = self.tcn_and_normalization(blocks, names, encoder=True)
        kinds = [layer["class_name"] for layer in rest]
        if kinds[:1] != ["Flatten"] or sorted(kinds[1:]) != ["Dense", "Dense", "Sampling"]:
            raise self.refuse(f"encoder ends in {kinds}, not Flatten, two Dense heads, Sampling")
        sampling = next(layer for layer in rest if layer["class_name"] == "Sampling")
        heads = [node[0] for node in sampling["inbound_nodes"][0]]  # [mean, log_var]
        dense = {layer["name"]: layer for layer in rest if layer["class_name"] == "Dense"}
        if sorted(heads) != sorted(dense):
            raise self.refuse("the Sampling layer does not take the two Dense heads")
        for head, ours in zip(heads, ("codings_mean", "codings_log_var"), strict=True):
            self.expect(dense[head], activation="linear", use_bias=True)
            names[head] = ours
        codings = {dense[head]["config"]["units"] for head in heads}
        if len(codings) != 1:
            raise self.refuse(f"the mean and log-variance heads differ in size: {codings}")
        return {
            "tcn": tcn,
            "momentum": momentum,
            "layers": len(blocks),
            "codings": codings.pop(),
            "names": names,
        }

    def decoder(self, layers: list, channels: int) -> dict[str, Any]:
        kinds = [layer["class_name"] for layer in layers]
        if kinds[:3] != ["InputLayer", "Dense", "Reshape"] or kinds[-1] != "Conv1D":
            raise self.refuse(
                f"decoder is {kinds}, not Input, Dense, Reshape, blocks, Conv1D: "
                "not a β-VAE of this family"
            )
        codings = layers[0]["config"]["batch_input_shape"][-1]
        dense, output = layers[1], layers[-1]
        self.expect(dense, activation="selu", use_bias=True)
        names: dict[str, Any] = {dense["name"]: "decoder_dense", output["name"]: "reconstruction"}
        blocks, rest = self.blocks(layers[3:-1], ("UpSampling1D", "BatchNormalization", "TCN"))
        if rest:
            raise self.refuse(f"decoder layer '{rest[0]['name']}' is not part of this family")
        tcn, momentum = self.tcn_and_normalization(blocks, names, encoder=False)
        activation = output["config"].get("activation")
        if activation not in FINAL_ACTIVATIONS:
            raise self.refuse(
                f"output activation {activation!r} is not one of {', '.join(FINAL_ACTIVATIONS)}"
            )
        self.expect(output, filters=channels, padding="same", strides=[1], dilation_rate=[1])
        return {
            "tcn": tcn,
            "momentum": momentum,
            "layers": len(blocks),
            "codings": codings,
            "kernel": output["config"]["kernel_size"][0],
            "activation": activation,
            "names": names,
        }

    def blocks(self, layers: list, pattern: tuple[str, ...]) -> tuple[list[dict], list]:
        """Consecutive runs of ``pattern`` (as {class name: layer}), and the layers after."""
        for layer in layers:
            if layer["class_name"] not in {*pattern, *_ENCODER_HEAD}:
                raise self.refuse(
                    f"layer '{layer['name']}' of class {layer['class_name']} is not part of "
                    "this family"
                )
        blocks = []
        i = 0
        while [layer["class_name"] for layer in layers[i : i + len(pattern)]] == list(pattern):
            blocks.append({layer["class_name"]: layer for layer in layers[i : i + len(pattern)]})
            i += len(pattern)
        if not blocks:
            found = layers[0]["class_name"] if layers else "nothing"
            raise self.refuse(f"expected {' -> '.join(pattern)} blocks, found {found}")
        return blocks, layers[i:]

    def tcn_and_normalization(
        self, blocks: list[dict], names: dict[str, Any], encoder: bool
    ) -> tuple[dict[str, Any], float]:
        """The TCN settings and momentum shared by every block; names mapped to ours."""
        side = "encoder" if encoder else "decoder"
        settings, momenta = [], set()
        for i, block in enumerate(blocks):
            tcn, bn = block["TCN"]["config"], block["BatchNormalization"]["config"]
            for key, value in _TCN_FIXED.items():
                if tcn.get(key, value) != value:
                    raise self.refuse(
                        f"TCN '{tcn['name']}' has {key}={tcn[key]!r}; this family has {value!r}"
                    )
            pool = block.get("MaxPooling1D") or block.get("UpSampling1D")
            size = pool["config"].get("pool_size", pool["config"].get("size"))
            if size not in (2, [2]):
                raise self.refuse(f"layer '{pool['name']}' resamples by {size}, not 2")
            if bn.get("epsilon") != 0.001 or bn.get("center") is False or bn.get("scale") is False:
                raise self.refuse(f"BatchNormalization '{bn['name']}' is not Keras' default")
            settings.append({k: tcn[k] for k in ("nb_filters", "kernel_size", "dilations")})
            momenta.add(bn["momentum"])
            names[tcn["name"]] = (f"{side}_tcn_{i}", "tcn")
            names[bn["name"]] = f"{side}_bn_{i}"
        if any(s != settings[0] for s in settings) or len(momenta) != 1:
            raise self.refuse(f"the {side}'s TCNs or normalizations differ from each other")
        return settings[0], momenta.pop()

    def expect(self, layer: dict, **values: Any) -> None:
        for key, value in values.items():
            if layer["config"].get(key) != value:
                raise self.refuse(
                    f"layer '{layer['name']}' has {key}={layer['config'].get(key)!r}, "
                    f"expected {value!r}"
                )


def _inbound(layer: dict) -> str | None:
    nodes = layer.get("inbound_nodes") or [[[None]]]
    return nodes[0][0][0]


def _copy_weights(path: Path, names: dict[str, dict[str, Any]], model) -> None:
    """Each weight of the nested models' groups onto its variable; all used, all shapes equal.

    The file also holds the same weights under the outer model's layers: each such copy must
    equal the one copied.
    """
    import h5py

    targets_of = {group: _targets(owners, model) for group, owners in names.items()}
    covered = {id(v) for targets in targets_of.values() for v in targets.values()}
    if covered != {id(v) for v in _saved_variables(model)}:
        raise ModelFileError(path, "the model.json's layers do not account for every weight")
    try:
        with h5py.File(path, "r") as h5:
            copied: dict[str, np.ndarray] = {}
            for group_name, targets in targets_of.items():
                stored = _weights_of(path, h5, group_name)
                for key in sorted(set(targets) | set(stored)):
                    if key not in stored:
                        raise ModelFileError(path, f"{group_name} lacks the weight '{key}'")
                    if key not in targets:
                        raise ModelFileError(
                            path, f"weight '{group_name}/{key}' belongs to no layer of the model"
                        )
                    value, variable = stored[key], targets[key]
                    if tuple(value.shape) != tuple(variable.shape):
                        raise ModelFileError(
                            path,
                            f"weight '{group_name}/{key}' has shape {value.shape}, the "
                            f"model's needs {tuple(variable.shape)}",
                        )
                    copied[key] = value
            for group_name in _layer_names(h5):
                if group_name in names:
                    continue
                for key, value in _weights_of(path, h5, group_name).items():
                    if key not in copied or not np.array_equal(copied[key], value):
                        raise ModelFileError(
                            path, f"'{group_name}/{key}' is not a copy of a nested model's weight"
                        )
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(path, f"not a readable HDF5 weights file ({exc})") from None
    for targets in targets_of.values():
        for key, variable in targets.items():
            variable.assign(copied[key])


def _saved_variables(model) -> list:
    """The weights a trained model is: trainable ones and the moving statistics."""
    return [
        *model.trainable_weights,
        *(w for w in model.non_trainable_weights if "moving" in w.path),
    ]


def _targets(owners: dict[str, Any], model) -> dict[str, Any]:
    """Keras 2's weight names (``tcn_1168/residual_block_0/conv1D_0/kernel:0``) -> our vars."""
    targets = {}
    parts = {**{layer.name: layer for layer in model.encoder.layers}}
    parts.update({layer.name: layer for layer in model.decoder.layers})
    for theirs, ours in owners.items():
        if isinstance(ours, tuple):  # a TCN: its input convolution, then each block
            tcn = parts[ours[0]]
            targets.update(_kernel_and_bias(f"{theirs}/", tcn.input_conv))
            for k, block in enumerate(tcn.blocks()):
                prefix = f"{theirs}/residual_block_{k}/"
                for j, conv in enumerate((block.conv1D_0, block.conv1D_1)):
                    targets.update(_kernel_and_bias(f"{prefix}conv1D_{j}/", conv))
                if block.matching_conv1D is not None:
                    targets.update(_kernel_and_bias(prefix, block.matching_conv1D))
        elif ours.startswith(("encoder_bn", "decoder_bn")):
            layer = parts[ours]
            targets.update({f"{theirs}/{w}:0": getattr(layer, w) for w in _BN_WEIGHTS})
        else:
            targets.update(_kernel_and_bias(f"{theirs}/", parts[ours]))
    return targets


def _kernel_and_bias(prefix: str, layer) -> dict[str, Any]:
    return {f"{prefix}kernel:0": layer.kernel, f"{prefix}bias:0": layer.bias}


def _layer_names(h5) -> list[str]:
    return [n.decode() if isinstance(n, bytes) else n for n in h5.attrs.get("layer_names", [])]


def _weights_of(path: Path, h5, group_name: str) -> dict[str, np.ndarray]:
    if group_name not in h5:
        raise ModelFileError(path, f"no weights of layer '{group_name}'")
    group = h5[group_name]
    keys = [n.decode() if isinstance(n, bytes) else n for n in group.attrs.get("weight_names", [])]
    return {key: np.asarray(group[key]) for key in keys}


def _created(folder: Path) -> datetime:
    """The stamp the author's folders start with (``20200620-053315_bvae``), else now."""
    try:
        return datetime.strptime(folder.name[:15], "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return datetime.now(UTC)
