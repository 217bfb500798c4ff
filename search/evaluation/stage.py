"""The scoring stage: score a study's saved models into its database.

``score`` scores every recorded model that has no scoring of this scorer version and these
abnormal classes (so re-running scores only what is new, and a new scorer version rescores
everything); it can run while training still runs, or on another machine that sees the study.
A model whose latest percentile tiers are not the ones asked for is scored again (its earlier
thresholds stay in the history).

The baselines (``search.evaluation.baselines``) are scored by every ``score`` that finds them
missing for this scorer version and abnormal classes, not on request: they cost seconds once
per study, not per model, and a ranking without them cannot say whether a β-VAE is needed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from data_prep.errors import check_integer
from search.evaluation.names import (
    DEFAULT_ABNORMAL,
    DEFAULT_BOOTSTRAP,
    DEFAULT_REPEATS,
    DEFAULT_TIERS,
)
from search.evaluation.ranking import check_abnormal
from search.evaluation.scores_study import sync_scores_study
from search.evaluation.scoring import SCORER_VERSION, ScoringOutcome
from search.evaluation.study_notes import write_notes
from search.evaluation.thresholds import check_tiers
from search.execution.quiet import tensorflow_startup_filtered
from studies.diagnostics import latest_tiers, scoring_rows
from studies.results import SCORED, abnormal_key, models, models_to_score, save_scoring, scorings
from studies.storage import StudyLocation, check_writable, locate, open_study


@dataclass(frozen=True)
class ScoreReport:
    scored: int
    failed: tuple[tuple[str, str], ...]  # (model name, reason)
    current: int  # models whose scoring was current already
    baselines: int = 0  # baselines fitted and scored

    def lines(self) -> list[str]:
        lines = [
            f"scored {self.scored} model(s), {len(self.failed)} failed, "
            f"{self.current} already scored"
            + (f"; fitted and scored {self.baselines} baselines" if self.baselines else "")
        ]
        lines += [f"  failed: {name}: {reason}" for name, reason in self.failed]
        return lines


@tensorflow_startup_filtered()
def score(
    study: str | Path,
    storage: str | None = None,
    *,
    repeats: int = DEFAULT_REPEATS,
    workers: int = 1,
    abnormal: Sequence[int] = DEFAULT_ABNORMAL,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    tiers: dict[str, float] = DEFAULT_TIERS,
) -> ScoreReport:
    """Score what has no current score, with ``workers`` processes; failures are recorded.

    A model scored by this scorer with fewer than ``bootstrap`` resamples is scored again,
    so a study scored without intervals gets them; 0 draws none. ``tiers`` are the alert
    tiers' percentiles of healthy validation scores ({"watch": 99.5, "act": 99.95}).
    """
    tiers = check_tiers(tiers)
    check_integer("repeats", repeats, 1)
    check_integer("workers", workers, 1)
    check_integer("bootstrap", bootstrap, 0)
    classes = check_abnormal(abnormal)
    location = locate(study, storage)
    opened = open_study(location)
    prepared = opened.prepared_file()
    check_writable(location)  # before any model is loaded: scores and manifests are written
    engine = opened.engine
    key = abnormal_key(classes)
    waiting = models_to_score(engine, SCORER_VERSION, key, bootstrap)
    retiered = _other_tiers(engine, key, tiers, {m.name for m in waiting})
    todo = [(m.name, m.path) for m in [*waiting, *retiered]]
    current = len(models(engine)) - len(todo)
    baselines = _score_baselines(engine, location, prepared, classes, bootstrap)
    if not todo:
        sync_scores_study(opened, SCORER_VERSION, classes, changed=bool(baselines))
        write_notes(study, storage, classes)
        return ScoreReport(0, (), current, baselines)
    from joblib import Parallel, delayed

    workers = min(workers, len(todo))
    threads = max(1, (os.cpu_count() or 1) // workers)
    shares = [todo[i::workers] for i in range(workers)]
    outcomes = Parallel(n_jobs=workers, backend="loky")(
        delayed(_score_share)(
            location, prepared, share, classes, repeats, bootstrap, threads, tiers
        )
        for share in shares
    )
    flat = [o for share in outcomes for o in share]
    failed = tuple((o.model_name, o.reason or "") for o in flat if o.result is None)
    sync_scores_study(opened, SCORER_VERSION, classes)
    write_notes(study, storage, classes)
    return ScoreReport(len(flat) - len(failed), failed, current, baselines)


def _score_share(
    location: StudyLocation,
    prepared: Path,
    share: list[tuple[str, str]],
    abnormal: tuple[int, ...],
    repeats: int,
    bootstrap: int,
    threads: int,
    tiers: dict[str, float],
) -> list[ScoringOutcome]:
    """One worker: TensorFlow once, the data once, then each (name, path) in turn, saved as it
    ends. joblib runs a single share in the calling process, where TensorFlow may have started
    already (a notebook): its thread counts are kept then."""
    from data_prep.prepared import load_prepared
    from search.evaluation.scoring import score_saved_model
    from vae.training import limit_threads

    limit_threads(threads)
    data = load_prepared(prepared)
    engine = open_study(location).engine
    outcomes = []
    for name, path in share:
        outcome = score_saved_model(
            location.model_path(path), data, abnormal, repeats, bootstrap=bootstrap, tiers=tiers
        )
        result = outcome.result
        save_scoring(
            engine,
            model_name=name,
            scorer_version=SCORER_VERSION,
            abnormal=abnormal_key(abnormal),
            status=outcome.status,
            reason=outcome.reason,
            repeats=repeats,
            bootstrap=bootstrap,
            seconds=outcome.seconds,
            thresholds=outcome.result.thresholds if outcome.result else {},
            scores=result.scores if result else [],
            extra_rows=lambda key, r=result: (
                scoring_rows(key, r.signals, r.latent, r.tiers) if r else ()
            ),
        )
        outcomes.append(outcome)
    return outcomes


def _other_tiers(engine, abnormal: str, tiers: dict[str, float], waiting: set[str]) -> list:
    """Scored models (not already waiting) whose latest tiers are not ``tiers``."""
    latest = latest_tiers(engine, SCORER_VERSION, abnormal)
    scored = {
        s.model_name for s in scorings(engine, SCORER_VERSION, abnormal) if s.status == SCORED
    }
    return [
        m
        for m in models(engine)
        if m.name in scored and m.name not in waiting and latest.get(m.name) != tiers
    ]


def _score_baselines(
    engine, location: StudyLocation, prepared: Path, abnormal: tuple[int, ...], bootstrap: int
) -> int:
    """Fit and score the baselines when this scoring has none with ``bootstrap`` resamples;
    how many it scored. Their scores' resample values are kept as a model's are
    (:func:`~search.evaluation.scoring.baseline_replicates`), so a model and a baseline compare
    resample by resample."""
    from search.evaluation.baselines import BASELINE_SPACE, BASELINES

    key = abnormal_key(abnormal)
    done = {
        s.model_name
        for s in scorings(engine, SCORER_VERSION, key)
        if s.status == SCORED and (s.bootstrap or 0) >= bootstrap
    }
    if all(b.name in done for b in BASELINES):
        return 0
    from data_prep.prepared import load_prepared, write_npz
    from search.evaluation.baselines import fit_baselines
    from search.evaluation.names import SPLITS
    from search.evaluation.scoring import REPLICATED_SPLITS, baseline_replicates
    from search.evaluation.units import SplitUnits
    from studies.diagnostics import save_baseline

    data = load_prepared(prepared)
    units = [SplitUnits.of(data, split, abnormal, bootstrap) for split in SPLITS]
    for fitted in fit_baselines(data, abnormal):
        replicates: dict = {}
        scores = [
            score
            for u in units
            for score in u.scores(
                BASELINE_SPACE,
                fitted.window_scores[u.split][None],
                replicates=replicates if u.split in REPLICATED_SPLITS else None,
            )
        ]
        if replicates:
            path = baseline_replicates(location.directory, fitted.name, abnormal)
            path.parent.mkdir(exist_ok=True)
            write_npz(path, replicates)
        save_baseline(
            engine,
            name=fitted.name,
            scorer_version=SCORER_VERSION,
            abnormal=key,
            kind=fitted.kind,
            settings=fitted.settings,
            tried=fitted.tried,
        )
        save_scoring(
            engine,
            model_name=fitted.name,
            scorer_version=SCORER_VERSION,
            abnormal=key,
            status=SCORED,
            reason=None,
            repeats=1,
            bootstrap=bootstrap,
            seconds=fitted.seconds,
            thresholds={},
            scores=scores,
        )
    return len(BASELINES)
