"""Integration: data preparation on the real mill.mat reproduces the reference study."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from benchmarks.reference_impl import reference_prepare
from data_prep import PrepareConfig, load_prepared, prepare, prepare_cached, save_prepared
from data_prep.labels import classes_from_vb, fill_missing_vb, read_labels
from tests.conftest import LABELS, MILL


def test_paper_split_counts(paper_data):
    assert len(paper_data.X_train) + len(paper_data.X_val) + len(paper_data.X_test) == 11_570
    assert (len(paper_data.X_train), len(paper_data.X_val), len(paper_data.X_test)) == (
        7_751,
        1_909,
        1_910,
    )
    assert (len(paper_data.X_train_slim), len(paper_data.X_val_slim)) == (2_831, 697)
    y = np.concatenate([paper_data.y_train, paper_data.y_val, paper_data.y_test])
    shares = np.round(100 * np.bincount(y) / len(y), 1)
    assert shares.tolist() == [36.5, 56.2, 7.3]
    assert paper_data.X_train.dtype == np.float32
    assert paper_data.X_train.shape[1:] == (64, 5)
    assert paper_data.signal_names == ("smcAC", "smcDC", "vib_table", "vib_spindle", "AE_table")


def test_drops_exactly_the_reference_cuts(paper_data):
    assert [d["cut_no"] for d in paper_data.meta["dropped_cuts"]] == [17, 94]
    every_cut = np.concatenate([paper_data.cut_train, paper_data.cut_val, paper_data.cut_test])
    assert not np.isin([17, 94], every_cut).any()
    assert len(np.unique(every_cut)) == 165


def test_same_windows_same_order_as_reference_code(paper_data):
    reference = reference_prepare(MILL, LABELS)
    np.testing.assert_array_equal(paper_data.scaler_min, reference["scaler_min"])
    np.testing.assert_array_equal(paper_data.scaler_max, reference["scaler_max"])
    for name in ("train", "val", "test", "train_slim", "val_slim"):
        ours = getattr(paper_data, f"X_{name}")
        theirs = reference[f"X_{name}"].astype(np.float32)
        assert ours.shape == theirs.shape, name
        np.testing.assert_array_equal(ours, theirs, err_msg=name)
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(paper_data, f"y_{name}"), reference[f"y_{name}"])


def test_training_split_spans_zero_to_one(paper_data):
    assert paper_data.X_train.min(axis=(0, 1)).tolist() == [0.0] * 5
    assert paper_data.X_train.max(axis=(0, 1)).tolist() == [1.0] * 5
    np.testing.assert_array_equal(
        paper_data.X_train_slim, paper_data.X_train[paper_data.y_train == 0]
    )


def test_same_inputs_same_bytes(tmp_path, paper_data, paper_config):
    first = save_prepared(paper_data, tmp_path / "a.npz")
    second = save_prepared(prepare(paper_config), tmp_path / "b.npz")
    assert first == second
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    loaded = load_prepared(tmp_path / "a.npz")
    assert loaded.sha256 == first
    np.testing.assert_array_equal(loaded.X_val, paper_data.X_val)
    assert loaded.meta == paper_data.meta
    assert loaded.signal_names == paper_data.signal_names


def test_cut_split_is_leakage_free(cut_data):
    train, val, test = (set(cut_data.cut_train), set(cut_data.cut_val), set(cut_data.cut_test))
    assert not train & val and not train & test and not val & test
    assert len(train | val | test) == 165
    for split in (cut_data.y_train, cut_data.y_val, cut_data.y_test):
        assert set(np.unique(split)) == {0, 1, 2}  # stratified by cut class
    # the scaler saw training windows only: they span exactly [0, 1]
    assert cut_data.X_train.min(axis=(0, 1)).tolist() == [0.0] * 5
    assert cut_data.X_train.max(axis=(0, 1)).tolist() == [1.0] * 5
    assert len(cut_data.X_train) + len(cut_data.X_val) + len(cut_data.X_test) == 11_570


def test_cut_split_follows_its_seed(cut_data):
    again = prepare(PrepareConfig(MILL, LABELS, split="cut", seed=7))
    other = prepare(PrepareConfig(MILL, LABELS, split="cut", seed=8))
    np.testing.assert_array_equal(again.cut_val, cut_data.cut_val)
    assert set(other.cut_val) != set(cut_data.cut_val)


def test_cache_prepares_once(tmp_path, paper_config):
    path, hit = prepare_cached(paper_config, tmp_path)
    assert not hit
    before = path.stat().st_mtime_ns
    again, hit = prepare_cached(paper_config, tmp_path)
    assert hit and again == path and path.stat().st_mtime_ns == before
    other, hit = prepare_cached(PrepareConfig(MILL, LABELS, stride=32), tmp_path)
    assert not hit and other != path


def test_vb_thresholds_reproduce_the_csv_classes():
    labels = read_labels(LABELS)
    d = labels.descriptive
    measured = ~np.isnan(d["VB"])
    np.testing.assert_array_equal(classes_from_vb(d["VB"][measured]), labels.tool_class[measured])
    filled = fill_missing_vb(d["case"], d["time"], d["VB"])
    np.testing.assert_array_equal(classes_from_vb(filled), labels.tool_class)
    assert classes_from_vb(np.array([0.1, 0.3, 0.9]), thresholds=(0.3, 0.5)).tolist() == [0, 1, 2]
    assert classes_from_vb(np.array([np.nan])).tolist() == [-1]


def test_thresholds_option_relabels_windows(paper_data):
    default = prepare(PrepareConfig(MILL, LABELS, thresholds=(0.2, 0.7)))
    np.testing.assert_array_equal(default.y_train, paper_data.y_train)
    stricter = prepare(PrepareConfig(MILL, LABELS, thresholds=(0.2, 0.5)))
    assert (stricter.y_train == 2).sum() > (paper_data.y_train == 2).sum()


def test_stride_changes_window_count():
    data = prepare(
        PrepareConfig(MILL, LABELS, window=64, stride=32, signals=("smcAC", "vib_table"))
    )
    total = len(data.X_train) + len(data.X_val) + len(data.X_test)
    assert total > 2 * 11_570 - 200
    assert data.X_train.shape[2] == 2 and data.signal_names == ("smcAC", "vib_table")


@pytest.mark.parametrize("path", [MILL, LABELS])
def test_inputs_are_never_modified(path):
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    prepare(PrepareConfig(MILL, LABELS))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
