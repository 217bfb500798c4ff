"""Launch (or extend) a study: plan every trial up front and enqueue it in the ledger."""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from data_prep import prepare_cached
from data_prep.files import write_text_atomically
from search.execution.ledger import enqueue_plan, planned_before_tcn_choice, record_launch
from search.space.distributions import space_distributions
from search.space.plan import plan_trials
from search.space.spec import StudySpec, read_spec
from studies.storage import (
    DB_FILE,
    journal_files,
    load_or_create_study,
    locate,
    open_storage,
    prepare_directory,
)
from vae.hyperparams import SAVED_BEFORE_TCN_CHOICE


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
    data_dir: str | Path | None = None,
) -> LaunchResult:
    """Plan ``trials`` configurations of the spec and enqueue those not in the study yet.

    ``data`` and ``labels`` override the spec's files; without either, ``mill.mat`` comes from
    ``data_dir`` (else ``$VAE_SEARCH_DATA``, else the user's data directory) and the labels
    from there or the package. The data are prepared into ``STUDY/cache/`` first, so that every
    worker, on this machine or on another one the directory is copied to, trains on the same
    bytes.
    """
    spec = read_spec(spec_path)
    seed = spec.seed if seed is None else seed
    plan = plan_trials(spec, trials, seed)
    config = spec.prepare_config(data, labels, data_dir)
    location = locate(study, storage)
    db = location.directory / DB_FILE
    made = [
        location.directory,
        location.models_dir,
        location.logs_dir,
        location.cache_dir,
        *(db.with_name(db.name + suffix) for suffix in ("", "-wal", "-shm")),
        *journal_files(location),
    ]
    made = [path for path in made if not path.exists()]
    try:
        prepare_directory(location)
        optuna_storage = open_storage(location, create=True)  # refuses a foreign database
        prepared, _ = prepare_cached(config, location.cache_dir)
        optuna_study = load_or_create_study(optuna_storage, create=True)
    except BaseException:
        for path in made:  # a launch that fails at the door leaves nothing it made behind
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()
        raise
    distributions = space_distributions(spec)
    where = str(location.directory)
    if record_launch(optuna_study, spec, seed, where, prepared.name, distributions):
        write_text_atomically(location.spec_path, spec.source)
    if planned_before_tcn_choice(optuna_study):
        plan = plan_trials(_keep_saved_family(spec), trials, seed)
    added = enqueue_plan(optuna_study, plan)
    return LaunchResult(
        location.directory, len(plan.trials), added, plan.skipped, plan.duplicates, prepared
    )


def _keep_saved_family(spec: StudySpec) -> StudySpec:
    """The spec with what such a study was trained as fixed, where the spec does not say: an
    extended plan goes on with the models its first trials are."""
    kept = {k: v for k, v in SAVED_BEFORE_TCN_CHOICE.items() if k not in spec.space}
    return replace(spec, fixed={**kept, **spec.fixed})
