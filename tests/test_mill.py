"""Loading the MAT file in its original layout: five-signal copy and six-signal original."""

from __future__ import annotations

import numpy as np

from data_prep import PrepareConfig, load_mill, prepare
from data_prep.corruption import find_corrupted_cuts
from data_prep.labels import read_labels
from data_prep.windows import make_windows, to_model_layout, window_count
from tests.conftest import MILL, MILL_SIX

FIVE = ("smcAC", "smcDC", "vib_table", "vib_spindle", "AE_table")


def test_signals_are_the_fields_after_material():
    assert load_mill(MILL).signal_names == FIVE
    six = load_mill(MILL_SIX)
    assert six.signal_names == (*FIVE, "AE_spindle")
    assert six.n_cuts == 2 and six.cut(0).shape == (6, 9000)


def test_six_signal_file_matches_the_five_signal_copy():
    five, six = load_mill(MILL), load_mill(MILL_SIX)
    for cut_no in (0, 1):
        np.testing.assert_array_equal(six.cut(cut_no)[:5], five.cut(cut_no))


def test_signal_subset_keeps_the_requested_order():
    mill = load_mill(MILL_SIX, signals=["AE_spindle", "smcDC"])
    assert mill.signal_names == ("AE_spindle", "smcDC")
    np.testing.assert_array_equal(mill.cut(1)[1], load_mill(MILL_SIX).cut(1)[1])


def test_prepare_six_signals(two_cut_labels):
    data = prepare(PrepareConfig(MILL_SIX, two_cut_labels))
    assert data.X_train.shape[2] == 6 and data.signal_names[-1] == "AE_spindle"
    assert len(data.X_train) + len(data.X_val) + len(data.X_test) == 2 * 70
    assert data.meta["dropped_cuts"] == []


def test_windows_match_a_loop_over_positions():
    mill = load_mill(MILL)
    labels = read_labels(MILL.parent / "labels_with_tool_class.csv").select(np.arange(3))
    windows = make_windows(mill, labels, window=50, stride=33)
    X = to_model_layout(windows.X)
    expected = []
    for cut_no, start, end in zip(
        labels.cut_no, labels.window_start, labels.window_end, strict=True
    ):
        cut = mill.cut(cut_no).T
        position = start
        while position + 50 <= end:
            expected.append(cut[position : position + 50])
            position += 33
    np.testing.assert_array_equal(X, np.array(expected))
    assert windows.cut_no.tolist() == sorted(windows.cut_no.tolist())
    assert window_count(np.array([63, 64, 127, 128]), 64, 64).tolist() == [0, 1, 1, 2]


def test_corruption_rule_finds_exactly_17_and_94():
    found = find_corrupted_cuts(load_mill(MILL))
    assert [c.cut_no for c in found] == [17, 94]
    assert "15360 samples" in found[1].reason
