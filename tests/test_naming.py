"""Model names: safe characters, round trip, and the seeds' legacy names."""

from __future__ import annotations

from datetime import datetime

import pytest

from vae.hyperparams import PAPER_BEST
from vae.naming import SAFE_NAME, ModelNameError, format_name, name_for, parse_name


@pytest.mark.parametrize(
    "hp",
    [
        PAPER_BEST,
        PAPER_BEST.replace(beta_value=0.5, dilations=[1, 2], final_activation="sigmoid"),
        PAPER_BEST.replace(beta_value=9.5, conv_layers=3, codings_size=39, epochs=1),
    ],
)
def test_round_trip(hp):
    name = name_for(hp, trial=417, param_count=41583, created=datetime(2026, 1, 22, 5, 33, 15))
    text = format_name(name)
    assert SAFE_NAME.match(text) and ":" not in text and " " not in text
    assert parse_name(text) == name
    assert format_name(parse_name(text)) == text


def test_name_says_its_hyperparameters():
    created = datetime(2026, 1, 22, 5, 33, 15)
    hp = PAPER_BEST.replace(epochs=2000, earlystop_patience=50)
    text = format_name(name_for(hp, trial=7, param_count=41583, created=created))
    assert text == (
        "TBVAE-20260122-053315_t=7_b=3.92_c=21_l=2_f1=16_k1=3_dil=1-2-4-8_act=selu"
        "_tcn=hahn2021_p=41583_eps=2000_pat=50"
    )


def test_names_before_the_tcn_choice_are_keras_tcn_and_imports_have_no_trial():
    before = (
        "TBVAE-20261129-120000_t=0_b=1.00_c=4_l=1_f1=4_k1=2_dil=1-2_act=selu_p=2069_eps=2_pat=10"
    )
    assert parse_name(before).tcn == "keras-tcn" and format_name(parse_name(before)) != before
    imported = format_name(
        name_for(PAPER_BEST, trial=None, param_count=46256, created=datetime(2020, 6, 20))
    )
    assert "_t=" not in imported and parse_name(imported).trial is None


def test_reads_the_seeds_legacy_names():
    legacy = (
        "TBVAE-20200620-053315:_b=3.92_c=21_l=2_f1=16_k1=3_dil=[1, 2, 4, 8]"
        "_p=4.63e+04_eps=2000_pat=50"
    )
    name = parse_name(legacy)
    assert name.legacy and name.trial is None and name.final_activation is None
    assert name.tcn == "hahn2021"  # the seeds' names are the paper's models
    assert name.created == datetime(2020, 6, 20, 5, 33, 15)
    assert (name.beta_value, name.codings_size, name.conv_layers) == (3.92, 21, 2)
    assert (name.start_filter_no, name.kernel_size_1, name.dilations) == (16, 3, (1, 2, 4, 8))
    assert (name.param_count, name.epochs, name.earlystop_patience) == (46300, 2000, 50)


@pytest.mark.parametrize(
    "text",
    [
        "model_final.keras",
        "TBVAE-2026_t=1",
        "TBVAE-20260122-053315_t=7_b=3.92",
        "TBVAE-20260122-053315_t=x_b=3.92_c=21_l=2_f1=16_k1=3_dil=1-2_act=selu_p=1_eps=2_pat=5",
    ],
)
def test_rejects_what_is_not_a_name(text):
    with pytest.raises(ModelNameError):
        parse_name(text)
