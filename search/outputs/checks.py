"""The checks beside the ranking scores as export columns and as ``show``'s text: each
signal's own score, the active latent dimensions, the thresholds' history, the baselines.

Export columns: ``<split>_signal_<signal>_ap`` per window and ``<split>_signal_<signal>_cut_ap``
per cut, each with ``_low`` and ``_high``; ``active_dims`` and ``collapsed``; ``baseline`` (the
kind, on a baseline's row) and a baseline's scores as ``<split>_baseline_<metric>`` (its one
score space), named as every score is.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from data_prep.errors import DataFileError
from search.evaluation.baselines import BASELINE_SPACE
from search.evaluation.diagnostics import SIGNAL_METRIC
from search.evaluation.names import (
    CUT_METRICS,
    DEFAULT_ABNORMAL,
    SPACE_NAMES,
    SPLITS,
    UNITS,
    score_name,
    space_label,
)
from studies.diagnostics import LatentCheck, SignalScore
from vae.metrics import METRICS
from vae.provenance import describe
from vae.storage import read_manifest

CHECK_COLUMNS = ("active_dims", "collapsed", "baseline")


def signal_column(split: str, signal: str, unit: str) -> str:
    return score_name(split, f"signal_{signal}", unit, SIGNAL_METRIC)


def signal_columns(signals: Sequence[str]) -> list[str]:
    return [
        signal_column(split, signal, unit) + suffix
        for split in SPLITS
        for signal in signals
        for unit in UNITS
        for suffix in ("", "_low", "_high")
    ]


def baseline_columns() -> list[str]:
    return [
        score_name(split, BASELINE_SPACE, unit, metric) + suffix
        for split in SPLITS
        for unit, metrics in zip(UNITS, (tuple(METRICS), CUT_METRICS), strict=True)
        for metric in metrics
        for suffix in ("", "_low", "_high")
    ]


def check_values(signals: Sequence[SignalScore], latent: LatentCheck | None) -> dict[str, Any]:
    """A model's per-signal scores and latent check as export values."""
    values: dict[str, Any] = {}
    for s in signals:
        column = signal_column(s.split, s.signal, s.unit)
        parts = {"": s.value, "_low": s.low, "_high": s.high}
        values.update({column + k: v for k, v in parts.items() if v is not None})
    if latent is not None:
        values.update(active_dims=latent.active_dims, collapsed=int(latent.collapsed))
    return values


def signal_table(signals: Sequence[SignalScore], names: Sequence[str], split: str) -> list[str]:
    """Lines of one split's per-signal scores, per window and per cut, best first."""
    by = {(s.signal, s.unit): s for s in signals if s.split == split}
    order = sorted(names, key=lambda n: -(getattr(by.get((n, UNITS[0])), "value", None) or 0))
    lines = []
    for name in order:
        cells = []
        for unit in UNITS:
            s = by.get((name, unit))
            cells.append("n/a" if s is None or s.value is None else _interval(s))
        lines.append(f"  {name:<12} {cells[0]:<22} {cells[1]}")
    return lines


def _interval(s) -> str:
    """``0.452 [0.381, 0.519]`` of a score or signal score."""
    text = f"{s.value:.3f}"
    return text if s.low is None or s.high is None else f"{text} [{s.low:.3f}, {s.high:.3f}]"


def show(
    study,
    model: str,
    storage: str | None = None,
    abnormal: Sequence[int] = DEFAULT_ABNORMAL,
) -> list[str]:
    """One model's checks as lines: its ranking scores, active latent dimensions, each
    signal's own score (validation and test, per window and per cut), and every threshold it
    has had with what it flags (precision, recall, false alarms per 100 healthy cuts and the
    confusion matrices, on validation and test)."""
    from search.evaluation.ranking import check_abnormal
    from search.evaluation.scoring import SCORER_VERSION
    from studies.diagnostics import latent_checks, signal_scores_by_model, threshold_history
    from studies.results import abnormal_key, models, scores_by_model
    from studies.storage import StudyError, locate, open_study

    location = locate(study, storage)
    engine = open_study(location).engine
    found = [
        m
        for m in models(engine)
        if model == m.name or Path(model).resolve() == location.model_path(m.path).resolve()
    ]
    if not found:
        raise StudyError(f"{location.directory}: no model named {model}")
    row = found[0]
    key = abnormal_key(check_abnormal(abnormal))
    lines = [
        f"model {row.name}",
        f"  path {location.model_path(row.path).resolve()}",
        *made_by(location.model_path(row.path)),
    ]
    scores = scores_by_model(engine, SCORER_VERSION, key).get(row.name, [])
    if not scores:
        return [*lines, "  not scored by this scorer yet (vae-search score)"]
    lines.append(
        "scores (window; cut) [95% interval over resampled cuts]; "
        + "; ".join(space_label(space) for space in ("latent", "input"))
        + ":"
    )
    for s in sorted(scores, key=lambda s: (s.space, s.metric, s.split, s.unit)):
        if s.split in ("val", "test") and s.metric == "ap" and s.space in ("latent", "input"):
            lines.append(f"  {s.split:<5} {SPACE_NAMES[s.space]:<7} {s.unit:<7} {_interval(s)}")
    latent = latent_checks(engine, SCORER_VERSION, key).get(row.name)
    if latent is not None:
        state = "COLLAPSED: its latent score is noise" if latent.collapsed else "not collapsed"
        lines.append(
            f"active latent dimensions: {latent.active_dims} of {len(latent.kl_per_dim)} "
            f"(mean KL over validation > 0.01 nats); {state}"
        )
    signals = signal_scores_by_model(engine, SCORER_VERSION, key).get(row.name, [])
    names = list(dict.fromkeys(s.signal for s in signals))
    for split in ("val", "test"):
        lines.append(f"{split} PR-AUC (ap) of each signal's reconstruction error alone:")
        lines.append(f"  {'signal':<12} {'per window':<22} per cut")
        lines += signal_table(signals, names, split)
    lines.append("thresholds (history, oldest first; flag when score >= threshold):")
    for t in threshold_history(engine, row.name):
        how = (
            "max F1 on validation"
            if t.percentile is None
            else f"{t.percentile:g}th pct healthy val"
        )
        lines.append(
            f"  {t.set_at:%Y-%m-%d %H:%M} scorer {t.scorer_version} abnormal {t.abnormal} "
            f"{SPACE_NAMES.get(t.space, t.space):<10} {t.tier:<6} {_number(t.value)} ({how})"
        )
        for split, o in sorted(t.outcome.items(), reverse=True):
            w, c = o["windows"], o["cuts"]
            lines.append(
                f"    {split:<4} precision {_number(o['precision'])} recall "
                f"{_number(o['recall'])}, false alarms per 100 healthy cuts "
                f"{_number(o['false_alarms_per_100_healthy_cuts'])}; windows tp {w['tp']} "
                f"fp {w['fp']} fn {w['fn']} tn {w['tn']}; cuts tp {c['tp']} fp {c['fp']} "
                f"fn {c['fn']} tn {c['tn']}"
            )
    return lines


def made_by(model_dir: Path) -> list[str]:
    """What made a saved model (its manifest's provenance), indented for ``show``."""
    try:
        manifest = read_manifest(model_dir)
    except DataFileError as exc:
        return [f"  {exc}"]
    return [f"  {line}" for line in describe(manifest)]


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"
