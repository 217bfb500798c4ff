"""The determinism contract: on one machine and code version, the same data, configuration and
seed give the same weights, bit for bit, whoever trains them and whatever watches them."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.test_vae import TINY as TINY_OF_TEST_VAE
from vae.monitor import ScoredWindows
from vae.storage import load_model, read_manifest
from vae.training import train_vae

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "studies" / "smoke.toml"

TINY = TINY_OF_TEST_VAE.replace(epochs=4, seed=5)


def assert_same_weights(ours, theirs) -> None:
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_watching_a_training_draws_nothing_from_it(paper_data):
    """The validation monitor scores every epoch, every second epoch, or never: the weights,
    the losses and the noise generator's state end the same; and the monitor's scores do not
    depend on the training's noise either (scored twice, the same)."""
    X_train, X_val = paper_data.X_train_slim[:320], paper_data.X_val_slim[:128]
    X, y = paper_data.X_val[:400], paper_data.y_val[:400]
    runs = [
        train_vae(
            TINY, X_train, X_val, scored=None if every is None else ScoredWindows(X, y == 2, every)
        )
        for every in (None, 1, 2)
    ]
    unwatched = runs[0]
    for watched in runs[1:]:
        assert_same_weights(watched.model.get_weights(), unwatched.model.get_weights())
        for key in ("loss", "val_loss"):
            assert watched.history[key] == unwatched.history[key]
        generator = watched.model.encoder.get_layer("sampling").seed_generator.state
        expected = unwatched.model.encoder.get_layer("sampling").seed_generator.state
        np.testing.assert_array_equal(generator.numpy(), expected.numpy())
    scored = ScoredWindows(X, y == 2)
    assert scored.scores(runs[1].model) == scored.scores(runs[1].model) == runs[1].scored


def test_a_study_trial_is_the_model_that_train_makes(tmp_path):
    """Two trials trained side by side by two workers, each scoring its validation windows
    every fifth epoch, in branches (12 epochs), give the weights that `vae-search train` makes
    in a process of its own from a trial's manifest; the manifest names the code and path."""
    from search import export, launch, run, show

    spec = tmp_path / "smoke-12.toml"
    spec.write_text(
        SMOKE.read_text()
        .replace("epochs = 3", "epochs = 12")
        .replace("earlystop_patience = 2", "earlystop_patience = 12")
        .replace("trials = 3", "trials = 2")
    )
    study = tmp_path / "study"
    launch(study, spec)
    assert run(study, workers=2, progress=False, force=True).counts == {"COMPLETE": 2}
    models = sorted((study / "models").glob("TBVAE-*"))
    assert len(models) == 2
    model = models[0]
    manifest = read_manifest(model)
    provenance = manifest["provenance"]
    assert provenance["path"]["branches"] == min(2, provenance["path"]["cores"])
    assert provenance["code"]["source_sha256"] and provenance["seeds"]["weights"] >= 0
    assert manifest["training"]["val_latent_ap"] is not None  # the monitor ran
    code = provenance["code"]
    assert any(
        f"commit {code['commit'] or 'no git checkout'}" in line for line in show(study, model.name)
    )
    export(study, tmp_path / "models.csv")
    with (tmp_path / "models.csv").open() as rows:
        commits = {row["model_name"]: row["commit"] for row in csv.DictReader(rows)}
    expected = code["commit"] and code["commit"] + "-dirty" * code["dirty"]
    assert commits[model.name] == (expected or "")
    (prepared,) = (study / "cache").glob("prepared-*.npz")
    params = json.dumps(manifest["hyperparameters"])
    out = tmp_path / "alone"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "search.cli",
            "train",
            "--data",
            str(prepared),
            "--params",
            params,
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    alone = Path(done.stdout.split()[-1])
    assert read_manifest(alone)["provenance"]["path"] == provenance["path"]
    assert_same_weights(load_model(alone).get_weights(), load_model(model).get_weights())


def test_a_run_resumed_under_another_commit_says_so(paper_data, tmp_path, capsys):
    """A checkpoint written by another commit on another path: the run goes on from it and
    says what differs, in its output and its result (the trial's record and manifest)."""
    import keras

    from vae.checkpoint import STATE_FILE

    X_train, X_val = paper_data.X_train_slim[:320], paper_data.X_val_slim[:128]

    class StopAfterTwo(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = epoch + 1 == 2

    def train(callbacks=()):
        return train_vae(
            TINY,
            X_train,
            X_val,
            checkpoint=tmp_path,
            data_key="tiny",
            checkpoint_every=0.0,
            callbacks=list(callbacks),
        )

    train([StopAfterTwo()])
    state = tmp_path / STATE_FILE
    with np.load(state) as saved:
        arrays = dict(saved)
    meta = json.loads(str(arrays["meta"]))
    meta["provenance"]["code"]["commit"] = "0" * 40
    meta["provenance"]["path"]["onednn"] = not meta["provenance"]["path"]["onednn"]
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(state, **arrays)
    capsys.readouterr()
    resumed = train()
    assert resumed.resumed_at == 2
    changes = resumed.summary()["resumed_changes"]
    assert [c.split()[0] for c in changes] == ["commit", "onednn"]
    assert f"commit {'0' * 40} ->" in capsys.readouterr().out
