"""Model names that say their hyperparameters, safe on every file system, and their parser.

The seeds named models ``TBVAE-20200620-053315:_b=3.92_c=21_l=2_f1=16_k1=3_dil=[1, 2, 4, 8]_
p=4.63e+04_eps=2000_pat=50``: the colon, spaces, brackets and ``+`` break on Windows and Google
Drive. Ours carry the same fields plus the final activation and the trial index, written with
``[A-Za-z0-9._=-]`` only::

    TBVAE-20260122-053315_t=7_b=3.92_c=21_l=2_f1=16_k1=3_dil=1-2-4-8_act=selu_p=41583_eps=2000_pat=50

A configuration trained with several seeds (``[study] seeds``) names each further seed's model
with its seed number after the trial index (``t=7_s=2``); the first seed's name has none, as
before seeds existed.

``parse_name`` reads both forms, so a search can pick up the reference study's saved models.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from data_prep.errors import InputError
from vae.hyperparams import HAHN2021, KERAS_TCN, Hyperparameters

PREFIX = "TBVAE"
DATE_FORMAT = "%Y%m%d-%H%M%S"
SAFE_NAME = re.compile(r"^[A-Za-z0-9._=-]+$")
_FIELDS = (  # (key in the name, attribute)
    ("t", "trial"),
    ("s", "seed_number"),
    ("b", "beta_value"),
    ("c", "codings_size"),
    ("l", "conv_layers"),
    ("f1", "start_filter_no"),
    ("k1", "kernel_size_1"),
    ("dil", "dilations"),
    ("act", "final_activation"),
    ("tcn", "tcn"),
    ("lr", "learning_rate"),
    ("p", "param_count"),
    ("eps", "epochs"),
    ("pat", "earlystop_patience"),
)
DEFAULT_LEARNING_RATE = Hyperparameters.learning_rate
# key: what its absence means (a name shows the learning rate only where it is not Adam's default)
_OPTIONAL = {"t": None, "s": "0", "tcn": KERAS_TCN, "lr": repr(DEFAULT_LEARNING_RATE)}
_LEGACY = re.compile(
    r"^TBVAE-(?P<date>\d{8}-\d{6}):_b=(?P<b>[0-9.]+)_c=(?P<c>\d+)_l=(?P<l>\d+)"
    r"_f1=(?P<f1>\d+)_k1=(?P<k1>\d+)_dil=\[(?P<dil>[0-9, ]+)\]_p=(?P<p>[0-9.e+-]+)"
    r"_eps=(?P<eps>\d+)_pat=(?P<pat>\d+)$"
)


class ModelNameError(InputError):
    """A string that is not a model name in either form."""


@dataclass(frozen=True)
class ModelName:
    """The fields a model name carries. ``trial`` is None in legacy names and imported
    models' names; ``final_activation`` is None in legacy names, whose ``param_count`` is
    rounded to three significant digits."""

    created: datetime
    beta_value: float
    codings_size: int
    conv_layers: int
    start_filter_no: int
    kernel_size_1: int
    dilations: tuple[int, ...]
    param_count: int
    epochs: int
    earlystop_patience: int
    final_activation: str | None = None
    trial: int | None = None
    seed_number: int = 0  # which of its configuration's seeds (0: the first)
    tcn: str = HAHN2021
    learning_rate: float = DEFAULT_LEARNING_RATE
    legacy: bool = False

    def __str__(self) -> str:
        return format_name(self)


def format_name(name: ModelName) -> str:
    """The safe name of ``name``'s fields (beta to two decimals, as the seeds wrote it)."""
    if name.final_activation is None:
        raise ModelNameError("a new model name needs a final activation")
    values = {
        "trial": None if name.trial is None else str(name.trial),
        "seed_number": str(name.seed_number) if name.seed_number else None,
        "beta_value": f"{name.beta_value:.2f}",
        "codings_size": str(name.codings_size),
        "conv_layers": str(name.conv_layers),
        "start_filter_no": str(name.start_filter_no),
        "kernel_size_1": str(name.kernel_size_1),
        "dilations": "-".join(map(str, name.dilations)),
        "final_activation": name.final_activation,
        "tcn": name.tcn,
        "learning_rate": None
        if name.learning_rate == DEFAULT_LEARNING_RATE
        else f"{name.learning_rate:.3g}",
        "param_count": str(name.param_count),
        "epochs": str(name.epochs),
        "earlystop_patience": str(name.earlystop_patience),
    }
    text = f"{PREFIX}-{name.created.strftime(DATE_FORMAT)}_" + "_".join(
        f"{key}={values[attr]}" for key, attr in _FIELDS if values[attr] is not None
    )
    if not SAFE_NAME.match(text):
        raise ModelNameError(f"model name {text!r} has characters outside [A-Za-z0-9._=-]")
    return text


def parse_name(text: str) -> ModelName:
    """Fields of a model name, new or legacy; raises ModelNameError naming what is wrong."""
    legacy = _LEGACY.match(text)
    if legacy:
        g = legacy.groupdict()
        return ModelName(
            created=datetime.strptime(g["date"], DATE_FORMAT),
            beta_value=float(g["b"]),
            codings_size=int(g["c"]),
            conv_layers=int(g["l"]),
            start_filter_no=int(g["f1"]),
            kernel_size_1=int(g["k1"]),
            dilations=tuple(int(d) for d in g["dil"].split(",")),
            param_count=round(float(g["p"])),
            epochs=int(g["eps"]),
            earlystop_patience=int(g["pat"]),
            tcn=HAHN2021,
            legacy=True,
        )
    head, _, rest = text.partition("_")
    if not head.startswith(f"{PREFIX}-") or not SAFE_NAME.match(text):
        raise ModelNameError(f"{text!r} is not a model name (expected {PREFIX}-<date>-<time>_...)")
    try:
        created = datetime.strptime(head.removeprefix(f"{PREFIX}-"), DATE_FORMAT)
        pairs = dict(part.split("=", 1) for part in rest.split("_"))
    except ValueError:
        raise ModelNameError(f"{text!r} is not a model name (bad date or field)") from None
    pairs = {**_OPTIONAL, **pairs}
    missing = [key for key, _ in _FIELDS if key not in pairs]
    if missing:
        raise ModelNameError(f"model name {text!r} lacks the field '{missing[0]}='")
    try:
        return ModelName(
            created=created,
            trial=None if pairs["t"] is None else int(pairs["t"]),
            seed_number=int(pairs["s"]),
            beta_value=float(pairs["b"]),
            codings_size=int(pairs["c"]),
            conv_layers=int(pairs["l"]),
            start_filter_no=int(pairs["f1"]),
            kernel_size_1=int(pairs["k1"]),
            dilations=tuple(int(d) for d in pairs["dil"].split("-")),
            final_activation=pairs["act"],
            tcn=pairs["tcn"],
            learning_rate=float(pairs["lr"]),
            param_count=int(pairs["p"]),
            epochs=int(pairs["eps"]),
            earlystop_patience=int(pairs["pat"]),
        )
    except ValueError as exc:
        raise ModelNameError(f"model name {text!r} has a malformed field ({exc})") from None


def name_for(
    hp, trial: int | None, param_count: int, created: datetime, seed_number: int = 0
) -> ModelName:
    """The name of a model with hyperparameters ``hp``, trained as trial ``trial`` (None: by
    no trial of ours) with its configuration's seed ``seed_number``."""
    return ModelName(
        created=created.replace(microsecond=0),
        trial=trial,
        seed_number=seed_number,
        beta_value=hp.beta_value,
        codings_size=hp.codings_size,
        conv_layers=hp.conv_layers,
        start_filter_no=hp.start_filter_no,
        kernel_size_1=hp.kernel_size_1,
        dilations=tuple(hp.dilations),
        final_activation=hp.final_activation,
        tcn=hp.tcn,
        learning_rate=hp.learning_rate,
        param_count=param_count,
        epochs=hp.epochs,
        earlystop_patience=hp.earlystop_patience,
    )
