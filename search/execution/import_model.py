"""Bring a model trained elsewhere into vae-search: the paper author's published best model, or
a model that ``vae-search train`` saved, into a study.

A Keras 2 model is built as vae-search builds ``tcn="hahn2021"`` models, gets the published weights
(``vae.keras2_import``) and is saved as any vae-search model directory, so ``load_model``,
``score``, ``best``, ``report`` and ``predict`` take it like the searched ones. Given a study, it
is recorded there too (after the model is saved: a failed save records nothing), once its
window and signals are known to fit the study's data.

A vae-search model directory (one with ``manifest.json``, as ``vae-search train`` saves it) is
recorded in the study as it is, copied into the study's models directory first unless it lies
there already; one trained on other prepared data than the study's is refused, since its
scores would not compare with the study's models'.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from data_prep.errors import DataFileError, ParameterError
from data_prep.files import writable_directory
from data_prep.prepared import PreparedData, load_prepared
from search.execution.quiet import tensorflow_startup_filtered
from studies.results import record_model
from studies.storage import OpenStudy, StudyError, check_writable, locate, open_study
from vae.storage import MANIFEST_FILE, SavedModel, read_manifest, staged


@tensorflow_startup_filtered()
def import_model(
    published: str | Path,
    out: str | Path | None = None,
    study: str | Path | None = None,
    storage: str | None = None,
) -> SavedModel:
    """Import ``published`` (a Keras 2 model folder, or a vae-search model directory) into
    the models directory ``out`` (by default the study's) and record it in ``study``."""
    published = Path(published)
    location = None if study is None else locate(study, storage)
    if (published / MANIFEST_FILE).is_file():
        if location is None:
            raise DataFileError(
                published, "is a vae-search model already; give a study to record it in"
            )
        return _record_ours(published, Path(out or location.models_dir), location)
    if out is None and location is None:
        raise ParameterError("out", "or a study is needed: where the model goes")
    return _import_keras2(published, Path(out or location.models_dir), location)


def _import_keras2(published: Path, models_dir: Path, location) -> SavedModel:
    from vae.keras2_import import import_keras2
    from vae.storage import save_model
    from vae.training import IMPORTED, TrainResult

    imported = import_keras2(published)
    model = imported.model
    opened = None if location is None else open_study(location)
    if opened is not None:
        _check_fits(published, opened, model.window, model.channels)
    result = TrainResult(model, IMPORTED, None, param_count=model.count_parameters())
    saved = save_model(
        result,
        writable_directory(models_dir, "models directory"),
        trial=None,
        data_sha256=None,
        created=imported.created,
        extra={"imported": imported.source},
    )
    if opened is not None:
        _record(opened, saved, model.hp.to_dict(), {})
    return saved


def _record_ours(model_dir: Path, models_dir: Path, location) -> SavedModel:
    """Record a saved vae-search model in the study, copied into ``models_dir`` unless it
    is there already (a copy is made whole under a temporary name, then renamed)."""
    manifest = read_manifest(model_dir)
    opened = open_study(location)
    data = _check_fits(model_dir, opened, manifest["window"], manifest["channels"])
    trained_on = manifest.get("data_sha256")
    if trained_on is not None and trained_on != data.sha256:
        raise StudyError(
            f"{model_dir}: trained on other prepared data (sha256 {trained_on[:12]}...) than "
            f"the study's ({data.sha256[:12]}...): its scores would not compare; train it "
            f"with --data {opened.prepared_file()}"
        )
    copy = models_dir / model_dir.name
    if not _same_model(copy, manifest):
        with staged(writable_directory(models_dir, "models directory"), model_dir.name) as tmp:
            shutil.copytree(model_dir, tmp, dirs_exist_ok=True)
    saved = SavedModel(name=manifest["name"], path=copy, manifest=manifest)
    _record(opened, saved, manifest["hyperparameters"], manifest.get("training", {}))
    return saved


def _same_model(copy: Path, manifest: dict) -> bool:
    """Whether ``copy`` holds the model of ``manifest`` already (imported before, or where
    ``train`` saved it)."""
    if not (copy / MANIFEST_FILE).is_file():
        return False
    return read_manifest(copy)["model_sha256"] == manifest["model_sha256"]


def _check_fits(source: Path, opened: OpenStudy, window: int, channels: int) -> PreparedData:
    """The study's data, once the model is known to read windows of its shape and the study
    to be writable (before a model is saved that could not be recorded)."""
    data = load_prepared(opened.prepared_file())
    check_writable(opened.location)
    if (window, channels) != (data.window, len(data.signal_names)):
        raise StudyError(
            f"{source}: the model reads windows of {window} samples x {channels} signals; "
            f"the study's data are {data.window} x {len(data.signal_names)} "
            f"({', '.join(data.signal_names)})"
        )
    return data


def _record(opened: OpenStudy, saved: SavedModel, config: dict, training: dict) -> None:
    record_model(
        opened.engine,
        name=saved.name,
        path=_study_path(saved.path, opened.location.directory),
        config=config,
        loss=training.get("loss"),
        val_loss=training.get("val_loss"),
        epochs_trained=training.get("epochs_trained"),
    )


def _study_path(model: Path, study_dir: Path) -> str:
    """Relative to the study directory where it lies inside (a copied study finds it)."""
    try:
        return str(model.resolve().relative_to(study_dir.resolve()))
    except ValueError:
        return str(model.resolve())
