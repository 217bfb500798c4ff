"""Queries on what a scoring adds besides the ranking scores: each signal's score, the latent
dimensions' KL, every threshold a model has had, and the baselines' chosen settings.

Signal scores and latent checks belong to one scoring and are replaced with it, in its
transaction (:func:`studies.results.save_scoring` writes :func:`scoring_rows`); thresholds are
a history: each scoring adds its rows and none is ever replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from studies.schema import BaselineRow, LatentCheckRow, SignalScoreRow, ThresholdRow

# Tables whose rows a new scoring of the same (model, version, abnormal) replaces
SCORING_TABLES = (SignalScoreRow, LatentCheckRow)


@dataclass(frozen=True)
class SignalScore:
    """One signal's score alone (its reconstruction error) on one split."""

    split: str
    signal: str
    metric: str
    unit: str
    value: float
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class LatentCheck:
    """The latent dimensions' mean KL over validation windows, and how many are active."""

    active_dims: int
    kl_per_dim: list[float]

    @property
    def collapsed(self) -> bool:
        return self.active_dims == 0


@dataclass(frozen=True)
class Threshold:
    """One threshold of one score space: its tier (max-f1, watch, act), the percentile of
    healthy validation scores it is (None for max-F1), and what it flags per split."""

    space: str
    tier: str
    percentile: float | None
    value: float
    outcomes: dict[str, dict[str, Any]]

    def describe(self) -> str:
        """How it was set, in words (predict's header, ``show``)."""
        if self.percentile is None:
            return f"{self.tier}: max F1 on validation"
        return f"{self.tier}: {self.percentile:g}th percentile of healthy validation scores"


def _finite(value: float | None) -> float | None:
    return None if value is None or value != value else float(value)  # NaN is stored as NULL


def scoring_rows(
    key: dict[str, Any],
    signals: Sequence[SignalScore],
    latent: LatentCheck | None,
    thresholds: Sequence[Threshold],
) -> list[Any]:
    """The rows a scoring adds beside its scores; ``key`` is its (model, version, abnormal)."""
    rows: list[Any] = [
        SignalScoreRow(
            **key,
            split=s.split,
            signal=s.signal,
            metric=s.metric,
            unit=s.unit,
            value=_finite(s.value),
            low=_finite(s.low),
            high=_finite(s.high),
        )
        for s in signals
    ]
    if latent is not None:
        rows.append(
            LatentCheckRow(**key, active_dims=latent.active_dims, kl_per_dim=latent.kl_per_dim)
        )
    now = datetime.now(UTC)
    rows += [
        ThresholdRow(
            **key,
            space=t.space,
            tier=t.tier,
            percentile=t.percentile,
            value=_finite(t.value),
            outcome=t.outcomes,
            set_at=now,
        )
        for t in thresholds
    ]
    return rows


def _query(table, scorer_version: int, abnormal: str):
    return select(table).where(table.scorer_version == scorer_version, table.abnormal == abnormal)


def signal_scores_by_model(
    engine, scorer_version: int, abnormal: str
) -> dict[str, list[SignalScore]]:
    found: dict[str, list[SignalScore]] = {}
    with Session(engine) as session:
        for r in session.scalars(_query(SignalScoreRow, scorer_version, abnormal)):
            score = SignalScore(r.split, r.signal, r.metric, r.unit, r.value, r.low, r.high)
            found.setdefault(r.model_name, []).append(score)
    return found


def latent_checks(engine, scorer_version: int, abnormal: str) -> dict[str, LatentCheck]:
    with Session(engine) as session:
        return {
            r.model_name: LatentCheck(r.active_dims, list(r.kl_per_dim))
            for r in session.scalars(_query(LatentCheckRow, scorer_version, abnormal))
        }


def threshold_history(engine, model_name: str) -> list[ThresholdRow]:
    """Every threshold the model has had, oldest first."""
    query = (
        select(ThresholdRow)
        .where(ThresholdRow.model_name == model_name)
        .order_by(ThresholdRow.set_at, ThresholdRow.id)
    )
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(query))


def latest_tiers(engine, scorer_version: int, abnormal: str) -> dict[str, dict[str, float]]:
    """Each model's latest percentile tiers of this scoring, {model: {tier: percentile}}."""
    query = _query(ThresholdRow, scorer_version, abnormal).order_by(ThresholdRow.id)
    found: dict[str, dict[str, float]] = {}
    with Session(engine) as session:
        for r in session.scalars(query.where(ThresholdRow.percentile.is_not(None))):
            found.setdefault(r.model_name, {})[r.tier] = r.percentile
    return found


def save_baseline(
    engine,
    *,
    name: str,
    scorer_version: int,
    abnormal: str,
    kind: str,
    settings: dict[str, Any],
    tried: list[dict[str, Any]],
) -> None:
    row = BaselineRow(
        name=name,
        scorer_version=scorer_version,
        abnormal=abnormal,
        kind=kind,
        settings=settings,
        tried=tried,
        fitted_at=datetime.now(UTC),
    )
    with Session(engine) as session, session.begin():
        session.merge(row)


def baselines(engine, scorer_version: int, abnormal: str) -> list[BaselineRow]:
    with Session(engine, expire_on_commit=False) as session:
        query = _query(BaselineRow, scorer_version, abnormal).order_by(BaselineRow.name)
        return list(session.scalars(query))
