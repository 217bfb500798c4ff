"""Rankings as text: an aligned table for people, CSV and JSON for programs."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from search.evaluation.configurations import RankedConfiguration
from studies.results import Ranked
from vae.ensemble import members_of, settings_of
from vae.hyperparams import HYPERPARAMETERS, Hyperparameters

FORMATS = ("table", "csv", "json")
PARTS = ("", "_std", "_low", "_high")  # a score's value, spread over draws, interval
SCORE_FIELDS = (
    "rank",
    "tied",
    *(f"{split}{part}" for split in ("val", "test") for part in PARTS),
    "config_mean",
    "config_seeds",
)
# A configuration's score over its seeds: mean, SD, worst and best seed, interval (seeds and cuts)
SPREAD_PARTS = ("mean", "sd", "low_seed", "high_seed", "low", "high")
# The aligned table's hyperparameter columns and their headers; CSV and JSON carry them all.
TABLE_COLUMNS = {
    "beta_value": "beta",
    "codings_size": "cod",
    "conv_layers": "L",
    "start_filter_no": "F",
    "kernel_size_1": "K",
    "dilations": "dil",
    "final_activation": "act",
    "tcn": "tcn",
}
# What each header stands for, printed under the aligned table (the CSV and JSON carry names)
LEGEND = (
    "val, test: the score on the validation and test splits, [its 95% interval over resampled "
    "cuts]; beta: KL weight (beta_value); cod: latent dimensions (codings_size); L: "
    "convolution layers (conv_layers); F: filters of the first layer (start_filter_no); K: "
    "kernel size of the first layer (kernel_size_1); dil: dilations; act: final activation; "
    "tcn: the TCN block"
)


def ranking_records(rows: Sequence[Ranked]) -> list[dict[str, Any]]:
    """One flat record per model: rank, whether tied with the first, validation and test
    scores (value, spread over draws, interval), hyperparameters, path, active latent
    dimensions and whether it collapsed."""
    records = []
    for row in rows:
        record = {k: getattr(row, k) for k in SCORE_FIELDS}
        config = Hyperparameters.from_saved(settings_of(row.config)).to_dict()
        record.update({k: config[k] for k in HYPERPARAMETERS})
        record.update(
            name=row.name, path=row.path, members=members_of(row.config), **_collapse_fields(row)
        )
        records.append(record)
    return records


def configuration_records(rows: Sequence[RankedConfiguration]) -> list[dict[str, Any]]:
    """One flat record per configuration: rank, whether tied with the first, seeds, the
    validation and test scores over seeds (``val_mean``, ``val_sd``, ``val_low_seed``,
    ``val_high_seed``, ``val_low``, ``val_high``...), hyperparameters, its models."""
    records = []
    for row in rows:
        record: dict[str, Any] = {"rank": row.rank, "tied": row.tied, "seeds": row.seeds}
        for split in ("val", "test"):
            spread = getattr(row, split)
            record.update({f"{split}_{part}": getattr(spread, part) for part in SPREAD_PARTS})
        config = Hyperparameters.from_saved({**settings_of(row.config), "seed": 0}).to_dict()
        record.update({k: config[k] for k in HYPERPARAMETERS if k != "seed"})
        record["models"] = [m.name for m in row.models]
        record["collapsed_seeds"] = sum(m.active_dims == 0 for m in row.models)
        records.append(record)
    return records


def _collapse_fields(row: Ranked) -> dict[str, Any]:
    collapsed = None if row.active_dims is None else row.active_dims == 0
    return {"active_dims": row.active_dims, "collapsed": collapsed}


def format_ranking(
    rows: Sequence[Ranked],
    fmt: str,
    metric_label: str,
    baselines: Sequence[Ranked] = (),
    chance: Mapping[str, float] | None = None,
) -> str:
    """The ranking as ``fmt``. The table lists ``baselines``
    (``search.evaluation.baselines.baselines_beside``) under the models, and says what each
    column means and what a detector that knows nothing scores on each split (``chance``,
    from ``search.evaluation.ranking.chance_levels``); CSV and JSON keep one record per ranked
    model, as programs read them (the baselines are in ``export``)."""
    records = ranking_records(rows)
    if fmt == "json":
        return json.dumps(
            [{**asdict(r), **_collapse_fields(r), "metric": metric_label} for r in rows],
            indent=2,
        )
    if fmt == "csv":
        return _csv(records)
    return _table(records, metric_label, chance) + _baseline_table(baselines)


def format_configurations(rows: Sequence[RankedConfiguration], fmt: str, metric_label: str) -> str:
    """A ranking of configurations as an aligned table, CSV or JSON."""
    records = configuration_records(rows)
    if fmt == "json":
        return json.dumps([{**r, "metric": metric_label} for r in records], indent=2)
    if fmt == "csv":
        return _csv(records)
    if not records:
        return "no scored models yet (score the study first)"
    header = [
        "#",
        f"val {metric_label}: mean±SD over seeds [95% interval, seeds and cuts]",
        "seeds: min-max",
        "n",
        "test mean",
        *TABLE_COLUMNS.values(),
    ]
    collapse = any(r["collapsed_seeds"] for r in records)  # a column only where one collapsed
    header += ["seeds collapsed"] * collapse
    lines = [
        [
            f"{r['rank']}{'=' if r['tied'] else ''}",
            _value(r["val_mean"], r["val_sd"], r["val_low"], r["val_high"]),
            _range(r["val_low_seed"], r["val_high_seed"]),
            str(r["seeds"]),
            _value(r["test_mean"], r["test_sd"], r["test_low"], r["test_high"]),
            *(_cell(r[name]) for name in TABLE_COLUMNS),
            *([f"{r['collapsed_seeds']} COLLAPSED" if r["collapsed_seeds"] else ""] * collapse),
        ]
        for r in records
    ]
    text = _aligned(header, lines)
    if any(r["tied"] for r in records):
        text.append("=: its validation interval overlaps the first one's (tied with it)")
    text += [f"{r['rank']}: {', '.join(r['models'])}" for r in records]
    return "\n".join(text)


def _range(low: float | None, high: float | None) -> str:
    return "n/a" if low is None else f"{low:.3f}-{high:.3f}"


def _csv(records: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(records[0]) if records else ["rank"])
    writer.writeheader()
    for record in records:
        writer.writerow({k: _csv_value(v) for k, v in record.items()})
    return buffer.getvalue().rstrip("\n")


def _csv_value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return "" if value is None else value


def _table(
    records: list[dict[str, Any]], metric_label: str, chance: Mapping[str, float] | None
) -> str:
    if not records:
        return "no scored models yet (score the study first)"
    seeded = any(r["config_seeds"] > 1 for r in records)
    header = ["#", f"val {metric_label} [95% interval]", "test", "dims", *TABLE_COLUMNS.values()]
    header += ["vs its config (seeds)"] if seeded else []
    lines = [
        [
            f"{r['rank']}{'=' if r['tied'] else ''}",
            _value(*(r[f"val{part}"] for part in PARTS)),
            _value(*(r[f"test{part}"] for part in PARTS)),
            _dims(r["active_dims"]),
            *(_cell(r[name]) for name in TABLE_COLUMNS),
            *([_from_mean(r)] if seeded else []),
        ]
        for r in records
    ]
    text = _aligned(header, lines)
    if any(r["tied"] for r in records):
        text.append("=: its validation interval overlaps the first one's (tied with it)")
    text.append(LEGEND)
    text.append(
        "dims: active latent dimensions (mean KL over validation > 0.01 nats); "
        "COLLAPSED: none, its latent score is noise"
    )
    if chance:
        levels = ", ".join(f"{split} {value:.3f}" for split, value in chance.items())
        text.append(f"chance (a detector that knows nothing scores): {levels}")
    if seeded:
        text.append(
            "vs its config: the model's validation score minus its configuration's mean over "
            "its seeds (best --by configuration ranks those)"
        )
    text += [f"{r['rank']}: {r['path']}" for r in records]
    return "\n".join(text)


def _from_mean(record: dict[str, Any]) -> str:
    if record["members"]:
        return f"ensemble of {len(record['members'])}"
    if record["config_mean"] is None or record["val"] is None:
        return "n/a"
    return f"{record['val'] - record['config_mean']:+.3f} ({record['config_seeds']})"


def _aligned(header: list[str], lines: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    text = [" ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in lines]
    text.insert(0, " ".join(cell.rjust(w) for cell, w in zip(header, widths, strict=True)))
    return text


def _dims(active: int | None) -> str:
    return "?" if active is None else "COLLAPSED" if active == 0 else str(active)


def _baseline_table(rows: Sequence[Ranked]) -> str:
    """The baselines below the models: same metric, same intervals, their chosen settings."""
    if not rows:
        return ""
    lines = [
        [
            r.name + ("=" if r.tied else ""),
            _value(r.val, r.val_std, r.val_low, r.val_high),
            _value(r.test, r.test_std, r.test_low, r.test_high),
            ", ".join(f"{k}={v}" for k, v in r.config.items() if k != "baseline"),
        ]
        for r in rows
    ]
    header = ["baseline", "val", "test", "chosen on validation"]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    text = [
        " ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *lines]
    ]
    text.append("baseline=: its validation interval overlaps the first model's (tied with it)")
    return "\n\n" + "\n".join(text)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return _csv_value(value) if isinstance(value, list | tuple) else str(value)


def _value(value: float | None, std: float | None, low: float | None, high: float | None) -> str:
    """``0.452 [0.381, 0.519]``, with ``±std`` over the draws where the score is sampled."""
    if value is None or math.isnan(value):
        return "n/a"
    text = f"{value:.3f}" if std is None else f"{value:.3f}±{std:.3f}"
    return text if low is None or high is None else f"{text} [{low:.3f}, {high:.3f}]"
