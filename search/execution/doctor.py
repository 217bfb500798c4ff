"""``vae-search doctor``: what this machine gives a search, on one screen for a bug report.

Each check is a line marked ``ok`` or ``!!``; a ``!!`` says what is wrong and what to do. The
last check trains a tiny β-VAE with dilated convolutions, which proves the training path the
machine's kernels take (:mod:`vae.fused`). The checks run in the calling process, which must
not have started TensorFlow's runtime with settings a search would not use.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from data_prep.errors import InputError
from data_prep.locations import labels_file, locate_data_dir, mill_file, packaged_labels
from search.execution.quiet import tensorflow_startup_filtered
from vae.hyperparams import Hyperparameters
from vae.machine import Machine, machine
from vae.training import COMPLETED, configure_tensorflow, train_vae


@dataclass(frozen=True)
class Check:
    ok: bool
    line: str

    def __str__(self) -> str:
        return f"[{'ok' if self.ok else '!!'}] {self.line}"


@dataclass(frozen=True)
class DoctorReport:
    machine: Machine
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def summary(self) -> str:
        """The machine's line, and what failed: what ``run`` and the notebook print first."""
        problems = [check.line for check in self.checks if not check.ok]
        return "; ".join([self.machine.summary(), *problems])

    def lines(self) -> list[str]:
        return [*self.machine.lines(), *map(str, self.checks), f"summary: {self.summary()}"]


@tensorflow_startup_filtered()
def doctor(
    study: str | Path | None = None,
    storage: str | None = None,
    data_dir: str | Path | None = None,
) -> DoctorReport:
    """The machine, the data directory, the study's storage (with ``study``), a tiny training."""
    configure_tensorflow()  # memory growth first, as every training process sets it
    checks = [_data_check(data_dir), _gpu_check()]
    if study is not None:
        checks.append(_study_check(study, storage))
    checks.append(_training_check())
    return DoctorReport(machine(), checks)


def _data_check(data_dir: str | Path | None) -> Check:
    where = locate_data_dir(data_dir)
    try:
        mill = mill_file(data_dir)
    except InputError as exc:
        return Check(False, f"data: {exc}")
    with mill.open("rb") as head:  # a MAT file's header opens with its format's name
        if not head.read(128).startswith(b"MATLAB"):
            real = f" (a link to {mill.resolve()})" if mill.is_symlink() else ""
            return Check(False, f"data: {mill}{real} is not a MAT file; fetch it again")
    labels = labels_file(None, data_dir)
    whose = (
        "the reference labels shipped with vae-search" if labels == packaged_labels() else labels
    )
    return Check(
        True,
        f"data: {mill} ({mill.stat().st_size:,} bytes; {where.describe()}); labels: {whose}",
    )


def _gpu_check() -> Check:
    """The GPUs ``run`` pins its workers to, found as it finds them (without TensorFlow)."""
    from search.execution.gpus import gpus_found

    found = gpus_found()
    if not found:
        return Check(True, "gpus for run: none found; workers train on the CPU")
    return Check(
        True,
        f"gpus for run: {', '.join(found)}; one worker per GPU by default, each training "
        "process pinned (CUDA_VISIBLE_DEVICES)",
    )


def _study_check(study: str | Path, storage: str | None) -> Check:
    from studies.storage import database_error, locate, open_study

    location = locate(study, storage)
    try:
        opened = open_study(location).study
    except InputError as exc:
        return Check(False, f"study: {exc}")
    except Exception as exc:
        reason = database_error(exc)
        if reason is None:
            raise
        return Check(False, f"study: {location.database_name}: {reason}")
    from search.execution.ledger import RunningTrial

    trials = opened.get_trials(deepcopy=False)
    running = [RunningTrial.of(t) for t in trials if t.state.name == "RUNNING"]
    on = "".join(f"; trial {r.number} running on {r.where}" for r in running)
    return Check(True, f"study: {location.database_name} opens, {len(trials)} trial(s){on}")


def _training_check() -> Check:
    try:
        seconds = training_step_works()
    except Exception as exc:  # whatever stops training here is what the user needs to see
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return Check(False, f"training: a tiny β-VAE cannot train: {type(exc).__name__}: {reason}")
    return Check(True, f"training: a tiny β-VAE with dilations 1-2-4 trained in {seconds:.1f} s")


def training_step_works(window: int = 16, channels: int = 2) -> float:
    """Train a tiny β-VAE with dilated convolutions for one epoch; its seconds.

    Raises what the training raises: the proof that this machine can train, or why not.
    """
    hp = Hyperparameters(
        codings_size=2, start_filter_no=4, kernel_size_1=2, dilations=(1, 2, 4), epochs=1
    ).replace(batch_size=8)
    rng = np.random.default_rng(0)
    data = rng.uniform(size=(24, window, channels)).astype("float32")
    start = time.perf_counter()
    result = train_vae(hp, data[:16], data[16:])
    if result.status != COMPLETED:
        raise RuntimeError(f"a tiny training ended {result.status}: {result.reason}")
    return time.perf_counter() - start
