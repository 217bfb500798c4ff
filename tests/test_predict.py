"""`vae-search predict` on the two-cut six-signal file with a six-signal model: new data with no
labels anywhere, a .npz of cuts, labels adding metrics, and its refusals."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from data_prep.mill import load_mill
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


def test_predict_scores_every_window_and_cut(six_signal_model, tmp_path, capsys):
    model_dir, labels = six_signal_model
    prediction = predict(model_dir, MILL_SIX, labels, threshold=0.0)
    assert set(prediction.cut_no.tolist()) == {0, 1}
    assert np.all(np.isfinite(prediction.scores)) and prediction.flagged.all()
    [(cut0, *_), (cut1, *_)] = prediction.cut_rows()
    assert (cut0, cut1) == (0, 1)

    middle = float(np.median(prediction.scores))
    out = tmp_path / "out"
    command = predict_command(model_dir, MILL_SIX, labels, "--threshold", str(middle))
    assert main([*command, "--space", "latent", "--out", str(out)]) == 0
    summary = capsys.readouterr().out
    assert "stable cutting regions from" in summary and "against the labels" in summary
    windows = (out / "windows.csv").read_text().splitlines()
    assert windows[0] == "cut_no,window,start,class,score,verdict,signals"
    assert len(windows) == 1 + len(prediction.scores)
    assert {"normal", "abnormal"} == {line.split(",")[5] for line in windows[1:]}
    assert {line.split(",")[3] for line in windows[1:]} == {"healthy"}
    cuts = (out / "cuts.csv").read_text().splitlines()
    assert cuts[0] == "cut_no,class,windows,mean_score,share_flagged,verdict,signals,note"
    assert [line.split(",")[0] for line in cuts[1:]] == ["0", "1"]


@pytest.mark.parametrize("data_dir", ["elsewhere", "shared"])
def test_new_data_without_labels_scores_whole_cuts(
    six_signal_model, data_dir, tmp_path, monkeypatch, capsys
):
    """No labels file anywhere: the data directory's labels (167 cuts) are not picked up for a
    new two-cut file, each whole cut is windowed, and DIR/cuts.csv has one row per cut."""
    model_dir, _ = six_signal_model
    monkeypatch.setenv(
        "VAE_SEARCH_DATA", str(tmp_path / "empty" if data_dir == "elsewhere" else LABELS.parent)
    )
    out = tmp_path / "out"
    command = ["predict", "--model", str(model_dir), "--data", str(MILL_SIX), "--out", str(out)]
    assert main([*command, "--threshold", "0.5"]) == 0
    summary = capsys.readouterr().out
    assert "scored 2 of 2 cut(s)" in summary and "whole cuts: no labels file" in summary
    assert "against the labels" not in summary
    cuts = (out / "cuts.csv").read_text().splitlines()
    assert [line.split(",")[:2] for line in cuts[1:]] == [["0", ""], ["1", ""]]
    windows = (out / "windows.csv").read_text().splitlines()[1:]
    whole = load_mill(MILL_SIX).cut_length(0) // 64
    assert len(windows) == 2 * whole
    assert [line.split(",")[2] for line in windows[:3]] == ["0", "64", "128"]


def test_a_npz_of_cuts_scores_as_its_mat(six_signal_model, tmp_path, capsys):
    """The same two cuts as a .npz, its signals in another order: the same scores; a file
    whose signals are not the model's is refused in one line naming both sets."""
    model_dir, _ = six_signal_model
    mill = load_mill(MILL_SIX)
    order = list(reversed(range(len(mill.signal_names))))
    cuts = np.stack([mill.cut(c)[order].T for c in range(mill.n_cuts)])
    npz = tmp_path / "cuts.npz"
    np.savez(npz, cuts=cuts, signals=np.array(mill.signal_names)[order])
    from_npz = predict(model_dir, npz, threshold=1.0)
    np.testing.assert_allclose(from_npz.scores, predict(model_dir, MILL_SIX, threshold=1.0).scores)

    np.savez(npz, cuts=cuts[:, :, 1:], signals=np.array(mill.signal_names)[order][1:])
    command = ["predict", "--model", str(model_dir), "--data", str(npz), "--threshold", "1"]
    assert main(command) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "signals differ from the model's" in err[0]
    assert err[0].count("AE_spindle") == 1 and err[0].count("smcAC") == 2


def _mat_with_signals(path, value: float):
    """The two-cut six-signal file with every signal sample set to ``value``."""
    from scipy.io import loadmat, savemat

    mill = loadmat(MILL_SIX)["mill"]
    for name in mill.dtype.names[mill.dtype.names.index("material") + 1 :]:
        for record in mill.ravel():
            record[name] = np.full_like(record[name], value)
    savemat(path, {"mill": mill})
    return path


def test_predict_doors(six_signal_model, tmp_path, capsys):
    """A threshold that is no number, --tier beside --threshold, a tier of a never-scored
    model, and files of all-inf or all-NaN signals: one line each, exit 2."""
    model_dir, _ = six_signal_model
    base = ["predict", "--model", str(model_dir), "--data", str(MILL_SIX)]
    cases = [
        (["--threshold", "nan"], "--threshold must be a finite number, got nan"),
        (["--threshold", "inf"], "--threshold must be a finite number, got inf"),
        (["--threshold", "1", "--tier", "act"], "--tier and threshold exclude each other"),
        (["--tier", "watch"], "the model has no tiers yet"),
    ]
    update_manifest(model_dir, scoring={"thresholds": {"latent": 1.0}})
    for options, message in cases:
        assert main([*base, *options]) == 2, options
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (options, err)
    for value in (np.inf, np.nan):
        bad = _mat_with_signals(tmp_path / f"all_{value}.mat", value)
        assert main([*base[:-1], str(bad), "--threshold", "1"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "no cut left: every cut is corrupted" in err[0], err


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
    prediction = Prediction("latent", 1.0, MILL, new, np.zeros(len(new.X)))
    table = prediction.cut_table()
    assert table[18].startswith('17,,0,,,not scored,,"smcAC peaks at')
    assert table[95] == "94,,0,,,not scored,,15360 samples where cuts have 9000"
    assert len(table) == 1 + 167
