"""What users of Optuna and Keras Tuner look for: --version, a built-in spec to copy."""

from __future__ import annotations

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
