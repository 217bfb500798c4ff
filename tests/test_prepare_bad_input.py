"""Every bad input to `vae-search prepare`: one line naming the file and problem, exit 2,
nothing written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio

from search.cli import main
from tests.conftest import LABELS, MILL_SIX


@dataclass
class Result:
    code: int
    errors: list[str]
    out: Path
    stdout: str


def run_prepare(capsys, tmp_path: Path, *args: str, data=MILL_SIX, labels=None) -> Result:
    """Run `vae-search prepare` in-process and collect what it did."""
    out = tmp_path / "out" / "prepared.npz"
    out.parent.mkdir(exist_ok=True)
    argv = ["prepare", "--data", str(data), "--labels", str(labels), "--out", str(out)]
    code = main([*argv, "--cache-dir", str(tmp_path / "cache"), *args])
    captured = capsys.readouterr()
    return Result(code, captured.err.strip().splitlines(), out, captured.out)


def assert_refused(result: Result, *words: str) -> None:
    assert result.code == 2
    assert len(result.errors) == 1, result.errors
    for word in words:
        assert word in result.errors[0], (word, result.errors[0])
    assert not result.out.exists()
    assert list(result.out.parent.iterdir()) == []  # no temporary file left behind


def labels_csv(tmp_path: Path, rows: int = 2, edit=None, drop_column: str | None = None) -> Path:
    lines = LABELS.read_text().splitlines()[: rows + 1]
    header = lines[0].split(",")
    table = [line.split(",") for line in lines[1:]]
    if edit:
        edit(header, table)
    if drop_column:
        i = header.index(drop_column)
        header.pop(i)
        for row in table:
            row.pop(i)
    path = tmp_path / "labels.csv"
    path.write_text("\n".join(",".join(r) for r in [header, *table]) + "\n")
    return path


def mill_file(tmp_path: Path, change) -> Path:
    """The two-cut six-signal file with one change applied, saved as a new MAT file."""
    struct = sio.loadmat(MILL_SIX)["mill"]
    change(struct)
    path = tmp_path / "changed.mat"
    sio.savemat(path, {"mill": struct})
    return path


@pytest.fixture
def two_labels(tmp_path):
    return labels_csv(tmp_path)


def test_missing_mat_file(capsys, tmp_path, two_labels):
    result = run_prepare(capsys, tmp_path, data=tmp_path / "nope.mat", labels=two_labels)
    assert_refused(result, "nope.mat", "file not found")


def test_missing_labels_file(capsys, tmp_path):
    result = run_prepare(capsys, tmp_path, labels=tmp_path / "nope.csv")
    assert_refused(result, "nope.csv", "file not found")


def test_not_a_mat_file(capsys, tmp_path, two_labels):
    text = tmp_path / "notes.mat"
    text.write_text("this is not a MATLAB file\n" * 20)
    assert_refused(
        run_prepare(capsys, tmp_path, data=text, labels=two_labels), "notes.mat", "not a MAT file"
    )


def test_truncated_mat_file(capsys, tmp_path, two_labels):
    cut_short = tmp_path / "short.mat"
    cut_short.write_bytes(MILL_SIX.read_bytes()[:5000])
    result = run_prepare(capsys, tmp_path, data=cut_short, labels=two_labels)
    assert_refused(result, "short.mat", "truncated")


def test_no_mill_struct(capsys, tmp_path, two_labels):
    other = tmp_path / "other.mat"
    sio.savemat(other, {"signals": np.zeros((3, 3))})
    assert_refused(
        run_prepare(capsys, tmp_path, data=other, labels=two_labels),
        "other.mat",
        "no 'mill' struct",
    )


def test_signal_field_missing(capsys, tmp_path, two_labels):
    result = run_prepare(capsys, tmp_path, "--signals", "smcAC,spindle_speed", labels=two_labels)
    assert_refused(result, MILL_SIX.name, "'spindle_speed' missing")


def test_signal_of_wrong_shape(capsys, tmp_path, two_labels):
    def widen(struct):
        struct[0, 1]["vib_table"] = np.zeros((2, 9000))

    result = run_prepare(capsys, tmp_path, data=mill_file(tmp_path, widen), labels=two_labels)
    assert_refused(result, "changed.mat", "cut 1", "vib_table", "(2, 9000)")


def test_nan_in_a_kept_cut(capsys, tmp_path, two_labels):
    def spoil(struct):
        struct[0, 0]["smcDC"][4000, 0] = np.nan
        struct[0, 0]["smcDC"][4001, 0] = np.inf

    result = run_prepare(capsys, tmp_path, data=mill_file(tmp_path, spoil), labels=two_labels)
    assert_refused(result, "changed.mat", "cut 0", "2 NaN or inf", "smcDC", "sample 4000")


def test_labels_missing_a_column(capsys, tmp_path):
    labels = labels_csv(tmp_path, drop_column="window_end")
    assert_refused(
        run_prepare(capsys, tmp_path, labels=labels), "labels.csv", "missing column 'window_end'"
    )


def test_labels_value_not_an_integer(capsys, tmp_path):
    def garble(header, table):
        table[1][header.index("window_start")] = "early"

    labels = labels_csv(tmp_path, edit=garble)
    assert_refused(run_prepare(capsys, tmp_path, labels=labels), "labels.csv", "line 3", "'early'")


def test_cut_no_out_of_range(capsys, tmp_path):
    labels = labels_csv(tmp_path, rows=3)  # the six-signal file has two cuts
    result = run_prepare(capsys, tmp_path, labels=labels)
    assert_refused(result, "labels.csv", "cut_no 2 is out of range", "2 cuts")


def test_window_end_beyond_the_signal(capsys, tmp_path):
    def stretch(header, table):
        table[0][header.index("window_end")] = "9100"

    labels = labels_csv(tmp_path, edit=stretch)
    result = run_prepare(capsys, tmp_path, labels=labels)
    assert_refused(result, "labels.csv", "window_end 9100", "beyond the signal", "9000 samples")


def test_region_shorter_than_one_window(capsys, tmp_path):
    def shrink(header, table):
        table[1][header.index("window_end")] = str(int(table[1][header.index("window_start")]) + 40)

    labels = labels_csv(tmp_path, edit=shrink)
    result = run_prepare(capsys, tmp_path, labels=labels)
    assert_refused(result, "labels.csv", "cut_no 1", "shorter than one window", "64 samples")


@pytest.mark.parametrize("option", ["--window", "--stride"])
@pytest.mark.parametrize("value", ["0", "-64"])
def test_window_or_stride_not_positive(capsys, tmp_path, two_labels, option, value):
    result = run_prepare(capsys, tmp_path, option, value, labels=two_labels)
    assert_refused(result, option, "positive integer")


def test_unknown_split(capsys, tmp_path, two_labels):
    out = tmp_path / "out" / "prepared.npz"
    out.parent.mkdir()
    argv = ["prepare", "--data", str(MILL_SIX), "--labels", str(two_labels), "--out", str(out)]
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--split", "bogus"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(lines) == 1
    assert "--split" in lines[0] and "'bogus'" in lines[0]
    assert not out.exists()


def test_out_in_a_missing_directory(capsys, tmp_path, two_labels):
    out = tmp_path / "no" / "such" / "dir" / "prepared.npz"
    argv = ["prepare", "--data", str(MILL_SIX), "--labels", str(two_labels), "--out", str(out)]
    code = main([*argv, "--cache-dir", str(tmp_path / "cache")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert "prepared.npz" in lines[0] and "does not exist" in lines[0]
    assert not (tmp_path / "cache").exists()  # refused before any work


def test_good_input_writes_the_file(capsys, tmp_path, two_labels):
    result = run_prepare(capsys, tmp_path, labels=two_labels)
    assert result.code == 0 and result.out.is_file()
    assert [p.name for p in result.out.parent.iterdir()] == ["prepared.npz"]
    assert "train" in result.stdout and "wrote" in result.stdout


@pytest.mark.parametrize(
    ("garbage", "reason"),
    [(np.zeros((9000, 1)), "vib_table is constant"), (np.full((9000, 1), np.nan), "no finite")],
)
def test_garbage_cut_is_dropped_with_a_report(capsys, tmp_path, two_labels, garbage, reason):
    def spoil(struct):
        struct[0, 1]["vib_table"] = garbage

    result = run_prepare(capsys, tmp_path, data=mill_file(tmp_path, spoil), labels=two_labels)
    report = [line for line in result.stdout.splitlines() if line.startswith("dropped")]
    assert result.code == 0 and result.out.is_file()
    assert len(report) == 1 and "1 (" in report[0] and reason in report[0]
