"""Search specs and the up-front plan: determinism, extension, duplicates, bad specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_prep.errors import ParameterError
from search.space.plan import PlanError, configuration_key, plan_trials, training_seed
from search.space.spec import SpecError, read_spec
from tests.conftest import ROOT, SMOKE

PAPER_SPEC = ROOT / "studies" / "paper.toml"


def write_spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def test_paper_spec_is_the_reference_space():
    spec = read_spec(PAPER_SPEC)
    assert spec.trials == 1000 and spec.fixed["batch_size"] == 1024
    plan = plan_trials(spec)
    hps = [t.hyperparameters for t in plan.trials]
    assert len({configuration_key(hp) for hp in hps}) == 1000
    assert all(0.5 <= hp.beta_value <= 9.5 for hp in hps)
    assert {hp.conv_layers for hp in hps} == {1, 2, 3}
    assert {hp.dilations for hp in hps} == {(1, 2, 4, 8), (1, 2, 4), (1, 2)}
    assert {hp.final_activation for hp in hps} == {"sigmoid", "selu"}
    assert min(hp.codings_size for hp in hps) >= 5 and max(hp.codings_size for hp in hps) < 40
    assert all(16 <= hp.start_filter_no < 128 and 2 <= hp.kernel_size_1 < 9 for hp in hps)
    assert all(30 <= hp.earlystop_patience < 50 for hp in hps)


def test_same_spec_and_seed_same_plan():
    spec = read_spec(SMOKE)
    first, again = plan_trials(spec, 20, seed=3), plan_trials(spec, 20, seed=3)
    assert first == again
    other = plan_trials(spec, 20, seed=4)
    assert [t.key() for t in other.trials] != [t.key() for t in first.trials]


def test_more_trials_extend_the_plan():
    spec = read_spec(PAPER_SPEC)
    short, longer = plan_trials(spec, 10), plan_trials(spec, 25)
    assert longer.trials[:10] == short.trials


def test_seeds_derive_from_study_seed_and_index():
    plan = plan_trials(read_spec(SMOKE), 5, seed=9)
    assert [t.hyperparameters.seed for t in plan.trials] == [training_seed(9, i) for i in range(5)]
    assert len({t.hyperparameters.seed for t in plan.trials}) == 5


def test_duplicates_are_replaced(tmp_path):
    spec = read_spec(
        write_spec(
            tmp_path, "[space]\nconv_layers = [1, 2]\nfinal_activation = ['sigmoid', 'selu']\n"
        )
    )
    plan = plan_trials(spec, 4)
    assert len({t.key() for t in plan.trials}) == 4 and plan.duplicates > 0
    with pytest.raises(PlanError, match="4 distinct valid configurations"):
        plan_trials(spec, 5)


def test_configurations_the_window_cannot_take_are_skipped(tmp_path):
    spec = read_spec(
        write_spec(tmp_path, "[data]\nwindow = 16\n[space]\nconv_layers = [1, 5, 6]\n")
    )
    plan = plan_trials(spec, 1)
    assert plan.trials[0].hyperparameters.conv_layers == 1


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[space]\ncolour = [1, 2]\n", ("unknown hyperparameter 'colour'",)),
        ("[space]\nbeta_value = { dist = 'gaussian' }\n", ("'gaussian' is not a scipy.stats",)),
        (
            "[space]\nbeta_value = { dist = 'uniform', width = 3 }\n",
            ("beta_value", "cannot sample"),
        ),
        ("[space]\nconv_layers = []\n", ("conv_layers", "empty")),
        ("[space]\nconv_layers = 2\n", ("conv_layers", "expected a list of choices")),
        ("[search]\ntrials = 3\n", ("unknown table [search]",)),
        ("[study]\ntrials = 0\n", ("trials must be >= 1",)),
        ("[study]\nbudget = 3\n", ("unknown key 'budget'",)),
        ("[training]\nbatch_size = 0\n", ("[training]", "batch_size")),
        ("[training]\nepochs = 3\n[space]\nepochs = [1, 2]\n", ("'epochs' is both fixed",)),
        ("[space\nbeta_value = 1\n", ("not valid TOML",)),
        ("[space]\ndilations = [[]]\n", ("dilations can draw []", "non-empty")),
        ("[space]\nfinal_activation = ['relu6']\n", ("final_activation can draw 'relu6'",)),
        ("[space]\ntcn = ['hahn2021', 'wavenet']\n", ("tcn can draw 'wavenet'",)),
        (
            "[space]\ncodings_size = { dist = 'randint', low = 0, high = 8 }\n",
            ("codings_size can draw 0", ">= 1"),
        ),
        ("[space]\nconv_layers = [7]\n", ("conv_layers: no value it can draw fits", "64")),
    ],
)
def test_bad_specs_are_refused_naming_file_and_key(tmp_path, text, words):
    with pytest.raises(SpecError) as refused:
        read_spec(write_spec(tmp_path, text))
    message = str(refused.value)
    assert "spec.toml" in message and "\n" not in message
    for word in words:
        assert word in message


def test_missing_spec(tmp_path):
    with pytest.raises(SpecError, match="file not found"):
        read_spec(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("trials", "seed", "message"),
    [(0, None, "^trials must be"), (-2, None, "^trials must be"), (3, -1, "^seed must be")],
)
def test_bad_trial_count_or_seed(trials, seed, message):
    # the library names its parameter; the CLI names the option (tests/test_launch.py)
    with pytest.raises(ParameterError, match=message):
        plan_trials(read_spec(SMOKE), trials, seed)
