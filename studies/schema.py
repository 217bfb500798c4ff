"""The project's own tables, beside Optuna's in the same database (SQLite or PostgreSQL).

Optuna's tables are the trial ledger; these hold what the ledger has no place for:

- ``vae_models``: one row per saved model (name, path, configuration, losses), written when a
  trial completes, in the same database, before the trial is marked complete;
- ``vae_scorings``: one row per (model, scorer version, abnormal classes): scored or failed,
  with the failure's reason, the repeats, the bootstrap resamples, the time it took and the
  validation thresholds;
- ``vae_metric_scores``: one value per (scoring, split, space, metric, unit), with the
  standard deviation over repeated draws where the score is random and the bootstrap interval
  over cuts. ``vae_scores`` (the same without unit and interval) holds scorer version 1's
  values in studies scored before; it is left as it was;
- ``vae_signal_scores``: each signal's own score (its reconstruction error alone), one value
  per (scoring, split, signal, metric, unit), with its interval, replaced with its scoring;
- ``vae_latent_checks``: per scoring, the KL of each latent dimension over the validation
  windows and how many are active (posterior collapse shows as none);
- ``vae_baselines``: per (baseline, scorer version, abnormal classes) the settings chosen on
  validation and what each tried setting scored there (its scores are in the tables above);
- ``vae_thresholds``: every threshold a model has had (max-F1 and the healthy-percentile
  tiers), never replaced: each scoring adds rows, with their date and scorer version and what
  they flag on validation and test.

The names carry a ``vae_`` prefix so they never meet Optuna's (``trials``, ``studies``...).
A column added to a table later is nullable and is added to an older database's table when it
is opened (:func:`create_tables`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Integer,
    String,
    Text,
    inspect,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ModelRow(Base):
    __tablename__ = "vae_models"

    name: Mapped[str] = mapped_column(String(512), primary_key=True)
    path: Mapped[str] = mapped_column(Text)  # relative to the study directory, or absolute
    trial_number: Mapped[int | None] = mapped_column(Integer)
    plan_index: Mapped[int | None] = mapped_column(Integer)
    config: Mapped[dict] = mapped_column(JSON)
    loss: Mapped[float | None] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float)
    epochs_trained: Mapped[int | None] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(DateTime)


class ScoringRow(Base):
    __tablename__ = "vae_scorings"

    model_name: Mapped[str] = mapped_column(String(512), primary_key=True)
    scorer_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    abnormal: Mapped[str] = mapped_column(String(32), primary_key=True)  # e.g. "2" or "1,2"
    status: Mapped[str] = mapped_column(String(16))  # "scored" or "failed"
    reason: Mapped[str | None] = mapped_column(Text)
    repeats: Mapped[int] = mapped_column(Integer)
    bootstrap: Mapped[int | None] = mapped_column(Integer)  # resamples; None: scored before
    seconds: Mapped[float] = mapped_column(Float)
    thresholds: Mapped[dict] = mapped_column(JSON)  # space -> max-F1 threshold on validation
    scored_at: Mapped[datetime] = mapped_column(DateTime)


class ScoreRow(Base):
    __tablename__ = "vae_metric_scores"
    __table_args__ = (
        ForeignKeyConstraint(
            ["model_name", "scorer_version", "abnormal"],
            [ScoringRow.model_name, ScoringRow.scorer_version, ScoringRow.abnormal],
            ondelete="CASCADE",
        ),
    )

    model_name: Mapped[str] = mapped_column(String(512), primary_key=True)
    scorer_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    abnormal: Mapped[str] = mapped_column(String(32), primary_key=True)
    split: Mapped[str] = mapped_column(String(8), primary_key=True)  # train, val, test
    space: Mapped[str] = mapped_column(String(16), primary_key=True)  # input, input_mean, latent
    metric: Mapped[str] = mapped_column(String(8), primary_key=True)  # ap, paper, roc
    unit: Mapped[str] = mapped_column(String(8), primary_key=True)  # window or cut
    value: Mapped[float | None] = mapped_column(Float)  # None: undefined (e.g. one class only)
    std: Mapped[float | None] = mapped_column(Float)  # over repeated draws; None if deterministic
    low: Mapped[float | None] = mapped_column(Float)  # the bootstrap interval; None: none drawn
    high: Mapped[float | None] = mapped_column(Float)


def _scoring_key() -> tuple[ForeignKeyConstraint]:
    return (
        ForeignKeyConstraint(
            ["model_name", "scorer_version", "abnormal"],
            [ScoringRow.model_name, ScoringRow.scorer_version, ScoringRow.abnormal],
            ondelete="CASCADE",
        ),
    )


class SignalScoreRow(Base):
    __tablename__ = "vae_signal_scores"
    __table_args__ = _scoring_key()

    model_name: Mapped[str] = mapped_column(String(512), primary_key=True)
    scorer_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    abnormal: Mapped[str] = mapped_column(String(32), primary_key=True)
    split: Mapped[str] = mapped_column(String(8), primary_key=True)
    signal: Mapped[str] = mapped_column(String(64), primary_key=True)  # e.g. vib_table
    metric: Mapped[str] = mapped_column(String(8), primary_key=True)
    unit: Mapped[str] = mapped_column(String(8), primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)
    low: Mapped[float | None] = mapped_column(Float)
    high: Mapped[float | None] = mapped_column(Float)


class LatentCheckRow(Base):
    __tablename__ = "vae_latent_checks"
    __table_args__ = _scoring_key()

    model_name: Mapped[str] = mapped_column(String(512), primary_key=True)
    scorer_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    abnormal: Mapped[str] = mapped_column(String(32), primary_key=True)
    active_dims: Mapped[int] = mapped_column(Integer)  # mean KL over validation > the floor
    kl_per_dim: Mapped[list] = mapped_column(JSON)  # nats, mean over the validation windows


class BaselineRow(Base):
    __tablename__ = "vae_baselines"

    name: Mapped[str] = mapped_column(String(512), primary_key=True)  # e.g. baseline-pca
    scorer_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    abnormal: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # pca, isolation_forest, energy
    settings: Mapped[dict] = mapped_column(JSON)  # chosen on validation
    tried: Mapped[list] = mapped_column(JSON)  # [{settings, val score}], what was compared
    fitted_at: Mapped[datetime] = mapped_column(DateTime)


class ThresholdRow(Base):
    __tablename__ = "vae_thresholds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(512), index=True)
    scorer_version: Mapped[int] = mapped_column(Integer)
    abnormal: Mapped[str] = mapped_column(String(32))
    space: Mapped[str] = mapped_column(String(16))  # latent or input_mean
    tier: Mapped[str] = mapped_column(String(16))  # max-f1, watch, act
    percentile: Mapped[float | None] = mapped_column(Float)  # of healthy validation scores
    value: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[dict] = mapped_column(JSON)  # split -> precision, recall, confusion...
    set_at: Mapped[datetime] = mapped_column(DateTime)


def create_tables(engine) -> None:
    """Create the tables that are missing, and the nullable columns an older database's
    tables lack (idempotent; Optuna's tables are left to Optuna)."""
    Base.metadata.create_all(engine, checkfirst=True)
    with engine.begin() as connection:  # one connection: SQLite's write lock is held once
        present = inspect(connection)
        for table in Base.metadata.sorted_tables:
            have = {column["name"] for column in present.get_columns(table.name)}
            for column in table.columns:
                if column.name not in have and column.nullable:
                    kind = column.type.compile(dialect=engine.dialect)
                    connection.execute(
                        text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}')
                    )
