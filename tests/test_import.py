"""`vae-search import`: the paper author's published model as a vae-search model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from search.cli import main
from tests.conftest import DATA_DIR, LABELS, MILL_SIX

PUBLISHED = DATA_DIR / "published_model" / "20200620-053315_bvae"
ENCODER_ONLY = DATA_DIR / "published_model" / "20200620-053315_encoder"


@pytest.fixture(scope="module")
def published():
    from vae.keras2_import import import_keras2

    return import_keras2(PUBLISHED).model


def test_every_hyperparameter_is_recovered(published):
    hp = published.hp
    assert published.count_parameters() == 46_256
    assert (published.window, published.channels) == (64, 6)
    assert hp.beta_value == pytest.approx(3.9222877, abs=1e-6)  # -2 x the KL constant
    assert (hp.codings_size, hp.conv_layers, hp.start_filter_no, hp.kernel_size_1) == (21, 2, 16, 3)
    assert (hp.dilations, hp.final_activation, hp.tcn) == ((1, 2, 4, 8), "selu", "hahn2021")
    assert hp.batchnorm_momentum == 0.99


@pytest.fixture(scope="module")
def six_signal_windows(paper_data, tmp_path_factory):
    """Windows of the two six-signal cuts, scaled by the training split's range: the author's
    (the five signals' minima and maxima are ours, and our minima are the ones his notebook
    printed); AE_spindle's maximum is not published, the two cuts' own range stands in."""
    from data_prep.mill import load_mill
    from data_prep.pipeline import windows_like

    author_minima = [-6.96777344, 3.41796875, 0.20263672, 0.21850586, 0.01464844]
    np.testing.assert_allclose(paper_data.scaler_min, author_minima, rtol=1e-6)  # as printed
    six = load_mill(MILL_SIX)
    spindle = np.concatenate([six.cut(c)[5] for c in (0, 1)])
    labels = tmp_path_factory.mktemp("labels") / "labels_2cuts.csv"
    labels.write_text("\n".join(LABELS.read_text().splitlines()[:3]) + "\n")
    preprocessing = {
        "signals": list(six.signal_names),
        "window": 64,
        "stride": 64,
        "scaler_min": [*paper_data.scaler_min, spindle.min()],
        "scaler_max": [*paper_data.scaler_max, spindle.max()],
    }
    return windows_like(MILL_SIX, labels, preprocessing).X


def _discrepancy(model, X) -> dict[str, float]:
    """Per BatchNormalization layer: how far the statistics of what reaches it on ``X`` are
    from its moving statistics (mean over channels of |mean gap| / moving sd + |log variance
    ratio|). The decoder gets the codings sampled with a fixed draw."""
    import tensorflow as tf

    found = {}

    def run(layers, x):
        for layer in layers:
            if "bn" in layer.name:
                a = x.numpy().reshape(-1, x.shape[-1])
                sd = np.sqrt(layer.moving_variance.numpy())
                gap = np.abs(a.mean(0) - layer.moving_mean.numpy()) / sd
                found[layer.name] = float(np.mean(gap + np.abs(np.log(a.var(0) / sd**2))))
            x = layer(x, training=False)
        return x

    flat = run(model.encoder.layers[1:-3], tf.constant(X))
    mean = model.encoder.get_layer("codings_mean")(flat)
    log_var = model.encoder.get_layer("codings_log_var")(flat)
    z = mean + tf.exp(0.5 * log_var) * tf.random.stateless_normal(mean.shape, seed=(1, 2))
    run(model.decoder.layers[1:], z)
    return found


def _swap(a, b) -> None:
    kept = a.numpy()
    a.assign(b.numpy())
    b.assign(kept)


def _first_tcn_blocks(model):
    return model.encoder.get_layer("encoder_tcn_0").blocks()


MISMAPPINGS = {  # weights of equal shape put in each other's place: (mutation, layer it feeds)
    **{
        f"conv1D_0 <-> conv1D_1 of block {k}": (
            lambda m, k=k: _swap(
                _first_tcn_blocks(m)[k].conv1D_0.kernel, _first_tcn_blocks(m)[k].conv1D_1.kernel
            ),
            "encoder_bn_0",
        )
        for k in range(4)
    },
    "residual convolutions of blocks 0 <-> 1": (
        lambda m: _swap(
            _first_tcn_blocks(m)[0].matching_conv1D.kernel,
            _first_tcn_blocks(m)[1].matching_conv1D.kernel,
        ),
        "encoder_bn_0",
    ),
    "mean <-> log-variance heads": (
        lambda m: [
            _swap(
                getattr(m.encoder.get_layer("codings_mean"), w),
                getattr(m.encoder.get_layer("codings_log_var"), w),
            )
            for w in ("kernel", "bias")
        ],
        "decoder_bn_0",
    ),
}
# What the published weights give (encoder_bn_0 about 1.6, decoder_bn_0 about 0.3: two cuts of
# one cutting condition are not the whole training set) stays below these; every mapping above
# goes past them.
BOUNDS = {"encoder_bn_0": 2.0, "decoder_bn_0": 0.4}


def test_moving_statistics_match_what_reaches_them_on_real_windows(published, six_signal_windows):
    found = _discrepancy(published, six_signal_windows)
    for layer, bound in BOUNDS.items():
        assert found[layer] < bound, (layer, found)


@pytest.mark.parametrize("mismapping", MISMAPPINGS)
def test_a_weight_mapped_wrongly_breaks_the_match(mismapping, six_signal_windows):
    from vae.keras2_import import import_keras2

    model = import_keras2(PUBLISHED).model
    mutate, layer = MISMAPPINGS[mismapping]
    mutate(model)
    assert _discrepancy(model, six_signal_windows)[layer] > BOUNDS[layer]


def test_cli_import_saves_a_model_that_loads_and_computes_the_same(
    tmp_path, capsys, published, six_signal_windows
):
    from vae.storage import load_model, read_manifest

    assert main(["import", str(PUBLISHED), "--out", str(tmp_path / "models")]) == 0
    model_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert model_dir.parent == tmp_path / "models"
    assert model_dir.name == (
        "TBVAE-20200620-053315_b=3.92_c=21_l=2_f1=16_k1=3_dil=1-2-4-8_act=selu_tcn=hahn2021"
        "_p=46256_eps=2000_pat=50"
    )
    manifest = read_manifest(model_dir)
    assert manifest["trial"] is None and manifest["training"]["status"] == "imported"
    assert manifest["imported"]["sha256"]["weights.h5"] == (
        "787c4e4f71f8fa623978485bcfaf07201972969e3c52226b9dbf148d1544f097"
    )
    loaded = load_model(model_dir)
    for ours, theirs in zip(
        loaded.encode(six_signal_windows)[:2], published.encode(six_signal_windows)[:2], strict=True
    ):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(
        loaded.reconstruct(six_signal_windows, sample=False),
        published.reconstruct(six_signal_windows, sample=False),
    )


def _edited_copy(tmp_path: Path, edit) -> Path:
    folder = tmp_path / "edited_bvae"
    shutil.copytree(PUBLISHED, folder)
    path = folder / "model.json"
    path.chmod(0o644)
    path.write_text(edit(path.read_text()))
    return folder


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "nowhere", "not a directory"),
        (lambda tmp: ENCODER_ONLY, "two nested models"),
        (
            lambda tmp: _edited_copy(
                tmp, lambda t: t.replace('"MaxPooling1D"', '"AveragePooling1D"')
            ),
            "AveragePooling1D",
        ),
        (
            lambda tmp: _edited_copy(
                tmp, lambda t: t.replace('"nb_filters": 16', '"nb_filters": 8')
            ),
            "has shape",
        ),
        (
            lambda tmp: _edited_copy(
                tmp,
                lambda t: t.replace(
                    '"activation": "selu", "use_batch', '"activation": "relu", "use_batch'
                ),
            ),
            "activation",
        ),
    ],
    ids=["missing", "encoder only", "unknown layer", "shapes", "another TCN activation"],
)
def test_what_is_not_such_a_folder_is_one_line_and_nothing_written(tmp_path, capsys, make, message):
    out = tmp_path / "models"
    assert main(["import", str(make(tmp_path)), "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error, error
    assert not out.exists()


def test_missing_weights_are_refused(tmp_path, capsys):
    folder = tmp_path / "bvae"
    folder.mkdir()
    shutil.copy(PUBLISHED / "model.json", folder)
    assert main(["import", str(folder), "--out", str(tmp_path / "models")]) == 2
    assert "weights.h5: file not found" in capsys.readouterr().err
    assert not (tmp_path / "models").exists()


def _keras2_folder(model, folder: Path) -> Path:
    """``model`` written as the author's Keras 2 code wrote his (model.json edited for the
    channel count, weights.h5 under the nested models' names). The names come from the
    importer's own reading, so this checks the way through a study, not the mapping (the
    statistics above check that)."""
    import h5py

    from vae.keras2_import import _Reading, _targets

    channels = model.channels
    text = (PUBLISHED / "model.json").read_text()
    text = text.replace("[null, 64, 6]", f"[null, 64, {channels}]")
    text = text.replace('"filters": 6,', f'"filters": {channels},')
    text = text.replace('"constants": {"1": 384.0}', f'"constants": {{"1": {64.0 * channels}}}')
    folder.mkdir()
    (folder / "model.json").write_text(text)
    layers = json.loads(text)["config"]["layers"]
    names = _Reading(folder / "model.json").architecture(layers)[3]
    with h5py.File(folder / "weights.h5", "w") as h5:
        h5.attrs["layer_names"] = [name.encode() for name in names]
        for group_name, owners in names.items():
            targets = _targets(owners, model)
            group = h5.create_group(group_name)
            group.attrs["weight_names"] = [key.encode() for key in targets]
            for key, variable in targets.items():
                group.create_dataset(key, data=variable.numpy())
    return folder


def test_import_into_a_study_ranks_the_model_or_refuses_other_signals(
    tmp_path, capsys, paper_data, published
):
    import keras

    from search import best, launch
    from studies.results import models
    from studies.storage import locate, open_study
    from tests.conftest import MILL
    from vae.model import build_vae
    from vae.storage import load_model

    study = tmp_path / "study"
    launch(study, "smoke", data=MILL, labels=LABELS)
    engine = open_study(locate(study)).engine
    out = study / "models"

    assert main(["import", str(PUBLISHED), "--out", str(out), "--study", str(study)]) == 2
    error = capsys.readouterr().err
    assert "6 signals; the study's data are 64 x 5 (smcAC" in error
    assert list(out.iterdir()) == [] and models(engine) == []

    keras.utils.set_random_seed(0)  # the untrained model's weights, and so its scores
    ours = build_vae(published.hp, 64, 5)
    folder = _keras2_folder(ours, tmp_path / "five_signals_bvae")
    assert main(["import", str(folder), "--out", str(out), "--study", str(study)]) == 0
    model_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    (recorded,) = models(engine)
    assert (recorded.name, recorded.path) == (model_dir.name, f"models/{model_dir.name}")
    X = paper_data.X_val[:64]
    np.testing.assert_array_equal(load_model(model_dir).encode(X)[0], ours.encode(X)[0])
    assert main(["score", "--study", str(study), "--bootstrap", "100"]) == 0
    (ranked,) = best(study, n=5)
    assert ranked.name == model_dir.name and ranked.config["tcn"] == "hahn2021"
