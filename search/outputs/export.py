"""A study as one CSV file: a row per saved model, in the reference study's results layout.

The reference study kept its results in CSV files with the columns of :data:`REFERENCE_COLUMNS`
(dilations written as a Python list, ``date_time`` the stamp in the model's name). An export
starts with those columns, in that order, so the reference study's notebooks and plots read
it unchanged; then come the hyperparameters the reference did not vary, the trial and the
model's path, and every score of the current scorer: ``<split>_<space>_<metric>`` over windows
and ``<split>_<space>_cut_<metric>`` over cuts, each with ``_low`` and ``_high`` (its bootstrap
interval) and, for the sampled input space, ``_std`` (over the draws). Models not scored yet
have empty scores. Then the checks (``search.outputs.checks``): each signal's own score, the
active latent dimensions, and one row per baseline, marked in ``baseline``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from data_prep.errors import DataFileError
from data_prep.files import write_text_atomically
from data_prep.prepared import load_prepared
from search.evaluation.configurations import best_configurations, configuration_of
from search.evaluation.names import CUT_METRICS, DEFAULT_ABNORMAL, SPACES, SPLITS, score_name
from search.evaluation.ranking import check_abnormal
from search.evaluation.scoring import SCORER_VERSION
from search.outputs.checks import CHECK_COLUMNS, baseline_columns, check_values, signal_columns
from studies.diagnostics import baselines, latent_checks, signal_scores_by_model
from studies.results import CUT, WINDOW, abnormal_key, models, scores_by_model
from studies.storage import locate, open_study
from vae.ensemble import members_of, settings_of
from vae.hyperparams import HYPERPARAMETERS, Hyperparameters
from vae.metrics import METRICS
from vae.naming import DATE_FORMAT, ModelNameError, parse_name
from vae.storage import read_manifest

REFERENCE_COLUMNS = (
    "beta_value",
    "codings_size",
    "conv_layers",
    "dilations",
    "earlystop_patience",
    "kernel_size_1",
    "start_filter_no",
    "loss",
    "val_loss",
    "epochs_trained",
    "date_time",
    "model_name",
)
EXTRA_COLUMNS = (
    *(name for name in HYPERPARAMETERS if name not in REFERENCE_COLUMNS),
    "seed",
    "trial_number",
    "model_path",
    "model_missing",  # 1: the model's directory is gone
    "commit",  # the vae-search commit that trained it (+ "-dirty": with uncommitted changes)
    "seed_number",  # which of its configuration's seeds (0: the first)
    "ensemble_members",  # an ensemble's members, by name, ";"-separated
    # its configuration over its seeds, by the default ranking (best --by configuration)
    "config_seeds",
    "config_val_mean",
    "config_val_sd",
    "config_test_mean",
    "config_test_sd",
)


def score_columns() -> list[str]:
    columns = []
    for split in SPLITS:
        for space in SPACES:
            for unit, metrics in ((WINDOW, tuple(METRICS)), (CUT, CUT_METRICS)):
                for metric in metrics:
                    column = score_name(split, space, unit, metric)
                    sampled = ("_std",) if space == "input" else ()
                    columns += [column, *(column + part for part in (*sampled, "_low", "_high"))]
    return columns


def export(
    study: str | Path,
    out: str | Path,
    storage: str | None = None,
    abnormal: Sequence[int] = DEFAULT_ABNORMAL,
) -> int:
    """Write the study's models to ``out`` (temporary name, then rename); returns the rows."""
    classes = check_abnormal(abnormal)
    location = locate(study, storage)
    opened = open_study(location)
    engine = opened.engine
    key = abnormal_key(classes)
    scores = scores_by_model(engine, SCORER_VERSION, key)
    signal_scores = signal_scores_by_model(engine, SCORER_VERSION, key)
    checks = latent_checks(engine, SCORER_VERSION, key)
    signals = load_prepared(opened.prepared_file()).signal_names
    columns = [
        *REFERENCE_COLUMNS,
        *EXTRA_COLUMNS,
        *score_columns(),
        *CHECK_COLUMNS,
        *signal_columns(signals),
        *baseline_columns(),
    ]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    rows = models(engine)
    groups = {
        configuration_of(c.config): c
        for c in best_configurations(study, storage, n=None, abnormal=classes, intervals=False)
    }
    for model in rows:
        config = Hyperparameters.from_saved(settings_of(model.config)).to_dict()
        group = groups.get(configuration_of(model.config))
        record: dict[str, Any] = {k: config.get(k) for k in (*REFERENCE_COLUMNS, *EXTRA_COLUMNS)}
        record.update(
            dilations=str(config["dilations"]),
            loss=model.loss,
            val_loss=model.val_loss,
            epochs_trained=model.epochs_trained,
            date_time=_date_time(model.name, model.recorded_at),
            model_name=model.name,
            trial_number=model.trial_number,
            model_path=str(location.model_path(model.path).resolve()),
            model_missing=int(not location.model_path(model.path).is_dir()),
            commit=trained_at(location.model_path(model.path)),
            seed_number=_seed_number(model.name),
            ensemble_members=";".join(members_of(model.config) or []) or None,
        )
        if group is not None:
            record.update(
                config_seeds=group.seeds,
                config_val_mean=group.val.mean,
                config_val_sd=group.val.sd,
                config_test_mean=group.test.mean,
                config_test_sd=group.test.sd,
            )
        for score in scores.get(model.name, []):
            column = score_name(score.split, score.space, score.unit, score.metric)
            record.update({column + suffix: v for suffix, v in score.by_suffix().items()})
        record.update(check_values(signal_scores.get(model.name, []), checks.get(model.name)))
        writer.writerow(record)
    for baseline in baselines(engine, SCORER_VERSION, key):
        record = {"model_name": baseline.name, "baseline": baseline.kind}
        for score in scores.get(baseline.name, []):
            column = score_name(score.split, score.space, score.unit, score.metric)
            record.update({column + suffix: v for suffix, v in score.by_suffix().items()})
        writer.writerow(record)
    write_text_atomically(Path(out), buffer.getvalue())
    return len(rows)


def trained_at(model_dir: Path) -> str | None:
    """The commit a model's manifest names, ``-dirty`` where the tree had uncommitted changes
    (None: no manifest, or a model trained outside a git checkout or before it was recorded)."""
    try:
        code = read_manifest(model_dir).get("provenance", {}).get("code", {})
    except DataFileError:
        return None
    commit = code.get("commit")
    return commit and commit + ("-dirty" if code.get("dirty") else "")


def _date_time(name: str, recorded_at) -> str:
    """The stamp in the model's name, as the reference wrote it (the record time otherwise)."""
    try:
        return parse_name(name).created.strftime(DATE_FORMAT)
    except ModelNameError:
        return recorded_at.strftime(DATE_FORMAT)


def _seed_number(name: str) -> int | None:
    """The seed number a model's name carries; None for a name that is not a model's (an
    ensemble's)."""
    try:
        return parse_name(name).seed_number
    except ModelNameError:
        return None
