"""Bring a model trained elsewhere into vae-search: the paper author's published best model.

The model is built as vae-search builds ``tcn="hahn2021"`` models, gets the published weights
(``vae.keras2_import``) and is saved as any vae-search model directory, so ``load_model``,
``score``, ``best``, ``report`` and ``predict`` take it like the searched ones. Given a study, it
is recorded there too (after the model is saved: a failed save records nothing), once its
window and signals are known to fit the study's data.
"""

from __future__ import annotations

from pathlib import Path

from data_prep.files import writable_directory
from data_prep.prepared import load_prepared
from studies.results import record_model
from studies.storage import StudyError, check_writable, locate, open_storage, prepared_file
from vae.storage import SavedModel


def import_model(
    published: str | Path,
    models_dir: str | Path,
    study: str | Path | None = None,
    storage: str | None = None,
) -> SavedModel:
    """Import the Keras 2 model folder ``published`` into ``models_dir`` (and ``study``)."""
    from vae.keras2_import import import_keras2
    from vae.storage import save_model
    from vae.training import IMPORTED, TrainResult

    location = None if study is None else locate(study, storage)
    imported = import_keras2(published)
    model = imported.model
    if location is not None:
        data = load_prepared(prepared_file(location))
        check_writable(location)  # before a model is saved that could not be recorded
        if (model.window, model.channels) != (data.window, len(data.signal_names)):
            raise StudyError(
                f"{published}: the model reads windows of {model.window} samples x "
                f"{model.channels} signals; the study's data are {data.window} x "
                f"{len(data.signal_names)} ({', '.join(data.signal_names)})"
            )
    result = TrainResult(model, IMPORTED, None, param_count=model.count_parameters())
    saved = save_model(
        result,
        writable_directory(Path(models_dir), "models directory"),
        trial=None,
        data_sha256=None,
        created=imported.created,
        extra={"imported": imported.source},
    )
    if location is not None:
        record_model(
            open_storage(location, create=False).engine,
            name=saved.name,
            path=_study_path(saved.path, location.directory),
            config=model.hp.to_dict(),
        )
    return saved


def _study_path(model: Path, study_dir: Path) -> str:
    """Relative to the study directory where it lies inside (a copied study finds it)."""
    try:
        return str(model.resolve().relative_to(study_dir.resolve()))
    except ValueError:
        return str(model.resolve())
