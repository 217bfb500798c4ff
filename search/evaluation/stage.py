"""The scoring stage: score a study's saved models into its database.

``score`` scores every recorded model that has no scoring of this scorer version and these
abnormal classes (so re-running scores only what is new, and a new scorer version rescores
everything); it can run while training still runs, or on another machine that sees the study.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from data_prep.errors import check_integer
from search.evaluation.names import DEFAULT_ABNORMAL, DEFAULT_BOOTSTRAP, DEFAULT_REPEATS
from search.evaluation.ranking import check_abnormal
from search.evaluation.scores_study import sync_scores_study
from search.evaluation.scoring import SCORER_VERSION, ScoringOutcome
from studies.results import abnormal_key, models, models_to_score, save_scoring
from studies.storage import StudyLocation, check_writable, locate, open_storage, prepared_file


@dataclass(frozen=True)
class ScoreReport:
    scored: int
    failed: tuple[tuple[str, str], ...]  # (model name, reason)
    current: int  # models whose scoring was current already

    def lines(self) -> list[str]:
        lines = [
            f"scored {self.scored} model(s), {len(self.failed)} failed, "
            f"{self.current} already scored"
        ]
        lines += [f"  failed: {name}: {reason}" for name, reason in self.failed]
        return lines


def score(
    study: str | Path,
    storage: str | None = None,
    *,
    repeats: int = DEFAULT_REPEATS,
    workers: int = 1,
    abnormal: Sequence[int] = DEFAULT_ABNORMAL,
    bootstrap: int = DEFAULT_BOOTSTRAP,
) -> ScoreReport:
    """Score what has no current score, with ``workers`` processes; failures are recorded.

    A model scored by this scorer with fewer than ``bootstrap`` resamples is scored again,
    so a study scored without intervals gets them; 0 draws none.
    """
    check_integer("repeats", repeats, 1)
    check_integer("workers", workers, 1)
    check_integer("bootstrap", bootstrap, 0)
    classes = check_abnormal(abnormal)
    location = locate(study, storage)
    prepared = prepared_file(location)
    check_writable(location)  # before any model is loaded: scores and manifests are written
    optuna_storage = open_storage(location, create=False)
    engine = optuna_storage.engine
    waiting = models_to_score(engine, SCORER_VERSION, abnormal_key(classes), bootstrap)
    todo = [(m.name, m.path) for m in waiting]
    current = len(models(engine)) - len(todo)
    if not todo:
        sync_scores_study(optuna_storage, SCORER_VERSION, classes, changed=False)
        return ScoreReport(0, (), current)
    from joblib import Parallel, delayed

    workers = min(workers, len(todo))
    threads = max(1, (os.cpu_count() or 1) // workers)
    shares = [todo[i::workers] for i in range(workers)]
    outcomes = Parallel(n_jobs=workers, backend="loky")(
        delayed(_score_share)(location, prepared, share, classes, repeats, bootstrap, threads)
        for share in shares
    )
    flat = [o for share in outcomes for o in share]
    failed = tuple((o.model_name, o.reason or "") for o in flat if o.result is None)
    sync_scores_study(optuna_storage, SCORER_VERSION, classes)
    return ScoreReport(len(flat) - len(failed), failed, current)


def _score_share(
    location: StudyLocation,
    prepared: Path,
    share: list[tuple[str, str]],
    abnormal: tuple[int, ...],
    repeats: int,
    bootstrap: int,
    threads: int,
) -> list[ScoringOutcome]:
    """One worker: TensorFlow once, the data once, then each (name, path) in turn, saved as it
    ends. joblib runs a single share in the calling process, where TensorFlow may have started
    already (a notebook): its thread counts are kept then."""
    from data_prep.prepared import load_prepared
    from search.evaluation.scoring import score_saved_model
    from vae.training import limit_threads

    limit_threads(threads)
    data = load_prepared(prepared)
    engine = open_storage(location, create=False).engine
    outcomes = []
    for name, path in share:
        outcome = score_saved_model(
            location.model_path(path), data, abnormal, repeats, bootstrap=bootstrap
        )
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
            scores=outcome.result.scores if outcome.result else [],
        )
        outcomes.append(outcome)
    return outcomes
