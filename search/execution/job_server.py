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

from search.execution.stopping import children_spared_ctrl_c

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


def start_job_server(describe: bool = False) -> str | None:
    """Have the forkserver import TensorFlow now, once per worker, before any trial's clock runs.

    A first job would otherwise pay the import inside its trial; this runs a job that trains
    nothing. The server is started spared Ctrl-C, and so are the jobs it forks: their worker
    ends them. With ``describe``, that job returns what the machine gives a training job
    (:meth:`vae.machine.Machine.summary`), read where the jobs run: their TensorFlow, oneDNN
    state, convolution path and GPUs; None if it could not say.
    """
    if _CONTEXT.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        with children_spared_ctrl_c():
            forkserver.ensure_running()
    receiving, sending = _CONTEXT.Pipe(duplex=False)
    warm_up = _CONTEXT.Process(
        target=_warm_up, args=(sending if describe else None,), name="job-server-warm-up"
    )
    warm_up.start()
    sending.close()
    try:
        summary = receiving.recv() if describe else None
    except EOFError:  # the job ended without a word: the trials' own logs will say why
        summary = None
    finally:
        receiving.close()
    warm_up.join()
    return summary


def _warm_up(sending) -> None:
    """The job of ``start_job_server``: nothing, or the machine's summary line sent back."""
    if sending is None:
        return
    from vae.machine import machine
    from vae.training import configure_tensorflow

    configure_tensorflow()  # GPU memory growth before the GPUs are listed, as a job sets it
    sending.send(machine().summary())
    sending.close()


def _start_method() -> str:
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


_CONTEXT = multiprocessing.get_context(_start_method())
_CONTEXT.set_forkserver_preload([JOB_MODULE])
