"""Queries on the project's tables: record models, find what needs scoring, store and rank scores.

Every write is one transaction: a scoring's old rows are replaced together with its new ones,
so a reader never sees half a scoring, and a crash leaves the previous one whole.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, select
from sqlalchemy.orm import Session, aliased

from studies.diagnostics import SCORING_TABLES
from studies.schema import ModelRow, ScoreRow, ScoringRow

SCORED, SCORE_FAILED = "scored", "failed"


def abnormal_key(classes: Iterable[int]) -> str:
    """The classes counted as abnormal, as stored: sorted, comma-separated ("2", "1,2")."""
    return ",".join(str(c) for c in sorted(set(classes)))


def record_model(
    engine,
    *,
    name: str,
    path: str,
    config: dict[str, Any],
    trial_number: int | None = None,
    plan_index: int | None = None,
    loss: float | None = None,
    val_loss: float | None = None,
    epochs_trained: int | None = None,
) -> None:
    """Insert or update one saved model."""
    row = ModelRow(
        name=name,
        path=path,
        config=config,
        trial_number=trial_number,
        plan_index=plan_index,
        loss=loss,
        val_loss=val_loss,
        epochs_trained=epochs_trained,
        recorded_at=datetime.now(UTC),
    )
    with Session(engine) as session, session.begin():
        session.merge(row)


def forget_model(engine, name: str) -> None:
    """Remove a model's row (one recorded for a trial that another run finished first)."""
    with Session(engine) as session, session.begin():
        session.execute(delete(ModelRow).filter_by(name=name))


def models(engine) -> list[ModelRow]:
    """Every recorded model, oldest first."""
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(select(ModelRow).order_by(ModelRow.recorded_at)))


def _of_scoring(query, scorer_version: int, abnormal: str, table=ScoringRow):
    return query.where(table.scorer_version == scorer_version, table.abnormal == abnormal)


def models_to_score(
    engine, scorer_version: int, abnormal: str, bootstrap: int = 0
) -> list[ModelRow]:
    """Models with no scoring (scored or failed) of this scorer version and abnormal classes
    that drew at least ``bootstrap`` resamples."""
    done = _of_scoring(select(ScoringRow.model_name), scorer_version, abnormal).where(
        ScoringRow.bootstrap >= bootstrap
    )
    query = select(ModelRow).where(ModelRow.name.not_in(done)).order_by(ModelRow.recorded_at)
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(query))


WINDOW, CUT = "window", "cut"  # units scored: each window, or each cut (its windows' mean)


@dataclass(frozen=True)
class Score:
    split: str
    space: str
    metric: str
    value: float
    std: float | None = None  # over the sampled draws
    unit: str = WINDOW
    low: float | None = None  # the bootstrap interval over cuts
    high: float | None = None

    def by_suffix(self) -> dict[str, float]:
        """The value and what is known beside it, by the suffix a column name gets."""
        parts = {"": self.value, "_std": self.std, "_low": self.low, "_high": self.high}
        return {suffix: v for suffix, v in parts.items() if v is not None}


def save_scoring(
    engine,
    *,
    model_name: str,
    scorer_version: int,
    abnormal: str,
    status: str,
    reason: str | None,
    repeats: int,
    bootstrap: int,
    seconds: float,
    thresholds: dict[str, float],
    scores: Sequence[Score],
    extra_rows: Callable[[dict[str, Any]], Sequence[Any]] = lambda key: (),
) -> None:
    """Replace the scoring of (model, version, abnormal) with this one, in one transaction;
    ``extra_rows(key)`` gives the rows it adds beside its scores (``studies.diagnostics``)."""
    key = {"model_name": model_name, "scorer_version": scorer_version, "abnormal": abnormal}
    with Session(engine) as session, session.begin():
        for table in (*SCORING_TABLES, ScoreRow, ScoringRow):  # they reference the scoring
            session.execute(delete(table).filter_by(**key))
        session.add(
            ScoringRow(
                **key,
                status=status,
                reason=reason,
                repeats=repeats,
                bootstrap=bootstrap,
                seconds=seconds,
                thresholds=thresholds,
                scored_at=datetime.now(UTC),
            )
        )
        session.flush()
        session.add_all(
            ScoreRow(
                **key,
                split=s.split,
                space=s.space,
                metric=s.metric,
                unit=s.unit,
                value=_finite(s.value),
                std=_finite(s.std),
                low=_finite(s.low),
                high=_finite(s.high),
            )
            for s in scores
        )
        session.add_all(extra_rows(key))


def _finite(value: float | None) -> float | None:
    """NaN (an undefined metric) is stored as NULL, which every database keeps alike."""
    return None if value is None or math.isnan(value) else value


def scorings(engine, scorer_version: int, abnormal: str) -> list[ScoringRow]:
    query = _of_scoring(select(ScoringRow), scorer_version, abnormal)
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(query))


def scores_by_model(engine, scorer_version: int, abnormal: str) -> dict[str, list[Score]]:
    """Every stored score of this scorer version and abnormal classes, by model name."""
    query = _of_scoring(select(ScoreRow), scorer_version, abnormal, ScoreRow)
    found: dict[str, list[Score]] = {}
    with Session(engine) as session:
        for row in session.scalars(query):
            score = Score(
                row.split, row.space, row.metric, row.value, row.std, row.unit, row.low, row.high
            )
            found.setdefault(row.model_name, []).append(score)
    return found


@dataclass(frozen=True)
class Ranked:
    """One model in a ranking: its validation score (the key) and its test score beside it,
    each with its spread over draws and its bootstrap interval."""

    rank: int
    name: str
    path: str
    config: dict[str, Any]
    val: float
    val_std: float | None
    val_low: float | None
    val_high: float | None
    test: float | None
    test_std: float | None
    test_low: float | None
    test_high: float | None
    thresholds: dict[str, float]
    tied: bool = False  # its validation interval overlaps the first model's
    config_mean: float | None = None  # its configuration's mean validation score over seeds
    config_seeds: int = 1  # the seeds of its configuration that were scored
    active_dims: int | None = None  # active latent dimensions; 0: collapsed; None: not checked


def ranking(
    engine,
    *,
    scorer_version: int,
    abnormal: str,
    space: str,
    metric: str,
    unit: str = WINDOW,
    n: int | None = None,
) -> list[Ranked]:
    """Models ranked by validation score, best first (ties by name); never selected on test."""
    val, test = aliased(ScoreRow), aliased(ScoreRow)
    same = {
        "scorer_version": scorer_version,
        "abnormal": abnormal,
        "space": space,
        "metric": metric,
        "unit": unit,
    }
    query = (
        select(ModelRow, val, test, ScoringRow.thresholds)
        .join(val, and_(val.model_name == ModelRow.name, val.split == "val"))
        .join(
            ScoringRow,
            and_(
                ScoringRow.model_name == ModelRow.name,
                ScoringRow.scorer_version == scorer_version,
                ScoringRow.abnormal == abnormal,
            ),
        )
        .outerjoin(
            test,
            and_(
                test.model_name == ModelRow.name,
                test.split == "test",
                *(getattr(test, k) == v for k, v in same.items()),
            ),
        )
        .where(*(getattr(val, k) == v for k, v in same.items()))
        .where(val.value.is_not(None))
        .order_by(val.value.desc(), ModelRow.name)
        .limit(n)
    )
    with Session(engine) as session:
        rows = session.execute(query).all()
    return [
        Ranked(
            rank=i,
            name=model.name,
            path=model.path,
            config=dict(model.config),
            val=v.value,
            val_std=v.std,
            val_low=v.low,
            val_high=v.high,
            test=None if t is None else t.value,
            test_std=None if t is None else t.std,
            test_low=None if t is None else t.low,
            test_high=None if t is None else t.high,
            thresholds=dict(thresholds or {}),
        )
        for i, (model, v, t, thresholds) in enumerate(rows, start=1)
    ]


def mark_ties(ranked: Sequence[Ranked]) -> list[Ranked]:
    """The ranking with ``tied`` set on each model after the first whose validation interval
    overlaps the first one's: the data cannot tell them apart from it."""
    if not ranked or ranked[0].val_low is None:
        return list(ranked)
    first = ranked[0]
    return [first] + [
        replace(r, tied=r.val_high is not None and r.val_high >= first.val_low) for r in ranked[1:]
    ]
