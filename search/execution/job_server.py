"""How a worker starts a training job: in a process of its own, with TensorFlow imported already.

Importing TensorFlow takes seconds, longer than the training of a small model. So each worker
forks its jobs from a multiprocessing *forkserver* that has preloaded the job's module
(``search.execution.trial``, which imports TensorFlow, Keras and the model at the top): a
job starts with TensorFlow imported but its runtime untouched. That is safe because importing
TensorFlow starts no runtime and no CUDA (``vae.training`` only configures devices when
training starts); where forking is unavailable, jobs are spawned and import afresh.

This module is the worker's side and imports no TensorFlow: a worker only claims trials,
starts jobs and records their results, and two workers starting on two cores would otherwise
spend their first seconds importing TensorFlow beside the two job servers doing the same.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

JOB_MODULE = "search.execution.trial"


def job_process(job_path: Path, log_path: Path) -> multiprocessing.process.BaseProcess:
    """A process (not started) that runs the job, its output going to ``log_path``."""
    return _CONTEXT.Process(
        target=_run_job_file, args=(str(job_path), str(log_path)), name=job_path.stem
    )


def _run_job_file(job_path: str, log_path: str) -> None:
    """In the job's process: run the job (its module is imported already where preloaded)."""
    from search.execution.trial import run_logged

    run_logged(job_path, log_path)


def start_job_server() -> None:
    """Have the forkserver import TensorFlow now, once per worker, before any trial's clock runs.

    A first job would otherwise pay the import inside its trial; this runs an empty job.
    """
    warm_up = _CONTEXT.Process(target=_nothing, name="job-server-warm-up")
    warm_up.start()
    warm_up.join()


def _nothing() -> None:
    """The empty job of ``start_job_server``."""


def _start_method() -> str:
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


_CONTEXT = multiprocessing.get_context(_start_method())
_CONTEXT.set_forkserver_preload([JOB_MODULE])
