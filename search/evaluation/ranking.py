"""Rank a study's scored models by a validation score (never by test), test beside it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from data_prep.errors import ParameterError, check_choice, check_integer
from data_prep.labels import CLASS_NAMES
from data_prep.prepared import load_prepared
from search.evaluation.bootstrap import cut_level
from search.evaluation.names import (
    CUT_METRICS,
    DEFAULT_ABNORMAL,
    DEFAULT_METRIC,
    DEFAULT_SPACE,
    RANK_SPACES,
    UNITS,
)
from search.evaluation.scoring import SCORER_VERSION
from studies.diagnostics import latent_checks
from studies.results import (
    CUT,
    SCORE_FAILED,
    WINDOW,
    Ranked,
    abnormal_key,
    mark_ties,
    models,
    ranking,
    scorings,
)
from studies.storage import locate, open_study
from vae.ensemble import ENSEMBLE
from vae.metrics import METRICS

ROC = "roc"  # the metric whose chance level is 0.5 whatever the share of abnormal windows


def check_abnormal(abnormal: Sequence[int]) -> tuple[int, ...]:
    """The abnormal tool classes, sorted; refuses an empty or unknown set."""
    classes = tuple(sorted(set(abnormal)))
    known_classes = range(len(CLASS_NAMES))  # healthy, degraded, failed
    if not classes or any(c not in known_classes for c in classes):
        known = ", ".join(map(str, known_classes))
        raise ParameterError("abnormal", f"takes classes among {known} (got {list(abnormal)})")
    return classes


def best(
    study: str | Path,
    storage: str | None = None,
    *,
    n: int | None = 10,
    space: str = DEFAULT_SPACE,
    metric: str = DEFAULT_METRIC,
    abnormal: Sequence[int] = DEFAULT_ABNORMAL,
    unit: str = WINDOW,
) -> list[Ranked]:
    """The ``n`` best models by validation ``metric`` in ``space`` over windows or cuts
    (``unit``), with test beside it, each with its interval and its absolute path (pasted into
    ``predict`` from any directory, it works); those whose validation interval overlaps the
    first one's are marked tied with it. A model whose directory is gone is left
    out (``missing_models`` names them), and so is one that could not be scored
    (``unscorable_models`` names them)."""
    check_choice("space", space, RANK_SPACES)
    check_choice("unit", unit, UNITS)
    check_choice("metric", metric, tuple(METRICS) if unit == WINDOW else CUT_METRICS)
    if n is not None:
        check_integer("n", n, 1)
    location = locate(study, storage)
    engine = open_study(location).engine
    ranked = ranking(
        engine,
        scorer_version=SCORER_VERSION,
        abnormal=abnormal_key(check_abnormal(abnormal)),
        space=space,
        metric=metric,
        unit=unit,
    )
    gone = _gone(location, engine)
    present = [r for r in ranked if r.name not in gone]
    checks = latent_checks(engine, SCORER_VERSION, abnormal_key(check_abnormal(abnormal)))
    return mark_ties(
        [
            replace(
                r,
                rank=i,
                path=str(location.model_path(r.path).resolve()),  # works from any directory
                active_dims=getattr(checks.get(r.name), "active_dims", None),
            )
            for i, r in enumerate(present[:n], start=1)
        ]
    )


def missing_models(study: str | Path, storage: str | None = None) -> list[tuple[str, Path]]:
    """(name, directory) of each recorded model whose directory is gone, or (an ensemble)
    a member's: never ranked."""
    location = locate(study, storage)
    return list(_gone(location, open_study(location).engine).items())


def _gone(location, engine) -> dict[str, Path]:
    """Each recorded model that cannot be loaded, with the directory that is gone: its own,
    or the first gone member's of an ensemble."""
    recorded = {m.name: m for m in models(engine)}
    gone = {
        name: location.model_path(m.path)
        for name, m in recorded.items()
        if not location.model_path(m.path).is_dir()
    }
    for name, m in recorded.items():
        for member in (m.config or {}).get(ENSEMBLE, ()):
            if member in gone or member not in recorded:
                gone.setdefault(name, gone.get(member, location.models_dir / member))
    return gone


def unscorable_models(
    study: str | Path, storage: str | None = None, abnormal: Sequence[int] = DEFAULT_ABNORMAL
) -> list[tuple[str, str]]:
    """(name, reason) of each model whose directory is there but whose scoring failed (it
    cannot be loaded, say): never ranked. The reason is its first line, one line per model."""
    location = locate(study, storage)
    engine = open_study(location).engine
    key = abnormal_key(check_abnormal(abnormal))
    failed = {
        s.model_name: (s.reason or "no reason recorded").splitlines()[0]
        for s in scorings(engine, SCORER_VERSION, key)
        if s.status == SCORE_FAILED
    }
    return [
        (m.name, failed[m.name])
        for m in models(engine)
        if m.name in failed and location.model_path(m.path).is_dir()
    ]


def chance_levels(
    study: str | Path,
    storage: str | None = None,
    *,
    metric: str = DEFAULT_METRIC,
    abnormal: Sequence[int] = DEFAULT_ABNORMAL,
    unit: str = WINDOW,
) -> dict[str, float]:
    """What a detector that knows nothing scores on the validation and test splits, to read a
    ranking by: ROC-AUC 0.5; a PR-AUC (average precision, or the paper's) the share of
    abnormal windows (with ``unit`` cut: of abnormal cuts) in the split."""
    check_choice("metric", metric, tuple(METRICS))
    classes = check_abnormal(abnormal)
    data = load_prepared(open_study(locate(study, storage)).prepared_file())
    levels = {}
    for split in ("val", "test"):
        _, y, cut_no = data.split(split)
        flags = np.isin(y, classes)
        if unit == CUT:
            flags = cut_level(cut_no, flags, np.zeros(len(flags)))[1]
        levels[split] = 0.5 if metric == ROC else float(flags.mean())
    return levels
