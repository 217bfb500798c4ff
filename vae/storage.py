"""Save a trained model under its name and load it back safely.

Layout: ``MODELS_DIR/<name>/model.keras`` (the whole VAE, encoder and decoder included) and
``MODELS_DIR/<name>/manifest.json`` (hyperparameters, history summary, data hash, library
versions, sha256 of model.keras). Both are written in a temporary directory that is renamed
into place, so a crash never leaves a half model under a final name.

Loading checks the sha256 first and then uses Keras ``safe_mode=True``: a corrupt or altered
file is refused with a clear error, and a file that would deserialize code is never executed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from data_prep.errors import DataFileError
from data_prep.files import atomic_path
from vae.naming import name_for
from vae.provenance import library_versions

MODEL_FILE = "model.keras"
MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1
STAGING_SUFFIX = ".tmp"
# A save stages for about a second; a staging directory this old belongs to a job that was
# killed mid-save (SIGKILL, SIGTERM: no exception handler ran).
STALE_STAGING_SECONDS = 3600
# The saveable types whose attribute skip sets Keras' saving walk looks up (see below).
_KERAS_SKIPSET_TYPES = ("Operation", "Layer", "Functional", "Sequential", "Metric", "Optimizer")


class ModelFileError(DataFileError):
    """A saved model that is missing, corrupt, altered or unsafe to load."""


@dataclass(frozen=True)
class SavedModel:
    name: str
    path: Path  # the model's directory
    manifest: dict[str, Any]


def save_model(
    result,
    models_dir: str | Path,
    *,
    trial: int | None,
    data_sha256: str | None,
    extra: dict[str, Any] | None = None,
    created: datetime | None = None,
    seed_number: int = 0,
) -> SavedModel:
    """Save ``result.model`` (a trained :class:`~vae.model.BetaVAE`) under its encoded name;
    ``trial`` is None for a model that no trial of a study trained (an imported one),
    ``seed_number`` says which of its configuration's seeds it was trained with."""
    model = result.model
    created = created or datetime.now(UTC)
    name = str(name_for(model.hp, trial, result.param_count, created, seed_number))
    with staged(Path(models_dir), name) as staging:
        model_path = staging / MODEL_FILE
        _cache_keras_skipsets()
        with _without_optimizer(model):
            model.save(model_path)
        manifest = {
            "manifest_version": MANIFEST_VERSION,
            "name": name,
            "created": created.isoformat(timespec="seconds"),
            "trial": trial,
            "seed_number": seed_number,
            "hyperparameters": model.hp.to_dict(),
            "window": model.window,
            "channels": model.channels,
            "training": result.summary(),
            "history": result.history,
            "data_sha256": data_sha256,
            "versions": library_versions(),
            "provenance": result.provenance,
            "model_sha256": sha256_file(model_path),
            **(extra or {}),
        }
        _write_json(staging / MANIFEST_FILE, manifest)
    return SavedModel(name=name, path=Path(models_dir) / name, manifest=manifest)


@contextlib.contextmanager
def staged(models_dir: Path, name: str) -> Iterator[Path]:
    """A temporary directory in ``models_dir`` to write a model's files into, renamed to
    ``name`` once the block ends well (removed if it does not): a crash never leaves a half
    model under a final name."""
    final = models_dir / name
    if final.exists():
        raise ModelFileError(final, "a model with this name exists already")
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=STAGING_SUFFIX, dir=models_dir))
    try:
        yield staging
        _fsync_dir(staging)
        staging.chmod(0o755)  # mkdtemp makes it private; models are shared with other workers
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def remove_stale_staging(models_dir: str | Path, min_age_s: float = STALE_STAGING_SECONDS) -> int:
    """Remove staging directories of killed saves (older than ``min_age_s``); how many.

    Younger ones are left alone: another worker may be saving into one right now.
    """
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return 0
    now = datetime.now(UTC).timestamp()
    removed = 0
    for path in models_dir.glob(f".*{STAGING_SUFFIX}"):
        if path.is_dir() and now - path.stat().st_mtime > min_age_s:
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def read_manifest(model_dir: str | Path) -> dict[str, Any]:
    """A saved model's manifest (hyperparameters, provenance, thresholds) without loading the
    model, so a listing of many models stays cheap."""
    path = Path(model_dir) / MANIFEST_FILE
    if not path.is_file():
        raise ModelFileError(path, "file not found: not a saved model directory")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(path, f"not a valid manifest ({exc})") from None
    if not isinstance(manifest, dict) or "model_sha256" not in manifest:
        raise ModelFileError(path, "not a valid manifest (no model_sha256)")
    return manifest


def update_manifest(model_dir: str | Path, **fields: Any) -> dict[str, Any]:
    """Add or replace top-level fields of a model's manifest (atomically; model.keras as is)."""
    manifest = {**read_manifest(model_dir), **fields}
    path = Path(model_dir) / MANIFEST_FILE
    with atomic_path(path) as tmp:
        _write_json(tmp, manifest)
    return manifest


def load_model(model_dir: str | Path):
    """The saved :class:`~vae.model.BetaVAE`, after checking its file against the manifest.

    Scoring, reports and predictions all load through here, often inside a notebook's kernel:
    GPU memory growth is set first, or the kernel would hold the whole card and the training
    jobs it starts next would run out of memory.
    """
    import keras

    from vae.model import BetaVAE  # importing it registers BetaVAE and Sampling
    from vae.training import configure_tensorflow

    configure_tensorflow()

    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    model_path = model_dir / MODEL_FILE
    if not model_path.is_file():
        raise ModelFileError(model_path, "file not found")
    actual = sha256_file(model_path)
    if actual != manifest["model_sha256"]:
        raise ModelFileError(
            model_path,
            f"sha256 {actual[:16]}... differs from the manifest's "
            f"{str(manifest['model_sha256'])[:16]}...: the file is corrupt or was altered",
        )
    if not zipfile.is_zipfile(model_path):  # Keras would say "File not found" of it
        raise ModelFileError(model_path, "not a whole .keras archive (truncated or damaged)")
    _cache_keras_skipsets()
    try:
        model = keras.saving.load_model(model_path, safe_mode=True, compile=False)
    except Exception as exc:  # Keras raises many types; none of them may escape unexplained
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFileError(model_path, f"refused to load: {message}") from None
    if not isinstance(model, BetaVAE):
        raise ModelFileError(model_path, f"holds a {type(model).__name__}, not a vae-search VAE")
    return model


def _cache_keras_skipsets() -> None:
    """Make Keras' per-type attribute skip sets computed once per process, not once per layer.

    Keras' saving walk (``saving_lib.get_attr_skipset``, Keras 3.15) builds a reference object
    (a Layer, an Optimizer...) to learn which attributes to skip, stores the result under
    ``saving_attr_skipset_<type>`` and looks it up under ``saving_attr_skiplist_<type>``: the
    cache never hits, so every save and every load builds a throwaway Layer per layer saved
    (``benchmarks/bench_save_load.py`` measures what that costs). Storing the same sets
    under the key it reads changes nothing else. A Keras without these internals is left as is.
    """
    try:
        from keras.src.backend.common import global_state
        from keras.src.saving.saving_lib import get_attr_skipset
    except ImportError:
        return
    for obj_type in _KERAS_SKIPSET_TYPES:
        key = f"saving_attr_skiplist_{obj_type}"
        if global_state.get_global_attribute(key) is None:
            global_state.set_global_attribute(key, get_attr_skipset(obj_type))


@contextlib.contextmanager
def _without_optimizer(model) -> Iterator[None]:
    """Leave the optimizer's state out of a save: the model's own weights are what is kept.

    A saved model is loaded to score and predict, never to train further (``load_model`` does
    not compile it), and Adam's two slots per weight would add to the file twice the weights'
    size and the time to write them (``benchmarks/bench_save_load.py``).
    """
    optimizer = getattr(model, "optimizer", None)  # an imported model was never compiled
    model.optimizer = None
    try:
        yield
    finally:
        model.optimizer = optimizer


def sha256_file(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _write_json(path: Path, content: dict[str, Any]) -> None:
    with path.open("w") as handle:
        json.dump(content, handle, indent=2, sort_keys=True, allow_nan=True)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
