"""A detector built of several saved β-VAEs: the mean of their rank-normalised window scores.

One training's PR-AUC depends on its seed about as much as on its settings, and a user who
keeps one model keeps one draw of that luck. An ensemble keeps several: each member scores
every window in each space as it always does, the score goes through that member's own
reference (its scores of the validation windows, sorted), and the ensemble's score is the mean
over members. The reference makes members of different scales comparable (a KL of 40 nats in
one model is a KL of 4 in another) and a new window's score depends on the window alone, so
``predict`` gives each window the verdict it would get among the validation windows.

The normalisation is the validation windows' empirical distribution function, interpolated
between the sorted reference scores, continued linearly past its ends (a score beyond every
validation window's still ranks above a lesser one, where a plain rank would saturate at 1).

On disk an ensemble is a model directory like any other: ``manifest.json`` (``kind`` =
``ensemble``, its members' names, the data's preprocessing) and ``references.npz``, whose
sha256 the manifest holds; its members are read from the same models directory, by name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from vae.provenance import library_versions
from vae.scores import WindowScores, window_scores
from vae.storage import (
    MANIFEST_FILE,
    MANIFEST_VERSION,
    ModelFileError,
    SavedModel,
    load_model,
    read_manifest,
    sha256_file,
    staged,
)

KIND = "ensemble"
ENSEMBLE = "ensemble"  # the key of an ensemble's configuration that lists its members
REFERENCES_FILE = "references.npz"
PREFIX = "ENSEMBLE"
SPACES = ("latent", "input_mean")  # the references; sampled input draws use input_mean's


def members_of(config: dict[str, Any]) -> list[str] | None:
    """The members an ensemble's configuration names, None for a single model's."""
    members = config.get(ENSEMBLE)
    return None if members is None else list(members)


def settings_of(config: dict[str, Any]) -> dict[str, Any]:
    """The hyperparameters shown for a configuration: an ensemble shows its first member's."""
    return {k: v for k, v in config.items() if k != ENSEMBLE}


def normalise(scores: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``scores`` through the empirical distribution function of the sorted ``reference``,
    interpolated, and continued linearly past its ends (so order is kept everywhere)."""
    n = len(reference)
    levels = (np.arange(n) + 0.5) / n
    low, high = float(reference[0]), float(reference[-1])
    span = (high - low) or 1.0
    inside = np.interp(scores, reference, levels)
    below = levels[0] + (scores - low) / span
    above = levels[-1] + (scores - high) / span
    return np.where(scores < low, below, np.where(scores > high, above, inside))


@dataclass
class Ensemble:
    """Loaded members and their references: scores windows as one model does."""

    name: str
    members: list[Any]
    references: list[dict[str, np.ndarray]]  # per member: space -> sorted validation scores

    def window_scores(self, X: np.ndarray, repeats: int, seed: int) -> WindowScores:
        """Each space's mean over members of their normalised scores (each member's sampled
        draws seeded alike); each signal's error as the members' mean on their own scales."""
        parts = [window_scores(m, X, repeats, seed) for m in self.members]
        # each member's signals on the scale of its validation reconstruction error; its
        # latent dimensions side by side (the active ones of every member count)
        signals = np.mean(
            [
                p.signals / np.median(r["input_mean"])
                for p, r in zip(parts, self.references, strict=True)
            ],
            axis=0,
        )
        mean = {"signals": signals, "kl_dims": np.concatenate([p.kl_dims for p in parts], axis=1)}
        for space, reference_space in (
            ("input", "input_mean"),
            ("input_mean", "input_mean"),
            ("latent", "latent"),
        ):
            normalised = [
                normalise(getattr(p, space), r[reference_space])
                for p, r in zip(parts, self.references, strict=True)
            ]
            mean[space] = np.mean(normalised, axis=0)
        return WindowScores(**mean)


def references_of(members: list[Any], X_val: np.ndarray) -> list[dict[str, np.ndarray]]:
    """Each member's sorted scores of the validation windows, per reference space."""
    found = []
    for model in members:
        scores = window_scores(model, X_val, repeats=0, seed=0)
        found.append({space: np.sort(getattr(scores, space)) for space in SPACES})
    return found


def save_ensemble(
    models_dir: str | Path, member_names: list[str], X_val: np.ndarray, label: str
) -> SavedModel:
    """Build the ensemble of the saved models ``member_names`` (in ``models_dir``) with their
    references on ``X_val``, and save it there under a new name (``label`` says how its members
    were chosen); written under a temporary name and renamed."""
    models_dir = Path(models_dir)
    members = [load_model(models_dir / name) for name in member_names]
    references = references_of(members, X_val)
    created = datetime.now(UTC)
    name = f"{PREFIX}-{created:%Y%m%d-%H%M%S}_k={len(members)}_{label}"
    first = read_manifest(models_dir / member_names[0])
    with staged(models_dir, name) as staging:
        arrays = {
            f"{i}_{space}": reference[space]
            for i, reference in enumerate(references)
            for space in SPACES
        }
        np.savez(staging / REFERENCES_FILE, **arrays)
        manifest = {
            "manifest_version": MANIFEST_VERSION,
            "kind": KIND,
            "name": name,
            "created": created.isoformat(timespec="seconds"),
            "members": member_names,
            "window": first.get("window"),
            "channels": first.get("channels"),
            "data_sha256": first.get("data_sha256"),
            "preprocessing": first.get("preprocessing"),
            "versions": library_versions(),
            "model_sha256": sha256_file(staging / REFERENCES_FILE),
        }
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return SavedModel(name=name, path=models_dir / name, manifest=manifest)


def load_detector(model_dir: str | Path):
    """The saved model or ensemble in ``model_dir``, checked as :func:`vae.storage.load_model`
    checks a model: what scoring, reports and predictions load."""
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    if manifest.get("kind") != KIND:
        return load_model(model_dir)
    path = model_dir / REFERENCES_FILE
    if not path.is_file():
        raise ModelFileError(path, "file not found")
    if sha256_file(path) != manifest["model_sha256"]:
        raise ModelFileError(path, "sha256 differs from the manifest's: corrupt or altered")
    names = list(manifest["members"])
    members = []
    for name in names:
        if not (model_dir.parent / name).is_dir():
            raise ModelFileError(model_dir / MANIFEST_FILE, f"its member {name} is gone")
        members.append(load_model(model_dir.parent / name))
    with np.load(path) as stored:
        references = [
            {space: stored[f"{i}_{space}"] for space in SPACES} for i in range(len(names))
        ]
    return Ensemble(model_dir.name, members, references)
