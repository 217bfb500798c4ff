"""`vae-search predict` on the two-cut six-signal file with a six-signal model, and its refusals."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from data_prep.pipeline import load_windows, windows_like
from data_prep.scaling import apply_min_max
from data_prep.windows import to_model_layout
from search.cli import main
from search.outputs.predict import Prediction, predict
from tests.conftest import LABELS, MILL, MILL_SIX
from vae.hyperparams import PAPER_BEST
from vae.storage import save_model, update_manifest
from vae.training import train_vae


@pytest.fixture(scope="module")
def six_signal_model(tmp_path_factory):
    """A tiny model trained on the six signals of the two-cut file (both cuts are healthy)."""
    labels = tmp_path_factory.mktemp("labels") / "labels_2cuts.csv"
    labels.write_text("\n".join(LABELS.read_text().splitlines()[:3]) + "\n")
    mill, _, _, windows = load_windows(MILL_SIX, labels, None, 64, 64)
    assert len(mill.signal_names) == 6
    low, high = windows.X.min(axis=(1, 2)), windows.X.max(axis=(1, 2))
    X = to_model_layout(apply_min_max(windows.X, low, high))
    hp = replace(
        PAPER_BEST, codings_size=3, start_filter_no=4, dilations=(1, 2), epochs=1, batch_size=64
    )
    trained = train_vae(hp, X[:100], X[100:])
    preprocessing = {
        "signals": list(mill.signal_names),
        "window": 64,
        "stride": 64,
        "scaler_min": low.tolist(),
        "scaler_max": high.tolist(),
    }
    saved = save_model(
        trained,
        tmp_path_factory.mktemp("models"),
        trial=0,
        data_sha256=None,
        extra={"preprocessing": preprocessing},
    )
    return saved.path, labels


def predict_command(model_dir, data, labels, *options: str) -> list[str]:
    return [
        "predict",
        "--model",
        str(model_dir),
        "--data",
        str(data),
        "--labels",
        str(labels),
        *options,
    ]


def test_predict_scores_every_window_and_cut(six_signal_model, capsys):
    model_dir, labels = six_signal_model
    prediction = predict(model_dir, MILL_SIX, labels, threshold=0.0)
    assert set(prediction.cut_no.tolist()) == {0, 1}
    assert np.all(np.isfinite(prediction.scores)) and prediction.flagged.all()
    [(cut0, *_), (cut1, *_)] = prediction.cut_rows()
    assert (cut0, cut1) == (0, 1)

    middle = float(np.median(prediction.scores))
    assert (
        main(
            predict_command(
                model_dir, MILL_SIX, labels, "--threshold", str(middle), "--space", "latent"
            )
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    window_lines = lines[2 : 2 + len(prediction.scores)]
    verdicts = [line.split(",")[4] for line in window_lines]
    assert {"normal", "abnormal"} == set(verdicts)
    assert (
        lines[2 + len(prediction.scores)]
        == "cut_no,class,windows,mean_score,share_flagged,verdict,signals"
    )
    assert [line.split(",")[0] for line in lines[-2:]] == ["0", "1"]


def test_predict_uses_the_threshold_stored_by_scoring(six_signal_model):
    model_dir, labels = six_signal_model
    update_manifest(model_dir, scoring={"thresholds": {"latent": 1e9, "input_mean": 0.0}})
    assert not predict(model_dir, MILL_SIX, labels).flagged.any()
    assert predict(model_dir, MILL_SIX, labels, space="input").flagged.all()


def test_predict_refusals(six_signal_model, tmp_path, capsys):
    model_dir, labels = six_signal_model
    update_manifest(model_dir, scoring={})
    assert main(predict_command(model_dir, MILL_SIX, labels)) == 2
    assert "no latent-space threshold" in capsys.readouterr().err
    # a six-signal model on the five-signal file: AE_spindle is missing there
    assert main(predict_command(model_dir, MILL, labels, "--threshold", "1")) == 2
    err = capsys.readouterr().err
    assert "AE_spindle" in err and "mill.mat" in err
    assert main(predict_command(tmp_path, MILL_SIX, labels, "--threshold", "1")) == 2
    assert "manifest.json" in capsys.readouterr().err


def test_corrupted_cuts_are_named_not_silently_left_out():
    # mill.mat holds two corrupted cuts (17: a spike of 1e29; 94: 15360 samples)
    preprocessing = {
        "signals": ["smcAC", "smcDC", "vib_table", "vib_spindle", "AE_table"],
        "window": 64,
        "stride": 64,
        "scaler_min": [0.0] * 5,
        "scaler_max": [1.0] * 5,
    }
    new = windows_like(MILL, LABELS, preprocessing)
    assert [cut for cut, _ in new.skipped] == [17, 94]
    assert not np.isin(new.cut_no, [17, 94]).any()
    prediction = Prediction(
        "latent", 1.0, new.cut_no, new.tool_class, np.zeros(len(new.X)), new.skipped
    )
    lines = prediction.lines()
    assert lines[1].startswith("# cut 17 not scored: smcAC peaks at")
    assert lines[2] == "# cut 94 not scored: 15360 samples where cuts have 9000"
    assert lines[3] == "window,cut_no,class,score,verdict,signals"
