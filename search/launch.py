"""Launch (or extend) a study: plan every trial up front and enqueue it in the ledger."""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from data_prep import prepare_cached
from data_prep.files import write_text_atomically
from search.distributions import space_distributions
from search.plan import plan_trials
from search.spec import StudySpec, read_spec
from studies.ledger import (
    CONFIG,
    PARAM_DISTRIBUTIONS,
    RETRIES,
    Ledger,
    claim_spec,
    enqueue,
    enqueued_indices,
)
from studies.storage import (
    DB_FILE,
    StudyError,
    StudyLocation,
    load_or_create_study,
    locate,
    open_storage,
    prepare_directory,
)
from vae.hyperparams import SAVED_BEFORE_TCN_CHOICE

PREPARED_ATTR = "prepared_file"
CACHE_DIR = "cache"


@dataclass(frozen=True)
class LaunchResult:
    study_dir: Path
    planned: int
    added: int
    skipped: int
    duplicates: int
    prepared: Path

    def lines(self) -> list[str]:
        return [
            f"study {self.study_dir}: {self.planned} trials planned, {self.added} added",
            f"data: {self.prepared} (prepared once; it travels with the study directory)",
            f"plan: {self.duplicates} duplicate configurations replaced, "
            f"{self.skipped} the window cannot take skipped",
        ]


def launch(
    study: str | Path,
    spec_path: str | Path,
    trials: int | None = None,
    seed: int | None = None,
    storage: str | None = None,
    data: str | Path | None = None,
    labels: str | Path | None = None,
) -> LaunchResult:
    """Plan ``trials`` configurations of the spec and enqueue those not in the study yet.

    The data are prepared into ``STUDY/cache/`` first, so that every worker, on this machine
    or on another one the directory is copied to, trains on the same bytes.
    """
    spec = read_spec(spec_path)
    seed = spec.seed if seed is None else seed
    plan = plan_trials(spec, trials, seed)
    config = spec.prepare_config(data, labels)
    location = locate(study, storage)
    db = location.directory / DB_FILE
    made = [
        location.directory,
        location.models_dir,
        location.logs_dir,
        location.directory / CACHE_DIR,
        *(db.with_name(db.name + suffix) for suffix in ("", "-wal", "-shm")),
    ]
    made = [path for path in made if not path.exists()]
    try:
        prepare_directory(location)
        optuna_storage = open_storage(location, create=True)  # refuses a foreign database
        prepared, _ = prepare_cached(config, location.directory / CACHE_DIR)
        optuna_study = load_or_create_study(optuna_storage, create=True)
    except BaseException:
        for path in made:  # a launch that fails at the door leaves nothing it made behind
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()
        raise
    if claim_spec(optuna_study, spec.source, seed, spec.path.name, str(location.directory)):
        write_text_atomically(location.spec_path, spec.source)
        optuna_study.set_user_attr(PREPARED_ATTR, prepared.name)
        optuna_study.set_user_attr(PARAM_DISTRIBUTIONS, space_distributions(spec))
        optuna_study.set_user_attr(RETRIES, spec.retries)
    if _planned_before_tcn_choice(optuna_study):
        plan = plan_trials(_keep_saved_family(spec), trials, seed)
    present = enqueued_indices(optuna_study)
    added = 0
    for trial in plan.trials:
        if trial.index not in present:
            enqueue(optuna_study, trial.index, trial.hyperparameters.to_dict())
            added += 1
    return LaunchResult(
        location.directory, len(plan.trials), added, plan.skipped, plan.duplicates, prepared
    )


def _planned_before_tcn_choice(optuna_study) -> bool:
    """Whether the study was planned before ``tcn`` and ``batchnorm_momentum`` existed."""
    trials = optuna_study.get_trials(deepcopy=False)
    return any(CONFIG in t.user_attrs and "tcn" not in t.user_attrs[CONFIG] for t in trials)


def _keep_saved_family(spec: StudySpec) -> StudySpec:
    """The spec with what such a study was trained as fixed, where the spec does not say: an
    extended plan goes on with the models its first trials are."""
    kept = {k: v for k, v in SAVED_BEFORE_TCN_CHOICE.items() if k not in spec.space}
    return replace(spec, fixed={**kept, **spec.fixed})


def prepared_file(location: StudyLocation) -> Path:
    """The prepared data the study's models train and are scored on."""
    ledger = Ledger(open_storage(location, create=False))
    prepared = location.directory / CACHE_DIR / str(ledger.study.user_attrs.get(PREPARED_ATTR))
    if not prepared.is_file():
        raise StudyError(f"{prepared}: the study's prepared data are missing (launch again)")
    return prepared
