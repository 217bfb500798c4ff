"""What users of Optuna and Keras Tuner look for: --version, a built-in spec to copy."""

from __future__ import annotations

from datetime import datetime
from importlib.metadata import version

import pytest

from search.cli import main
from search.space.spec import builtin_specs, read_spec


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
