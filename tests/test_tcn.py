"""The two TCN architectures: the paper's parameter counts, keras-tcn's own layer, old models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vae.hyperparams import HAHN2021, KERAS_TCN, PAPER_BEST, Hyperparameters
from vae.naming import parse_name

BEFORE = Path(__file__).parent / "data" / "models_before_hahn2021"


@pytest.mark.parametrize(
    ("tcn", "channels", "parameters"),
    [(HAHN2021, 6, 46_256), (HAHN2021, 5, 46_191), (KERAS_TCN, 5, 41_583)],
)
def test_parameter_counts_of_the_papers_best_configuration(tcn, channels, parameters):
    """46,256 is the published model's count (the paper's 4.63e4); 41,583 what vae-search
    built before it had the paper's TCN."""
    from vae.model import build_vae

    assert build_vae(PAPER_BEST.replace(tcn=tcn), 64, channels).count_parameters() == parameters


def test_the_name_says_the_tcn_and_its_parameters(tiny_trained_paper_tcn, tmp_path):
    from vae.storage import save_model

    saved = save_model(tiny_trained_paper_tcn, tmp_path, trial=1, data_sha256=None)
    name = parse_name(saved.name)
    assert "_tcn=hahn2021_" in saved.name
    assert name.tcn == HAHN2021 and name.param_count == tiny_trained_paper_tcn.param_count


@pytest.fixture(scope="module")
def tiny_trained_paper_tcn(paper_data):
    from vae.training import train_vae

    hp = Hyperparameters(
        codings_size=3, start_filter_no=4, kernel_size_1=2, dilations=(1, 2), epochs=1
    )
    assert hp.tcn == HAHN2021  # the default
    return train_vae(hp, paper_data.X_train_slim[:256], paper_data.X_val_slim[:64])


def test_the_keras_tcn_block_computes_what_keras_tcn_does(paper_data):
    """vae.tcn's "keras-tcn" architecture against keras-tcn 3.5's own TCN, same weights, on
    real windows: 5 channels into 8 filters (a matching convolution), then identities."""
    import keras
    import tcn as keras_tcn

    from vae.tcn import TCN

    X = paper_data.X_val[:32]
    theirs = keras_tcn.TCN(
        nb_filters=8,
        kernel_size=3,
        dilations=[1, 2, 4],
        padding="causal",
        use_skip_connections=True,
        return_sequences=True,
        activation="selu",
        kernel_initializer="he_normal",
    )
    ours = TCN(KERAS_TCN, channels=5, filters=8, kernel_size=3, dilations=(1, 2, 4))
    inputs = keras.Input((64, 5))
    keras.Model(inputs, theirs(inputs)), keras.Model(inputs, ours(inputs))
    by_path = {w.path.split("/", 1)[1]: w for w in theirs.weights}
    assert len(by_path) == len(ours.weights) == 14
    for weight in ours.weights:
        weight.assign(by_path[weight.path.split("/", 1)[1]])
    np.testing.assert_allclose(ours(X), theirs(X), rtol=1e-5, atol=1e-5)


def test_a_model_saved_before_the_tcn_choice_loads_as_keras_tcn():
    """A model saved by vae-search before ``tcn`` existed (made with keras-tcn's layers): it
    loads as "keras-tcn" with momentum 0.9 and computes what it computed then.

    "What it computed" is to float rounding: the outputs were written on one CPU, and another
    CPU's kernels (oneDNN off, or limited to AVX2) sum in another order; seen up to 1.1e-6 of
    each output's scale. 1e-5 of the scale, some 80 float32 units in the last place through
    about twenty layers, holds on every CPU, while a weight loaded into the wrong place moves
    the outputs by their own size.
    """
    from vae.storage import load_model

    (model_dir,) = (p for p in BEFORE.iterdir() if p.is_dir())
    saved_config = json.loads((model_dir / "manifest.json").read_text())["hyperparameters"]
    assert "tcn" not in saved_config and parse_name(model_dir.name).tcn == KERAS_TCN
    model = load_model(model_dir)
    assert (model.hp.tcn, model.hp.batchnorm_momentum) == (KERAS_TCN, 0.9)
    expected = np.load(BEFORE / "expected_outputs.npz")
    mean, log_var, _ = model.encode(expected["X"])
    reconstruction = model.reconstruct(expected["X"], sample=False)
    for name, value in (("mean", mean), ("log_var", log_var), ("reconstruction", reconstruction)):
        scale = np.abs(expected[name]).max()
        np.testing.assert_allclose(value, expected[name], rtol=0, atol=1e-5 * scale, err_msg=name)


def test_momentum_is_a_checked_setting_and_reaches_the_layers():
    from vae.hyperparams import HyperparameterError
    from vae.model import build_vae

    model = build_vae(PAPER_BEST.replace(batchnorm_momentum=0.99), 64, 5)
    momenta = {layer.momentum for layer in model.encoder.layers if "bn" in layer.name}
    assert momenta == {0.99}
    for bad in (1.0, -0.1, "0.9", True):
        with pytest.raises(HyperparameterError, match="batchnorm_momentum"):
            PAPER_BEST.replace(batchnorm_momentum=bad)
    with pytest.raises(HyperparameterError, match="tcn must be one of hahn2021, keras-tcn"):
        PAPER_BEST.replace(tcn="wavenet")
