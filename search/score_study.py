"""Score a study's saved models into its database, and rank them.

``score_study`` scores every recorded model that has no scoring of this scorer version and
these abnormal classes (so re-running scores only what is new, and a new scorer version
rescores everything); it can run while training still runs, or on another machine that sees
the study. ``best`` ranks by a validation score (never by test) and shows test beside it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from search.defaults import DEFAULT_ABNORMAL, DEFAULT_REPEATS
from search.launch import prepared_file
from search.scoring import SCORER_VERSION, ScoringOutcome
from studies.results import (
    Ranked,
    abnormal_key,
    models,
    models_to_score,
    ranking,
    save_scoring,
)
from studies.storage import StudyError, StudyLocation, locate, open_storage

RANK_SPACES = ("latent", "input")  # input: the mean over sampled reconstructions, as the paper
RANK_METRICS = ("ap", "paper", "roc")


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


def check_abnormal(abnormal: Sequence[int]) -> tuple[int, ...]:
    classes = tuple(sorted(set(abnormal)))
    if not classes or any(c not in (0, 1, 2) for c in classes):
        raise StudyError(f"--abnormal takes classes among 0, 1, 2 (got {list(abnormal)})")
    return classes


def score_study(
    study: str | Path,
    storage: str | None = None,
    *,
    repeats: int = DEFAULT_REPEATS,
    workers: int = 1,
    abnormal: Sequence[int] = DEFAULT_ABNORMAL,
) -> ScoreReport:
    """Score what has no current score, with ``workers`` processes; failures are recorded."""
    if repeats < 1:
        raise StudyError(f"--repeats must be >= 1, got {repeats}")
    if workers < 1:
        raise StudyError(f"--workers must be >= 1, got {workers}")
    classes = check_abnormal(abnormal)
    location = locate(study, storage)
    prepared = prepared_file(location)
    engine = open_storage(location, create=False).engine
    waiting = models_to_score(engine, SCORER_VERSION, abnormal_key(classes))
    todo = [(m.name, m.path) for m in waiting]
    current = len(models(engine)) - len(todo)
    if not todo:
        return ScoreReport(0, (), current)
    from joblib import Parallel, delayed

    workers = min(workers, len(todo))
    threads = max(1, (os.cpu_count() or 1) // workers)
    shares = [todo[i::workers] for i in range(workers)]
    outcomes = Parallel(n_jobs=workers, backend="loky")(
        delayed(_score_share)(location, prepared, share, classes, repeats, threads)
        for share in shares
    )
    flat = [o for share in outcomes for o in share]
    failed = tuple((o.model_name, o.reason or "") for o in flat if o.result is None)
    return ScoreReport(len(flat) - len(failed), failed, current)


def _score_share(
    location: StudyLocation,
    prepared: Path,
    share: list[tuple[str, str]],
    abnormal: tuple[int, ...],
    repeats: int,
    threads: int,
) -> list[ScoringOutcome]:
    """One worker: TensorFlow once, the data once, then each (name, path) in turn, saved as it
    ends. joblib runs a single share in the calling process, where TensorFlow may have started
    already (a notebook): its thread counts are kept then."""
    from data_prep.prepared import load_prepared
    from search.scoring import score_saved_model
    from vae.training import limit_threads

    limit_threads(threads)
    data = load_prepared(prepared)
    engine = open_storage(location, create=False).engine
    outcomes = []
    for name, path in share:
        outcome = score_saved_model(model_dir(location, path), data, abnormal, repeats)
        save_scoring(
            engine,
            model_name=name,
            scorer_version=SCORER_VERSION,
            abnormal=abnormal_key(abnormal),
            status=outcome.status,
            reason=outcome.reason,
            repeats=repeats,
            seconds=outcome.seconds,
            thresholds=outcome.result.thresholds if outcome.result else {},
            scores=outcome.result.scores if outcome.result else [],
        )
        outcomes.append(outcome)
    return outcomes


def model_dir(location: StudyLocation, path: str) -> Path:
    """A recorded model path: relative to the study directory (so a copied study works)."""
    return Path(path) if Path(path).is_absolute() else location.directory / path


def best(
    study: str | Path,
    storage: str | None = None,
    *,
    n: int | None = 10,
    space: str = "latent",
    metric: str = "ap",
    abnormal: Sequence[int] = DEFAULT_ABNORMAL,
) -> list[Ranked]:
    """The ``n`` best models by validation ``metric`` in ``space``, with test beside it; a
    model whose directory is gone is left out (``missing_models`` names them)."""
    if space not in RANK_SPACES:
        raise StudyError(f"--space must be one of {', '.join(RANK_SPACES)}, got {space!r}")
    if metric not in RANK_METRICS:
        raise StudyError(f"--metric must be one of {', '.join(RANK_METRICS)}, got {metric!r}")
    if n is not None and n < 1:
        raise StudyError(f"-n must be >= 1, got {n}")
    location = locate(study, storage)
    engine = open_storage(location, create=False).engine
    ranked = ranking(
        engine,
        scorer_version=SCORER_VERSION,
        abnormal=abnormal_key(check_abnormal(abnormal)),
        space=space,
        metric=metric,
    )
    present = [r for r in ranked if model_dir(location, r.path).is_dir()]
    return [replace(r, rank=i) for i, r in enumerate(present[:n], start=1)]


def missing_models(study: str | Path, storage: str | None = None) -> list[tuple[str, Path]]:
    """(name, directory) of each recorded model whose directory is gone: never ranked."""
    location = locate(study, storage)
    engine = open_storage(location, create=False).engine
    found = [(m.name, model_dir(location, m.path)) for m in models(engine)]
    return [(name, path) for name, path in found if not path.is_dir()]
