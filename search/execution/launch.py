"""Launch (or extend) a study: plan every trial up front and enqueue it in the ledger."""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from data_prep import prepare_cached
from data_prep.errors import check_integer
from data_prep.files import write_text_atomically
from search.execution.ledger import (
    RACING,
    configurations,
    enqueue_plan,
    planned_before_tcn_choice,
    record_launch,
    record_seeds,
)
from search.space.distributions import space_distributions
from search.space.plan import plan_trials
from search.space.spec import StudySpec, read_spec, with_split
from studies.binding import BINDING_FILE, ID_ATTR, Binding, new_id, write_binding
from studies.storage import (
    DB_FILE,
    StudyLocation,
    journal_files,
    locate,
    open_study,
    prepare_directory,
    sqlite_url,
)
from vae.hyperparams import SAVED_BEFORE_TCN_CHOICE


@dataclass(frozen=True)
class LaunchResult:
    study_dir: Path
    planned: int  # configurations
    added: int  # trainings
    skipped: int
    duplicates: int
    prepared: Path
    seeds: int = 1  # trainings per configuration
    racing: bool = False

    def lines(self) -> list[str]:
        seeds = "" if self.seeds == 1 else f" x {self.seeds} seeds"
        raced = " (further seeds raced)" if self.racing and self.seeds > 1 else ""
        return [
            f"study {self.study_dir}: {self.planned} trials planned{seeds}{raced}, "
            f"{self.added} trainings added",
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
    seeds: int | None = None,
    name: str | None = None,
    split: str | None = None,
) -> LaunchResult:
    """Plan ``trials`` configurations of the spec, ``seeds`` trainings each (the spec's by
    default), and enqueue the trainings not in the study yet. A study's seeds only grow: a
    launch with more trains only the new seeds, of every configuration it holds.

    ``data`` and ``labels`` override the spec's files; without either, ``mill.mat`` comes from
    ``data_dir`` (else ``$VAE_SEARCH_DATA``, else the user's data directory) and the labels
    from there or the package. The data are prepared into ``STUDY/cache/`` first, so that every
    worker, on this machine or on another one the directory is copied to, trains on the same
    bytes. ``split`` (``paper`` or ``cut``) overrides the spec's ``[data] split``; the study
    records the spec with it.

    The study's Optuna name is ``name``, else the directory's in a storage of many studies
    (``vae-search`` in the directory's own study.db); the directory records it, its storage
    and the study's id (:mod:`studies.binding`), so later commands need no ``--storage``.
    """
    spec = read_spec(spec_path)
    if split is not None:
        spec = with_split(spec, split)
    seed = spec.seed if seed is None else seed
    seeds = spec.seeds if seeds is None else seeds
    check_integer("seeds", seeds, 1)
    plan = plan_trials(spec, trials, seed)
    config = spec.prepare_config(data, labels, data_dir)
    location = locate(study, storage, name)
    db = location.directory / DB_FILE
    made = [
        location.directory,
        location.models_dir,
        location.logs_dir,
        location.cache_dir,
        *(db.with_name(db.name + suffix) for suffix in ("", "-wal", "-shm")),
        *journal_files(location),
        location.directory / BINDING_FILE,
    ]
    made = [path for path in made if not path.exists()]
    opened = None
    try:
        prepare_directory(location)
        opened = open_study(location, create=True)  # refuses a foreign database
        optuna_study = opened.study
        prepared, _ = prepare_cached(config, location.cache_dir)
        if location.binding is None:
            _bind(location, optuna_study)
    except BaseException:
        if opened is not None and opened.created:  # not left in a storage other studies share
            with contextlib.suppress(Exception):
                opened.storage.delete_study(opened.study_id)
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
    seeds = record_seeds(optuna_study, seeds)
    held = len(configurations(optuna_study.get_trials(deepcopy=False)))
    planned_spec = _keep_saved_family(spec) if planned_before_tcn_choice(optuna_study) else spec
    if held > len(plan.trials) or planned_spec is not spec:
        plan = plan_trials(planned_spec, max(held, len(plan.trials)), seed)
    racing = bool(optuna_study.user_attrs.get(RACING, False))
    added = enqueue_plan(optuna_study, plan, seeds, racing)
    return LaunchResult(
        location.directory,
        len(plan.trials),
        added,
        plan.skipped,
        plan.duplicates,
        prepared,
        seeds,
        racing,
    )


def _bind(location: StudyLocation, optuna_study) -> None:
    """Give the study an id and record it, its name and its storage in the directory."""
    study_id = optuna_study.user_attrs.get(ID_ATTR) or new_id()
    optuna_study.set_user_attr(ID_ATTR, study_id)
    own = location.url == sqlite_url(location.directory / DB_FILE)
    write_binding(
        location.directory, Binding(location.name, study_id, None if own else location.url)
    )


def _keep_saved_family(spec: StudySpec) -> StudySpec:
    """The spec with what such a study was trained as fixed, where the spec does not say: an
    extended plan goes on with the models its first trials are."""
    kept = {k: v for k, v in SAVED_BEFORE_TCN_CHOICE.items() if k not in spec.space}
    return replace(spec, fixed={**kept, **spec.fixed})
