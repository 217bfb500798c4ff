"""The TCN β-VAE: shapes, learning, determinism, saving and safe loading (tiny models)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vae.hyperparams import HyperparameterError, Hyperparameters, read_params
from vae.model import build_vae
from vae.storage import (
    MODEL_FILE,
    ModelFileError,
    load_model,
    read_manifest,
    remove_stale_staging,
    save_model,
)
from vae.training import COMPLETED, FAILED, MIN_EPOCHS_TO_SPLIT, _usable_branches, train_vae

ROOT = Path(__file__).resolve().parents[1]

TINY = Hyperparameters(
    codings_size=4,
    conv_layers=1,
    start_filter_no=4,
    kernel_size_1=2,
    dilations=(1, 2),
    epochs=3,
    earlystop_patience=10,
    batch_size=64,
    seed=11,
)


@pytest.fixture(scope="module")
def tiny_data(paper_data):
    """A few hundred real healthy windows for training, and real windows of every class."""
    return paper_data.X_train_slim[:320], paper_data.X_val_slim[:128], paper_data.X_val[:200]


@pytest.fixture(scope="module")
def trained(tiny_data):
    X_train, X_val, _ = tiny_data
    return train_vae(TINY, X_train, X_val)


def test_shapes(tiny_data):
    _, _, X = tiny_data
    import keras

    hp = TINY.replace(conv_layers=2, dilations=[1, 2, 4], codings_size=6)
    keras.utils.set_random_seed(0)
    model = build_vae(hp, window=64, channels=5)
    mean, log_var, z = model.encode(X)
    assert mean.shape == log_var.shape == z.shape == (200, 6)
    assert model.reconstruct(X).shape == (200, 64, 5)
    assert model.reconstruct(X, sample=False).shape == (200, 64, 5)
    assert model.count_parameters() > 0


def test_loss_falls_and_both_terms_are_logged(trained):
    assert trained.status == COMPLETED and trained.reason is None
    loss = trained.history["loss"]
    assert len(loss) == 3 and loss[2] < loss[0]
    for name in ("reconstruction", "kl", "rounded_accuracy", "val_loss", "val_kl"):
        assert len(trained.history[name]) == 3, name
    assert trained.history["kl"][0] > 0
    assert trained.epochs_trained == 3 and trained.best_epoch in (1, 2, 3)
    assert trained.first_epoch_time > 0 and len(trained.epoch_times) == 3
    assert trained.build_time > 0 and trained.summary()["build_time"] == trained.build_time
    assert trained.param_count == trained.model.count_parameters()


def test_same_seed_same_weights(tiny_data, trained):
    X_train, X_val, _ = tiny_data
    again = train_vae(TINY, X_train, X_val)
    for ours, theirs in zip(trained.model.get_weights(), again.model.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    other = train_vae(TINY.replace(seed=12, epochs=1), X_train, X_val)
    first = trained.model.get_weights()[0]
    assert not np.array_equal(first, other.model.get_weights()[0])


def test_save_then_load_gives_identical_encoder_means(tmp_path, tiny_data, trained):
    _, _, X = tiny_data
    saved = save_model(trained, tmp_path / "models", trial=3, data_sha256="abc")
    assert [p.name for p in (tmp_path / "models").iterdir()] == [saved.name]
    assert sorted(p.name for p in saved.path.iterdir()) == ["manifest.json", "model.keras"]
    manifest = read_manifest(saved.path)
    assert manifest["hyperparameters"] == TINY.to_dict()
    assert manifest["data_sha256"] == "abc" and manifest["trial"] == 3
    assert set(manifest["versions"]) == {"python", "tensorflow", "keras", "numpy", "vae-search"}
    assert set(manifest["provenance"]) == {"code", "path", "seeds"}
    assert manifest["training"]["epochs_trained"] == 3
    loaded = load_model(saved.path)
    np.testing.assert_array_equal(trained.model.encode(X)[0], loaded.encode(X)[0])
    np.testing.assert_array_equal(
        trained.model.reconstruct(X, sample=False), loaded.reconstruct(X, sample=False)
    )


def test_a_saved_model_holds_its_weights_not_the_optimizers_state(saved_copy, trained):
    """Adam's slots stay out of model.keras; the trained model keeps its optimizer."""
    import io
    import zipfile

    import h5py

    with zipfile.ZipFile(saved_copy / MODEL_FILE) as archive:
        weights = io.BytesIO(archive.read("model.weights.h5"))
    with h5py.File(weights, "r") as store:
        assert {"encoder", "decoder"} <= set(store) and "optimizer" not in store
    assert trained.model.optimizer is not None


def test_epoch_means_weight_each_batch_by_its_windows(tiny_data, trained):
    """A short last batch counts for its windows (KL: deterministic in inference mode)."""
    X = tiny_data[0][:300]
    short_last = trained.model.evaluate(X, batch_size=256, verbose=0, return_dict=True)
    one_batch = trained.model.evaluate(X, batch_size=300, verbose=0, return_dict=True)
    assert short_last["kl"] == pytest.approx(one_batch["kl"], rel=1e-5)


@pytest.fixture
def saved_copy(tmp_path, trained) -> Path:
    return save_model(trained, tmp_path / "models", trial=1, data_sha256=None).path


def test_truncated_model_file_is_refused(saved_copy):
    model_file = saved_copy / MODEL_FILE
    model_file.write_bytes(model_file.read_bytes()[:1000])
    with pytest.raises(ModelFileError, match="corrupt or was altered"):
        load_model(saved_copy)


def test_altered_model_file_is_refused(saved_copy):
    model_file = saved_copy / MODEL_FILE
    content = bytearray(model_file.read_bytes())
    content[len(content) // 2] ^= 0xFF
    model_file.write_bytes(bytes(content))
    with pytest.raises(ModelFileError, match="sha256"):
        load_model(saved_copy)


def test_model_carrying_code_is_never_executed(tmp_path, saved_copy):
    """A file whose manifest matches but which would deserialize a lambda is refused."""
    import keras

    marker = tmp_path / "executed"
    payload = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Lambda(
                lambda x, path=str(marker): x * 2 + (__import__("pathlib").Path(path).touch() or 0)
            ),
        ]
    )
    marker.unlink(missing_ok=True)
    payload.save(saved_copy / MODEL_FILE)
    manifest = read_manifest(saved_copy)
    manifest["model_sha256"] = hashlib.sha256((saved_copy / MODEL_FILE).read_bytes()).hexdigest()
    (saved_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="refused to load"):
        load_model(saved_copy)
    assert not marker.exists()


def test_missing_manifest_is_refused(tmp_path):
    with pytest.raises(ModelFileError, match="not a saved model directory"):
        load_model(tmp_path)


def test_non_finite_loss_fails_the_run(tiny_data):
    X_train, X_val, _ = tiny_data
    poisoned = X_train.copy()
    poisoned[0, 0, 0] = np.nan
    result = train_vae(TINY.replace(epochs=2), poisoned, X_val)
    assert result.status == FAILED
    assert "non-finite loss" in result.reason and "epoch 1" in result.reason
    assert result.epochs_trained == 1


def test_a_non_finite_validation_loss_alone_does_not_stop_the_run(tiny_data):
    """Validation that overflows (here: a window of 1e30; at momentum 0.99 it happens in the
    first epochs) is no improvement, not a failure; a run never validated finitely fails."""
    X_train, X_val, _ = tiny_data
    poisoned = X_val.copy()
    poisoned[0] = 1e30
    result = train_vae(TINY.replace(epochs=2), X_train, poisoned)
    assert not np.isfinite(result.history["val_loss"]).any()
    assert result.epochs_trained == 2 and np.isfinite(result.history["loss"]).all()
    assert result.status == FAILED and result.reason == "non-finite val_loss in every epoch"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"beta_value": -1}, "beta_value must be >= 0"),
        ({"beta_value": float("nan")}, "finite"),
        ({"codings_size": 0}, "codings_size must be an integer >= 1"),
        ({"start_filter_no": 2.5}, "start_filter_no must be an integer"),
        ({"kernel_size_1": 0}, "kernel_size_1"),
        ({"dilations": []}, "dilations must be a non-empty list"),
        ({"dilations": [1, 0]}, "dilations"),
        ({"dilations": "one"}, "dilations"),
        ({"final_activation": "relu"}, "final_activation must be one of sigmoid, selu"),
        ({"conv_layers": True}, "conv_layers"),
        ({"color": "red"}, "unknown hyperparameter 'color'"),
    ],
)
def test_rejected_hyperparameters(change, message):
    with pytest.raises(HyperparameterError, match=message):
        Hyperparameters.from_dict({**TINY.to_dict(), **change})


def test_window_must_divide_by_two_to_the_layers():
    with pytest.raises(HyperparameterError, match="not divisible by 2\\*\\*conv_layers = 128"):
        build_vae(TINY.replace(conv_layers=7), window=64, channels=5)
    TINY.replace(conv_layers=6).check_window(64)


def test_params_from_json_or_file(tmp_path):
    assert read_params('{"beta_value": 2, "dilations": [1, 2]}').dilations == (1, 2)
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"codings_size": 7}))
    assert read_params(str(path)).codings_size == 7
    with pytest.raises(HyperparameterError, match=r"p\.json"):
        path.write_text('{"codings_size": -7}')
        read_params(str(path))


def test_a_model_that_is_not_ours_is_refused(saved_copy):
    import keras

    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(saved_copy / MODEL_FILE)
    manifest = read_manifest(saved_copy)
    manifest["model_sha256"] = hashlib.sha256((saved_copy / MODEL_FILE).read_bytes()).hexdigest()
    (saved_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="not a vae-search VAE"):
        load_model(saved_copy)


@pytest.mark.parametrize("tcn", ["hahn2021", "keras-tcn"])
def test_fused_layers_match_keras_in_training_and_inference(tiny_data, tcn):
    """Our fused convolutions and BatchNormalization compute what Keras' stock layers do.

    Same weights, real windows (and their codings for the decoder), on whichever path this
    process's kernels take: the outputs of a training step, the moving statistics after it,
    and the outputs in inference mode agree to 1e-4 of their scale (each passes some twenty
    layers of float32 sums taken in another order by each kernel; seen up to 3e-5 with oneDNN
    off, on, and on with AVX2 only). Gradients are not compared here, through a whole model:
    a pre-activation within rounding of zero lands on the other side of a ReLU's kink in one
    of the two and moves a share of every gradient below it (by up to 2 % of a gradient's
    scale). tests/test_fused.py checks each layer's gradients against the exact ones instead.
    """
    import vae.model as vae_model

    _, _, X = tiny_data
    hp = TINY.replace(conv_layers=2, dilations=[1, 2, 4, 8], start_filter_no=8, tcn=tcn)
    inputs = X[:64]
    for build in (vae_model.build_encoder, vae_model.build_decoder):
        fused, stock = build(hp, 64, 5), build(hp, 64, 5, fused=False)
        assert _layer_classes(fused) == {"_FusedConv1D", "_FusedBatchNormalization"}
        assert _layer_classes(stock) == {"Conv1D", "BatchNormalization"}
        stock.set_weights(fused.get_weights())
        values, stock_values = (
            [*_training_step(model, inputs), *_outputs(model, inputs)] for model in (fused, stock)
        )
        for ours, keras_ in zip(values, stock_values, strict=True):
            np.testing.assert_allclose(ours, keras_, rtol=0, atol=1e-4 * np.abs(keras_).max())
        inputs = _outputs(fused, inputs)[0]  # the codings' means feed the decoder


def _outputs(model, inputs, training: bool = False) -> list:
    """The model's deterministic outputs (the encoder's sampled z left out)."""
    outputs = model(inputs, training=training)
    return list(outputs[:2]) if isinstance(outputs, list) else [outputs]


def _training_step(model, inputs) -> list[np.ndarray]:
    """Training-mode outputs and the moving statistics after the step."""
    outputs = _outputs(model, inputs, training=True)
    moving = [w for w in model.non_trainable_weights if "moving" in w.path]
    assert len(moving) == 2 * 2  # mean and variance of both layers' BatchNormalization
    return [np.asarray(t) for t in (*outputs, *moving)]


def _layer_classes(model) -> set[str]:
    """Class names of the convolutions and normalizations, also those inside the TCNs."""
    from vae.tcn import TCN

    inner = [
        layer
        for tcn_layer in model.layers
        if isinstance(tcn_layer, TCN)
        for layer in tcn_layer._flatten_layers(include_self=False)
    ]
    return {
        type(layer).__name__
        for layer in [*model.layers, *inner]
        if "Conv1D" in type(layer).__name__ or "BatchNormalization" in type(layer).__name__
    }


def test_stale_staging_directories_are_removed_and_fresh_ones_kept(tmp_path):
    stale = tmp_path / ".TBVAE-20260101-000000_t=0.abc123.tmp"
    fresh = tmp_path / ".TBVAE-20260101-000000_t=1.def456.tmp"
    model = tmp_path / "TBVAE-20260101-000000_t=2"
    for path in (stale, fresh, model):
        path.mkdir()
        (path / "model.keras").write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    assert remove_stale_staging(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fresh.name, model.name])


def test_the_train_step_compiles_with_xla(tiny_data):
    """On a GPU, Keras compiles the train step with XLA (jit_compile="auto" turns it on when a
    GPU is present); no GPU is here, so compile it with XLA on the CPU: the same graph (TCN,
    the KL term in train_step, the fused Adam kernel) must compile and learn."""
    import keras

    X_train, X_val, _ = tiny_data
    keras.utils.set_random_seed(0)
    model = build_vae(TINY, window=64, channels=5)
    model.compile(optimizer=model.optimizer, jit_compile=True)
    history = model.fit(X_train, epochs=2, batch_size=64, validation_data=(X_val,), verbose=0)
    assert model.jit_compile is True
    assert np.isfinite(history.history["val_loss"]).all()
    assert history.history["loss"][1] < history.history["loss"][0]


def test_a_batch_split_into_branches_computes_what_the_whole_batch_does(tiny_data):
    """One training step's loss terms, moving statistics and gradients, in 1, 2 and 3 branches.

    The same weights, windows (255: parts of unequal size) and noise draw. Loss terms and moving
    statistics agree to float rounding (at most 3e-5 of their scale, four seeds). Gradients
    pass back through 16 convolutions and four normalizations, where rounding grows: at most
    0.5 % of each gradient's scale, against 30-280 % with statistics per part.
    """
    import keras
    import tensorflow as tf

    X_train, _, _ = tiny_data
    keras.utils.set_random_seed(1)
    model = build_vae(TINY.replace(conv_layers=2, start_filter_no=8, dilations=[1, 2, 4]), 64, 5)
    noise = model.encoder.get_layer("sampling").seed_generator
    moving = [w for w in model.non_trainable_weights if "moving" in w.path]
    start = [w.numpy() for w in (noise.state, *moving)]

    def step(branches: int) -> tuple[list, list]:
        model.branches = branches
        for variable, value in zip((noise.state, *moving), start, strict=True):
            variable.assign(value)
        with tf.GradientTape() as tape:
            total, parts = model._loss_terms(tf.constant(X_train[:255]), training=True)
        gradients = tape.gradient(total, model.trainable_weights)
        return [np.asarray(v) for v in (total, *parts.values(), *moving)], gradients

    whole_values, whole_gradients = step(1)
    for branches in (2, 3):
        values, gradients = step(branches)
        for ours, expected, share in [
            *((o, e, 1e-4) for o, e in zip(values, whole_values, strict=True)),
            *((o, e, 0.02) for o, e in zip(gradients, whole_gradients, strict=True)),
        ]:
            np.testing.assert_allclose(ours, expected, atol=share * np.abs(expected).max())


def test_training_in_branches_learns_and_is_seeded(tiny_data):
    X_train, X_val, _ = tiny_data
    hp = TINY.replace(epochs=MIN_EPOCHS_TO_SPLIT, earlystop_patience=MIN_EPOCHS_TO_SPLIT)
    first, again = (train_vae(hp, X_train, X_val, branches=2) for _ in range(2))
    assert first.branches == again.branches == 2 and first.summary()["branches"] == 2
    assert first.history["loss"][-1] < first.history["loss"][0]
    for ours, theirs in zip(first.model.get_weights(), again.model.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(
    ("change", "windows", "branches"),
    [
        ({}, (320, 128), 2),
        ({"epochs": MIN_EPOCHS_TO_SPLIT - 1}, (320, 128), 1),  # too short to pay back
        ({}, (321, 128), 1),  # the last training batch holds one window
        ({}, (320, 1025), 1),  # the last validation batch holds one window
    ],
)
def test_branches_only_where_they_pay_and_no_part_is_empty(change, windows, branches):
    hp = TINY.replace(**{"epochs": MIN_EPOCHS_TO_SPLIT, **change})
    assert _usable_branches(2, hp, *windows) == branches


@pytest.mark.parametrize("branches", [0, -2, 1.5, True])
def test_branches_must_be_a_positive_integer(tiny_data, branches):
    X_train, X_val, _ = tiny_data
    with pytest.raises(ValueError, match="branches must be an integer >= 1"):
        train_vae(TINY, X_train, X_val, branches=branches)


def test_use_cores_sets_the_threads_before_tensorflow_starts():
    """Before the runtime starts: one thread per op, as many ops at once as branches (at most
    four, further cores to each op); once it has started, the branches still follow from the
    cores alone (the same arithmetic), the threads stay as they are."""
    code = (
        "import tensorflow as tf; from vae.training import use_cores; t = tf.config.threading; "
        "print(use_cores(8), t.get_intra_op_parallelism_threads(), "
        "t.get_inter_op_parallelism_threads()); tf.constant(1) + 1; print(use_cores(2))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.split() == ["4", "2", "4", "2"]


def test_a_run_resumed_from_its_checkpoint_ends_as_the_uninterrupted_one(tiny_data, tmp_path):
    """Stopped after 3 of 6 epochs (its state saved at each epoch's end), then trained again
    from the checkpoint: the same weights, history and best epoch as one run of 6 epochs, in
    branches as the search's jobs train."""
    import keras

    X_train, X_val, _ = tiny_data
    hp = TINY.replace(epochs=MIN_EPOCHS_TO_SPLIT, earlystop_patience=MIN_EPOCHS_TO_SPLIT)

    class StopAfter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == 3:
                self.model.stop_training = True

    def train(directory, callbacks=()):
        return train_vae(
            hp,
            X_train,
            X_val,
            branches=2,
            checkpoint=directory,
            data_key="tiny",
            checkpoint_every=0.0,
            callbacks=list(callbacks),
        )

    whole = train(tmp_path / "whole")
    stopped = train(tmp_path / "interrupted", [StopAfter()])
    assert stopped.epochs_trained == 3 and stopped.resumed_at == 0
    resumed = train(tmp_path / "interrupted")
    assert resumed.resumed_at == 3 and resumed.epochs_trained == whole.epochs_trained
    assert resumed.history == whole.history and resumed.best_epoch == whole.best_epoch
    for ours, theirs in zip(resumed.model.get_weights(), whole.model.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    other = train_vae(hp.replace(seed=12), X_train, X_val, checkpoint=tmp_path / "interrupted")
    assert other.resumed_at == 0  # another configuration's checkpoint is not taken


def test_scores_of_a_diverged_model_are_named_not_finite(paper_data):
    import keras

    from search.evaluation.scoring import NotFinite, score_model

    keras.utils.set_random_seed(0)
    model = build_vae(TINY, window=64, channels=5)
    for weight in model.encoder.weights:  # as a training that diverged leaves them
        weight.assign(np.full(weight.shape, np.nan, dtype=weight.dtype))
    with pytest.raises(NotFinite, match=r"^input scores are not finite: the model diverged$"):
        score_model(model, paper_data, (2,), repeats=1, bootstrap=0)
