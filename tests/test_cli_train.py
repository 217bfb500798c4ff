"""`vae-search train`: one real (tiny) training run and its bad inputs."""

from __future__ import annotations

import dataclasses
import json

import pytest

from data_prep import save_prepared
from search.cli import main
from vae.storage import load_model

TINY = {
    "codings_size": 3,
    "conv_layers": 1,
    "start_filter_no": 4,
    "kernel_size_1": 2,
    "dilations": [1, 2],
    "batch_size": 64,
}


@pytest.fixture(scope="module")
def small_prepared(paper_data, tmp_path_factory):
    """A prepared file with a few hundred real windows per split."""
    small = dataclasses.replace(
        paper_data,
        **{
            name: getattr(paper_data, name)[:256]
            for name in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test", "cut_train")
        },
        X_train_slim=paper_data.X_train_slim[:256],
        X_val_slim=paper_data.X_val_slim[:128],
    )
    path = tmp_path_factory.mktemp("prepared") / "small.npz"
    save_prepared(small, path)
    return path


def test_train_prints_name_and_path(capsys, tmp_path, small_prepared):
    models = tmp_path / "models"
    options = ["--out", str(models), "--epochs", "2", "--seed", "4", "--trial", "9"]
    code = main(["train", "--data", str(small_prepared), "--params", json.dumps(TINY), *options])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    name, path = lines[-2], lines[-1]
    assert "_t=9_" in name and "_eps=2_" in name and path == str(models / name)
    assert load_model(path).hp.seed == 4


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ('{"conv_layers": 7}', ("small.npz", "not divisible")),
        ('{"beta_value": -2}', ("--params", "beta_value")),
        ("{not json", ("--params", "not valid JSON")),
        ("missing.json", ("missing.json", "file not found")),
    ],
)
def test_bad_train_input(capsys, tmp_path, small_prepared, params, words):
    out = ["--out", str(tmp_path / "models")]
    code = main(["train", "--data", str(small_prepared), "--params", params, *out])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    for word in words:
        assert word in lines[0]
    assert not (tmp_path / "models").exists()


def test_train_refuses_a_file_that_is_not_prepared(capsys, tmp_path):
    bogus = tmp_path / "bogus.npz"
    bogus.write_text("nope")
    code = main(["train", "--data", str(bogus), "--params", "{}", "--out", str(tmp_path / "m")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "bogus.npz" in lines[0]
    assert not (tmp_path / "m").exists()
