"""What made a model: the code, the libraries, the machine path and the seeds.

A training is a function of its data, its configuration, its seed and the path its arithmetic
takes: the code (vae-search's commit, or a hash of its source where it is not a git checkout),
the libraries, the device, oneDNN, the convolution path, the branches a batch is split into
and TensorFlow's threads. On one path the same inputs give the same weights, bit for bit
(README, "Reproducibility"); on another they differ within float rounding, which a training of
hundreds of epochs can grow into another model. Every manifest records the path, so a reader
can tell which models can be made again where, and a run resumed from a checkpoint written on
another path says so.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

# The packages whose source makes vae-search's results, in the order they are hashed.
PACKAGES = ("data_prep", "vae", "studies", "search")
ROOT = Path(__file__).resolve().parents[1]
# What differs between two provenances is named by these fields of ``path`` and ``code``.
PATH_FIELDS = ("device", "onednn", "convolution", "branches", "intra_op_threads")
CODE_FIELDS = ("commit", "dirty", "training_sha256")


# The modules on a training's arithmetic path: the model, its layers, the training loop, its
# checkpoints and the hyperparameters it reads. What only watches a training (the validation
# monitor, scoring, naming, saving, this module) draws nothing from it and changes no weight
# (tests/test_determinism.py), so it is not part of what a training result is keyed by.
TRAINING_MODULES = tuple(
    f"vae/{name}.py" for name in ("checkpoint", "fused", "hyperparams", "model", "tcn", "training")
)


def source_sha256(packages: tuple[str, ...] = PACKAGES) -> str:
    """sha256 over every Python file of ``packages``: the code's identity without git."""
    return _files_sha256(path for package in packages for path in (ROOT / package).rglob("*.py"))


def _files_sha256(paths) -> str:
    """sha256 over files (relative path and content, in sorted order)."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.cache
def code_version() -> dict[str, Any]:
    """vae-search's version and git commit (None outside a git checkout) with ``dirty`` where
    its source differs from the commit, and the source's sha256 either way."""
    commit, dirty = _git_state()
    return {
        "vae_search": metadata.version("vae-search"),
        "commit": commit,
        "dirty": dirty,
        "source_sha256": source_sha256(),
        # what a cached training result is keyed by, beside its data and path
        "training_sha256": _files_sha256(ROOT / name for name in TRAINING_MODULES),
    }


def _git_state() -> tuple[str | None, bool | None]:
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(ROOT), *args],
                capture_output=True,
                text=True,
                timeout=10,
                env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    if not (ROOT / ".git").exists():
        return None, None
    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None, None
    changes = git("status", "--porcelain", "--", *PACKAGES, "pyproject.toml")
    return commit, None if changes is None else bool(changes)


def library_versions() -> dict[str, str]:
    """Python's and the libraries' versions: a manifest's ``versions``."""
    return {
        "python": platform.python_version(),
        **{name: metadata.version(name) for name in ("tensorflow", "keras", "numpy", "vae-search")},
    }


def training_path(branches: int) -> dict[str, Any]:
    """The path a training's arithmetic takes in this process (TensorFlow imported)."""
    import tensorflow as tf

    from vae.fused import dilation_path
    from vae.machine import cpu, onednn_enabled

    gpus = tf.config.list_physical_devices("GPU")
    device = (
        "GPU "
        + ", ".join(
            tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus
        )
        if gpus
        else f"CPU {cpu().name}"
    )
    cores = os.cpu_count() or 1
    threading = tf.config.threading
    return {
        "device": device,
        "onednn": onednn_enabled(),
        "convolution": dilation_path(),
        "branches": branches,
        # 0 is TensorFlow's default: every core
        "intra_op_threads": threading.get_intra_op_parallelism_threads() or cores,
        "inter_op_threads": threading.get_inter_op_parallelism_threads() or cores,
        "cores": cores,
    }


def training_provenance(seed: int, branches: int) -> dict[str, Any]:
    """The provenance of a training with ``seed`` in ``branches`` on this process's path;
    each random stream's seed is named (weights: Keras' global seed; noise: the sampling
    layer's generator; the epochs' order: a stateless shuffle of (seed, epoch)). The
    libraries' versions are the manifest's ``versions``."""
    return {
        "code": code_version(),
        "path": training_path(branches),
        "seeds": {
            "weights": seed,
            "noise": seed,
            "epoch_order": f"stateless_shuffle(seed=[{seed}, epoch])",
        },
    }


def differences(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs between two provenances' code and path, one phrase each (``before`` may be
    empty: a checkpoint written before provenance was recorded, which differs in everything)."""
    if not before:
        return ["the checkpoint records no code or path"]
    changes = []
    for section, names in (("code", CODE_FIELDS), ("path", PATH_FIELDS)):
        for name in names:
            old, new = before.get(section, {}).get(name), now.get(section, {}).get(name)
            if old != new:
                changes.append(f"{name} {old} -> {new}")
    return changes


def describe(manifest: dict[str, Any]) -> list[str]:
    """A manifest's provenance as lines for ``show``."""
    provenance = manifest.get("provenance")
    if not provenance:
        return ["provenance: not recorded (a model saved before vae-search recorded it)"]
    code, path, seeds = provenance["code"], provenance["path"], provenance["seeds"]
    commit = code["commit"] or "no git checkout"
    dirty = " (uncommitted changes)" if code["dirty"] else ""
    versions = ", ".join(f"{k} {v}" for k, v in manifest.get("versions", {}).items())
    onednn = {True: "on", False: "off", None: "unknown"}[path["onednn"]]
    return [
        f"code: vae-search {code['vae_search']}, commit {commit}{dirty}, "
        f"source sha256 {code['source_sha256'][:16]}",
        f"libraries: {versions}",
        f"path: {path['device']}; oneDNN {onednn}; dilated convolutions {path['convolution']}; "
        f"{path['branches']} branch(es); {path['intra_op_threads']} thread(s) per op, "
        f"{path['inter_op_threads']} op(s) at once; {path['cores']} cores",
        f"seeds: weights {seeds['weights']}, noise {seeds['noise']}, "
        f"epoch order {seeds['epoch_order']}",
    ]
