"""How a run starts its training jobs: each in a process of its own, with TensorFlow imported
already.

Importing TensorFlow takes seconds, longer than the training of a small model. So a run forks
its jobs from one multiprocessing *forkserver* that has preloaded the job's module
(``search.execution.trial``, which imports TensorFlow, Keras and the model at the top): a
job starts with TensorFlow imported but its runtime untouched. That is safe because importing
TensorFlow starts no runtime and no CUDA (``vae.training`` only configures devices when
training starts); where forking is unavailable, jobs are spawned and import afresh. The run's
workers are threads that only claim trials, start jobs and record their results, so one server
serves them all: TensorFlow is imported once per run, not once per worker.

This module is the workers' side and imports no TensorFlow. :class:`Jobs` holds the run's live
jobs, so that a run that stops ends them all at once and starts none after.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

from search.execution.stopping import children_spared_ctrl_c

JOB_MODULE = "search.execution.trial"


class Jobs:
    """The run's job server and live training jobs, which its worker threads start:
    :meth:`stop` ends the jobs and refuses new ones, so nothing of a stopped run trains on or
    saves a model after its trials are put back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: set[multiprocessing.process.BaseProcess] = set()
        self._serving = False
        self._stopped = threading.Event()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def serve(self) -> None:
        """Start the job server, unless it has started: TensorFlow imported before any trial's
        clock runs, and the run's first line of output saying what the machine gives its
        trainings. A run starts it before its workers; a first job starts it otherwise (a run
        that finds nothing to train starts no server)."""
        with self._lock:
            if self._serving or self.stopped:
                return
            summary = start_job_server(describe=True)
            self._serving = True
        if summary is not None:
            print(f"machine: {summary}", flush=True)

    def start(self, job_path: Path, log_path: Path) -> multiprocessing.process.BaseProcess | None:
        """The job's process, started, its output going to ``log_path``; None once stopped."""
        self.serve()
        process = _CONTEXT.Process(
            target=_run_job_file, args=(str(job_path), str(log_path)), name=job_path.stem
        )
        with self._lock:
            if self.stopped:
                return None
            with children_spared_ctrl_c():  # (and a server started again, too)
                process.start()
            self._live.add(process)
        return process

    def wait(self, process: multiprocessing.process.BaseProcess) -> int | None:
        """The job's exit code once it has ended; None where its job server ended first. The
        server reports a job's end, so a server that is killed closes every job's report
        while the jobs, orphaned, train on: such a job is killed here, and the next job
        starts a new server."""
        process.join()
        with self._lock:
            self._live.discard(process)
        if not _running(process.pid):
            return process.exitcode
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        while _running(process.pid):
            time.sleep(0.05)
        return None

    def stop(self) -> None:
        """Kill every live job and start no more (the worker thread that started a job waits
        for its end: one reader for each job's exit status)."""
        self._stopped.set()
        with self._lock:
            for process in self._live:
                process.kill()


def _run_job_file(job_path: str, log_path: str) -> None:
    """In the job's process: run the job (its module is imported already where preloaded)."""
    from search.execution.trial import run_logged

    run_logged(job_path, log_path)


def start_job_server(describe: bool = False) -> str | None:
    """Have the forkserver import TensorFlow now, once per run, before any trial's clock runs.

    A first job would otherwise pay the import inside its trial; this runs a job that trains
    nothing. The server is started spared Ctrl-C, and so are the jobs it forks: the run ends
    them. With ``describe``, that job returns what the machine gives a training job
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


def _running(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (not Linux): ask the process table
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _start_method() -> str:
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


_CONTEXT = multiprocessing.get_context(_start_method())
_CONTEXT.set_forkserver_preload([JOB_MODULE])
