"""Training on every CPU: both paths of the dilated convolutions, whatever oneDNN does here.

TensorFlow's own CPU kernels refuse a dilated convolution's gradients; oneDNN's run them, and
TensorFlow turns oneDNN on by itself only on some CPUs. The rest of the suite runs with oneDNN
off (conftest), so its trainings, runs, scorings, resumes and imports take TensorFlow's own
kernels and dilate by phases, as on a CPU without AVX-512. Here the same paths run with oneDNN
forced on (``TF_ENABLE_ONEDNN_OPTS=1`` in the subprocesses: native dilation), and models and
a checkpoint cross from one path to the other.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DATA_DIR, ROOT, SMOKE
from tests.test_run import (
    _spec_with,
    _start_run,
    _wait_for,
    checkpoint_epochs,
    checkpoint_state,
    trials_of,
)

ONEDNN = {"off": "0", "on": "1"}
PATHS = {"off": "by phases", "on": "native"}
PUBLISHED = DATA_DIR / "published_model" / "20200620-053315_bvae"
# Each model's deterministic outputs on seeded windows, written to an .npz (argv: out, models).
OUTPUTS = """
import sys
import numpy as np
from vae.storage import load_model
outputs = {}
for i, model_dir in enumerate(sys.argv[2:]):
    model = load_model(model_dir)
    X = np.random.default_rng(i).uniform(size=(32, model.window, model.channels))
    X = X.astype("float32")
    mean, log_var, _ = model.encode(X)
    outputs.update({f"{i} mean": mean, f"{i} log_var": log_var})
    outputs[f"{i} reconstruction"] = model.reconstruct(X, sample=False)
np.savez(sys.argv[1], **outputs)
"""


def environment(onednn: str, **more: str) -> dict[str, str]:
    return {**os.environ, "TF_ENABLE_ONEDNN_OPTS": ONEDNN[onednn], **more}


def vae_search(*args: str | Path, onednn: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "search.cli", *map(str, args)]
    result = subprocess.run(
        command, env=environment(onednn), cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result


@pytest.fixture(scope="module")
def native_study(tmp_path_factory) -> Path:
    """The smoke study (dilations 1-2 and 1-2-4, two epochs) trained by two workers, scored
    and the published model imported beside it, all with oneDNN on."""
    root = tmp_path_factory.mktemp("onednn-on")
    spec = root / "smoke-2-epochs.toml"
    spec.write_text(SMOKE.read_text().replace("epochs = 3", "epochs = 2"))
    study = root / "study"
    vae_search("launch", "--study", study, "--spec", spec, onednn="on")
    vae_search("run", "--study", study, "--workers", "2", "--no-progress", onednn="on")
    vae_search("score", "--study", study, "--bootstrap", "20", onednn="on")
    vae_search("import", PUBLISHED, "--out", root / "imported", onednn="on")
    return study


def test_doctor_names_the_path_each_setting_takes():
    for onednn, path in PATHS.items():
        result = vae_search("doctor", onednn=onednn)
        summary = result.stdout.splitlines()[-1]
        assert f"oneDNN {onednn} (TF_ENABLE_ONEDNN_OPTS={ONEDNN[onednn]} is set)" in summary
        assert f"dilated convolutions {path}" in summary
        assert "[ok] training: a tiny β-VAE with dilations 1-2-4 trained" in result.stdout


def test_a_search_with_onednn_on_trains_scores_and_ranks(native_study):
    ranking = vae_search("best", "--study", native_study, "--format", "json", onednn="on")
    ranked = json.loads(ranking.stdout)
    assert len(ranked) == 3 and all(model["val"] is not None for model in ranked)


def test_every_model_computes_the_same_on_either_path(native_study, tmp_path):
    """The three trained models and the imported one, loaded with oneDNN on and off: the
    same outputs to 1e-5 of their scale (float32 sums in another order through some twenty
    layers, as tests/test_tcn.py explains; a weight in the wrong place moves them by their
    own size)."""
    models = sorted(p for p in (native_study / "models").iterdir() if not p.name.startswith("."))
    models += list((native_study.parent / "imported").iterdir())
    assert len(models) == 4
    outputs = {}
    for onednn in ONEDNN:
        out = tmp_path / f"{onednn}.npz"
        command = [sys.executable, "-c", OUTPUTS, str(out), *map(str, models)]
        subprocess.run(command, env=environment(onednn), cwd=ROOT, check=True)
        outputs[onednn] = dict(np.load(out))
    for name, native in outputs["on"].items():
        scale = np.abs(native).max()
        np.testing.assert_allclose(outputs["off"][name], native, rtol=0, atol=1e-5 * scale)


def test_a_checkpoint_written_with_onednn_on_resumes_with_it_off(tmp_path):
    """A trial stopped after its state was saved on the native path goes on by phases from
    where it stopped, and ends as a whole training (a Colab run resumed on a laptop)."""
    from search import launch

    spec = _spec_with(tmp_path, training="epochs = 8\nearlystop_patience = 8")
    study = tmp_path / "study"
    launch(study, spec, trials=1)
    state = checkpoint_state(study)

    def epochs_saved() -> int:
        return checkpoint_epochs(state)

    runner = _start_run(study, env=environment("on", VAE_SEARCH_CHECKPOINT_SECONDS="0"))
    try:
        _wait_for(lambda: epochs_saved() >= 2)
        runner.send_signal(signal.SIGINT)
        runner.wait(timeout=60)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
    assert runner.returncode == 130 and 2 <= epochs_saved() < 8
    vae_search("run", "--study", study, "--no-progress", onednn="off")
    (trial,) = [t for t in trials_of(study) if t.state.name == "COMPLETE"]
    assert trial.user_attrs["resumed_at"] >= 2 and trial.user_attrs["epochs_trained"] == 8
