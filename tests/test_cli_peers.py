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
