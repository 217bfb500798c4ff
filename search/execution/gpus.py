"""Which GPU each worker's trainings use: ``run --gpus 0,1,2,3|all [--per-gpu K]``.

Without pinning, every training process sees every GPU and TensorFlow places each on GPU 0:
four workers share one GPU and the others idle. So each worker is given one GPU, and each
training job it starts sets ``CUDA_VISIBLE_DEVICES`` to that GPU as the first thing it does
(:func:`pin_this_process`), before TensorFlow touches CUDA. That is correct by construction:
the CUDA driver reads ``CUDA_VISIBLE_DEVICES`` from the process environment when it is
initialised (``cuInit``), and in a job that happens only when training builds its first
tensor; a job forked from the job server has TensorFlow imported but no CUDA runtime started
(``search.execution.job_server``). The job then sees its GPU as GPU 0, which is where
TensorFlow places everything.

GPUs are found without TensorFlow, so the run's own process never starts CUDA:
``$VAE_SEARCH_GPUS`` (a comma-separated list of ids: how the tests pretend a machine has
GPUs), else ``CUDA_VISIBLE_DEVICES`` where it is set (a scheduler's share, as SLURM gives a
task: its entries are the ids a job may be given), else ``nvidia-smi -L``, else the entries of
``/proc/driver/nvidia/gpus``. ``K`` jobs per GPU (``--per-gpu``) fill a GPU that one small
model leaves mostly idle; each takes GPU memory as it grows (TensorFlow's memory growth, set
by every job).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from data_prep.errors import InputError, ParameterError, check_integer

GPUS_ENV = "VAE_SEARCH_GPUS"
ALL = "all"


def gpus_found() -> tuple[str, ...]:
    """The GPU ids this machine gives its jobs, as ``CUDA_VISIBLE_DEVICES`` takes them."""
    for listed in (listed_gpus(), os.environ.get("CUDA_VISIBLE_DEVICES")):
        if listed is not None:
            ids = tuple(item.strip() for item in listed.split(",") if item.strip())
            return () if ids and ids[0].startswith("-") else ids  # "-1": none visible
    return _nvidia_smi() or _proc_gpus()


def listed_gpus() -> str | None:
    """``$VAE_SEARCH_GPUS``: GPU indices such as 0,1 (-1: none), refused otherwise."""
    listed = os.environ.get(GPUS_ENV)
    if listed is not None and not re.fullmatch(r"\s*(-1|\d+(\s*,\s*\d+)*)?\s*", listed):
        raise InputError(f"${GPUS_ENV}={listed!r}: expected GPU indices such as 0,1, or -1")
    return listed


def _nvidia_smi() -> tuple[str, ...]:
    if shutil.which("nvidia-smi") is None:
        return ()
    try:
        listed = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(re.findall(r"^GPU (\d+):", listed, flags=re.MULTILINE))


def _proc_gpus() -> tuple[str, ...]:
    try:
        count = len(list(Path("/proc/driver/nvidia/gpus").iterdir()))
    except OSError:
        return ()
    return tuple(str(i) for i in range(count))


@dataclass(frozen=True)
class GpuPlan:
    """The GPU of each worker (None: no pinning), and how it was chosen, for the run's line."""

    slots: tuple[str | None, ...]
    found: tuple[str, ...] = ()
    chosen: bool = False  # by --gpus, not every GPU found

    @property
    def workers(self) -> int:
        return len(self.slots)

    def line(self, started: int) -> str | None:
        """The run's line on its first ``started`` workers' GPUs (None: none pinned)."""
        slots = self.slots[:started]
        if not slots or slots[0] is None:
            return None
        per = {gpu: slots.count(gpu) for gpu in dict.fromkeys(slots)}
        shares = ", ".join(f"GPU {gpu} x{n}" if n > 1 else f"GPU {gpu}" for gpu, n in per.items())
        which = f"GPUs found: {', '.join(self.found)}"
        if self.chosen:
            which = f"GPUs chosen: {', '.join(per)} (of {', '.join(self.found)})"
        return f"{which}; {len(slots)} worker(s), each pinned (CUDA_VISIBLE_DEVICES): {shares}"


def plan_gpus(
    gpus: str | Sequence[str] | None,
    per_gpu: int,
    workers: int | None,
    found: Sequence[str] | None = None,
) -> GpuPlan:
    """The workers' GPUs: ``gpus`` (ids, or ``all``) times ``per_gpu``; without ``gpus``, on
    a machine with GPUs, one worker per GPU (``per_gpu`` each), or ``workers`` spread over
    them; without GPUs, ``workers`` (1) unpinned."""
    check_integer("per_gpu", per_gpu, 1)
    found = tuple(gpus_found() if found is None else found)
    if gpus is None:
        if not found:
            if per_gpu != 1:
                raise ParameterError("per_gpu", "needs GPUs, and this machine has none")
            return GpuPlan((None,) * (workers or 1))
        count = workers or len(found) * per_gpu
        slots = tuple(found[i % len(found)] for i in range(count))
        return GpuPlan(slots, found)
    if workers is not None:
        raise ParameterError("workers", "goes with --gpus only as --per-gpu (K workers per GPU)")
    chosen = _chosen(gpus, found)
    slots = tuple(gpu for _ in range(per_gpu) for gpu in chosen)  # spread first, then stack
    return GpuPlan(slots, found, chosen=True)


def _chosen(gpus: str | Sequence[str], found: tuple[str, ...]) -> tuple[str, ...]:
    items = gpus.split(",") if isinstance(gpus, str) else list(gpus)
    items = [str(item).strip() for item in items if str(item).strip()]
    if not items:
        raise ParameterError("gpus", "expected GPU ids such as 0,1 or all")
    if not found:
        raise ParameterError("gpus", "no GPU found on this machine (nvidia-smi -L lists none)")
    if items == [ALL]:
        return found
    unknown = [item for item in items if item not in found]
    if unknown:
        raise ParameterError(
            "gpus", f"{', '.join(unknown)} not found; this machine has {', '.join(found)}"
        )
    if len(set(items)) != len(items):
        raise ParameterError("gpus", "names a GPU twice; use --per-gpu for more jobs per GPU")
    return tuple(items)


def pin_this_process(gpu: str | None) -> None:
    """In a training job, before TensorFlow starts CUDA: see only ``gpu`` (None: as it is)."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
