"""Build an ensemble detector from a study's best models, chosen on validation only, and score it.

``of="configuration"`` takes the seeds of the best configuration (by its seeds' mean validation
score, :func:`~search.evaluation.configurations.best_configurations`), up to ``top`` of them,
best first; ``of="models"`` takes the ``top`` best models overall. The ensemble
(:mod:`vae.ensemble`) is saved in the study's models directory, recorded as a model whose
configuration lists its members, and scored by the scoring stage like any model: the same
metrics and intervals, by window and by cut. It then ranks in ``best`` as one entry, and
``predict`` takes its directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from data_prep.errors import ParameterError, check_choice, check_integer
from search.evaluation.configurations import best_configurations
from search.evaluation.names import (
    DEFAULT_ABNORMAL,
    DEFAULT_BOOTSTRAP,
    DEFAULT_METRIC,
    DEFAULT_REPEATS,
    DEFAULT_SPACE,
    DEFAULT_TIERS,
)
from search.evaluation.ranking import best
from search.evaluation.stage import ScoreReport, score
from studies.results import WINDOW, record_model
from studies.storage import MODELS_DIR, check_writable, locate, open_study
from vae.ensemble import ENSEMBLE, save_ensemble

CHOICES = ("configuration", "models")


@dataclass(frozen=True)
class EnsembleResult:
    name: str
    path: Path
    members: tuple[str, ...]
    scoring: ScoreReport

    def lines(self) -> list[str]:
        return [
            f"ensemble {self.name} of {len(self.members)} models:",
            *(f"  {member}" for member in self.members),
            *self.scoring.lines(),
        ]


def ensemble(
    study: str | Path,
    storage: str | None = None,
    *,
    top: int = 3,
    of: str = "configuration",
    space: str = DEFAULT_SPACE,
    metric: str = DEFAULT_METRIC,
    abnormal: Sequence[int] = DEFAULT_ABNORMAL,
    unit: str = WINDOW,
    repeats: int = DEFAULT_REPEATS,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    tiers: dict[str, float] = DEFAULT_TIERS,
) -> EnsembleResult:
    """Save the ensemble of the ``top`` models chosen on validation (``of`` the best
    configuration's seeds, or the best models overall), record it and score it."""
    check_integer("top", top, 2)
    check_choice("of", of, CHOICES)
    how = {"space": space, "metric": metric, "abnormal": abnormal, "unit": unit}
    location = locate(study, storage)
    check_writable(location)
    if of == "configuration":
        ranked = best_configurations(study, storage, n=None, **how)
        single = [c for c in ranked if ENSEMBLE not in c.config]
        chosen = list(single[0].models) if single else []
        label = f"seeds-of-t={_plan_index(chosen)}"
    else:
        chosen = [m for m in best(study, storage, n=None, **how) if ENSEMBLE not in m.config]
        label = f"top-{top}"
    chosen = chosen[:top]
    if len(chosen) < 2:
        where = " in its best configuration" if of == "configuration" else ""
        raise ParameterError(
            "top",
            f"needs two scored models or more to ensemble; {location.directory} has "
            f"{len(chosen)}{where}",
        )
    from data_prep.prepared import load_prepared

    opened = open_study(location)
    data = load_prepared(opened.prepared_file())
    X_val, _, _ = data.split("val")
    members = [m.name for m in chosen]
    saved = save_ensemble(location.models_dir, members, X_val, label)
    record_model(
        opened.engine,
        name=saved.name,
        path=f"{MODELS_DIR}/{saved.name}",
        config={**chosen[0].config, ENSEMBLE: members},
    )
    report = score(
        study, storage, repeats=repeats, abnormal=abnormal, bootstrap=bootstrap, tiers=tiers
    )
    return EnsembleResult(saved.name, saved.path, tuple(members), report)


def _plan_index(models) -> str:
    """The plan entry of a configuration's models, from their names (``t=7``)."""
    from vae.naming import parse_name

    indices = {parse_name(m.name).trial for m in models}
    return "-".join(str(i) for i in sorted(i for i in indices if i is not None)) or "none"
