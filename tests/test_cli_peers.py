"""What users of Optuna and Keras Tuner look for: --version, a built-in spec to copy."""

from __future__ import annotations

import shutil
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

import pytest

from search.cli import main
from search.space.spec import builtin_specs, read_spec
from tests.conftest import MILL_SIX


def test_version_answers(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == f"vae-search {version('vae-search')}"


def test_spec_lists_and_prints_builtin_specs(tmp_path, capsys):
    assert main(["spec"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == list(builtin_specs())
    assert any("minutes" in line for line in listed if line.startswith("smoke"))

    assert main(["spec", "smoke"]) == 0
    copy = tmp_path / "mine.toml"
    copy.write_text(capsys.readouterr().out)
    assert read_spec(copy).source == read_spec("smoke").source

    assert main(["spec", "smok"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no built-in spec 'smok'" in err[0] and "smoke" in err[0]


@pytest.mark.parametrize(
    "data_table",
    ["", "[data]\nwindow = 64\n", '[data] # ours\nsplit = "paper"  # the reference\nstride = 64\n'],
)
def test_with_split_sets_the_split_in_the_spec_text(tmp_path, data_table):
    from search.space.spec import parse_spec, with_split

    path = tmp_path / "s.toml"
    spec = parse_spec(path, f"[study]\ntrials = 2\n{data_table}[training]\nepochs = 1\n")
    cut = with_split(spec, "cut")
    assert cut.data["split"] == "cut" and parse_spec(path, cut.source) == cut
    assert cut.fixed == {"epochs": 1} and cut.trials == 2
    assert with_split(spec, "paper") is spec


def test_launch_split_cut_is_recorded_and_asked_again(tmp_path, capsys):
    from data_prep.prepared import load_prepared

    study = tmp_path / "s"
    command = ["launch", "--study", str(study), "--spec", "smoke", "--trials", "1"]
    assert main([*command, "--split", "cut"]) == 0
    assert read_spec(study / "spec.toml").data["split"] == "cut"
    [prepared] = (study / "cache").glob("*.npz")
    assert load_prepared(prepared).meta["params"]["split"] == "cut"
    assert main([*command, "--split", "cut"]) == 0  # the same study, extended
    capsys.readouterr()
    assert main(command) == 2  # the paper split is another study
    assert "not what this study was launched with" in capsys.readouterr().err


SEARCHED_RATE = """[study]
trials = 4
[training]
epochs = 1
[space]
learning_rate = { dist = "loguniform", a = 1e-4, b = 1e-2 }
batch_size = [64, 128]
beta_value = [1.0, 2.0]
"""


def test_learning_rate_and_batch_size_are_searchable(tmp_path):
    """Both sampled in [space]: planned, a log-scaled range for Optuna, and named."""
    import json

    from search.space.distributions import space_distributions
    from search.space.plan import plan_trials
    from search.space.spec import SpecError, parse_spec
    from vae.naming import name_for

    spec = parse_spec(tmp_path / "s.toml", SEARCHED_RATE)
    planned = [t.hyperparameters for t in plan_trials(spec).trials]
    assert all(1e-4 <= hp.learning_rate <= 1e-2 for hp in planned)
    assert len({hp.learning_rate for hp in planned}) == 4
    assert {hp.batch_size for hp in planned} <= {64, 128}
    rate = json.loads(space_distributions(spec)["learning_rate"])["attributes"]
    assert rate["log"] is True and rate["low"] == pytest.approx(1e-4)
    name = str(name_for(planned[0], trial=0, param_count=10, created=datetime(2026, 1, 1)))
    assert f"lr={planned[0].learning_rate:.3g}" in name
    bad = SEARCHED_RATE.replace("a = 1e-4", "a = -1e-2").replace("loguniform", "uniform")
    with pytest.raises(SpecError, match="learning_rate"):
        parse_spec(tmp_path / "s.toml", bad)


def test_a_configuration_stored_before_learning_rate_is_one_with_its_later_seeds():
    from search.evaluation.configurations import configuration_of
    from vae.hyperparams import PAPER_BEST

    now = PAPER_BEST.to_dict()
    before = {k: v for k, v in now.items() if k != "learning_rate"}
    assert configuration_of(before) == configuration_of({**now, "seed": 7})
    assert configuration_of(before) != configuration_of({**now, "learning_rate": 0.01})


def test_import_records_a_trained_model_in_a_study(tmp_path, capsys):
    """`import MODEL --study S` copies a `vae-search train` model into S/models and records
    it; one trained on other data, or no study, is one line and nothing written."""
    import json

    from studies.results import models
    from studies.storage import locate, open_study
    from vae.storage import update_manifest

    study = tmp_path / "study"
    assert main(["launch", "--study", str(study), "--spec", "smoke", "--trials", "1"]) == 0
    [prepared] = (study / "cache").glob("*.npz")
    tiny = {"codings_size": 3, "start_filter_no": 4, "dilations": [1, 2], "epochs": 1}
    elsewhere = tmp_path / "elsewhere"
    train = ["train", "--data", str(prepared), "--out", str(elsewhere), "--seed", "3"]
    assert main([*train, "--params", json.dumps(tiny)]) == 0
    trained = Path(capsys.readouterr().out.strip().splitlines()[-1])

    assert main(["import", str(trained)]) == 2
    assert "give a study" in capsys.readouterr().err
    other = tmp_path / "other" / trained.name
    shutil.copytree(trained, other)
    update_manifest(other, data_sha256="0" * 64)
    assert main(["import", str(other), "--study", str(study)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trained on other prepared data" in err[0]
    engine = open_study(locate(study)).engine
    assert models(engine) == [] and list((study / "models").iterdir()) == []

    for _ in range(2):  # a second import records the same model again, nothing more
        assert main(["import", str(trained), "--study", str(study)]) == 0
        assert capsys.readouterr().out.strip().splitlines()[-1] == str(
            (study / "models" / trained.name).resolve()
        )
    (recorded,) = models(engine)
    manifest = json.loads((trained / "manifest.json").read_text())
    assert (recorded.name, recorded.path) == (trained.name, f"models/{trained.name}")
    assert recorded.val_loss == manifest["training"]["val_loss"]
    assert recorded.config == manifest["hyperparameters"]


def test_best_says_what_its_columns_mean_and_paths_work_from_anywhere(
    scored_smoke, tmp_path, monkeypatch, capsys
):
    """best's legend names every column and the chance level (the share of failed windows in
    validation); its model paths work from another directory, as predict --model."""
    import numpy as np

    from data_prep.prepared import load_prepared
    from search import best
    from search.outputs.tables import TABLE_COLUMNS

    assert main(["best", "--study", str(scored_smoke)]) == 0
    out = capsys.readouterr().out
    legend = next(line for line in out.splitlines() if line.startswith("val, test:"))
    assert all(f"{header}: " in legend for header in TABLE_COLUMNS.values())
    [prepared] = (scored_smoke / "cache").glob("*.npz")
    y_val = load_prepared(prepared).y_val
    assert f"chance (a detector that knows nothing scores): val {np.mean(y_val == 2):.3f}" in out

    first = best(scored_smoke, n=1)[0]
    assert Path(first.path).is_absolute() and first.path in out
    monkeypatch.chdir(tmp_path)  # and the six-signal two-cut file, no labels anywhere
    command = ["predict", "--model", first.path, "--data", str(MILL_SIX), "--out", "out"]
    assert main([*command, "--threshold", "1"]) == 0
    out = capsys.readouterr().out
    assert "scored 2 of 2 cut(s)" in out and "left out: AE_spindle" in out
    assert len((tmp_path / "out" / "cuts.csv").read_text().splitlines()) == 1 + 2


def test_the_cli_filter_drops_onednn_int32_note_and_keeps_other_errors():
    """doctor and train on a healthy oneDNN machine: no E-level line for a fallback note."""
    from search.execution.quiet import NoiseFilter

    note = (
        b"E0000 00:00:1796026027.28    8004 mkl_util.h:1011] oneDNN supports DT_INT32 only on "
        b"platforms with AVX-512. Falling back to the default Eigen-based implementation.\n"
    )
    other = b"E0000 00:00:1796026027.29    8004 util.cc:131] an error that matters\n"
    noise = NoiseFilter()
    assert noise.feed(note + other) + noise.flush() == other
