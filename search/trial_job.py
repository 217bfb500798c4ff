"""One training job in its own process: train one planned configuration and save its model.

One process per job is what makes a crash (out of memory, segfault, kill) fail only that
trial, keeps memory from growing from trial to trial, and gives each job a fresh TensorFlow
runtime (with GPU memory growth set before anything else). The job never touches the study
database: it writes its result next to the job file, atomically, and the worker that started
it records the result.

Importing TensorFlow takes seconds, longer than the training of a small model. So this module
imports it (and Keras, keras-tcn, the model) at the top, and each worker forks its jobs from a
multiprocessing *forkserver* that has preloaded this module: a job starts with TensorFlow
imported but its runtime untouched. That is safe because importing TensorFlow starts no
runtime and no CUDA (``vae.training`` only configures devices when training starts); where
forking is unavailable, jobs are spawned and import afresh.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from data_prep.files import write_text_atomically
from data_prep.prepared import load_prepared
from studies.storage import MODELS_DIR
from vae.hyperparams import Hyperparameters
from vae.storage import save_model
from vae.training import COMPLETED, limit_threads, train_vae

ORPHAN_CHECK_SECONDS = 2.0
EXIT_ORPHANED = 3


@dataclass(frozen=True)
class TrialJob:
    plan_index: int
    config: dict[str, Any]
    prepared: str  # path of the prepared .npz
    models_dir: str
    threads: int  # TensorFlow intra-op threads, so parallel jobs do not oversubscribe cores
    worker_pid: int  # the job ends itself when this worker is gone

    def write(self, path: Path) -> None:
        _write_json(path, asdict(self))

    @staticmethod
    def read(path: Path) -> TrialJob:
        return TrialJob(**json.loads(path.read_text()))


def result_path(job_path: Path) -> Path:
    return job_path.with_suffix(".result.json")


def run_job(job: TrialJob) -> dict[str, Any]:
    """Train and save; a diverging run is a failed result, not an exception."""
    limit_threads(job.threads)

    data = load_prepared(job.prepared)
    hp = Hyperparameters.from_dict(job.config)
    result = train_vae(hp, data.X_train_slim, data.X_val_slim)
    outcome: dict[str, Any] = {
        "status": result.status,
        "reason": result.reason,
        "summary": result.summary(),
        "epoch_seconds": sum(result.epoch_times),
    }
    if result.status == COMPLETED:
        saved = save_model(
            result,
            job.models_dir,
            trial=job.plan_index,
            data_sha256=data.sha256,
            extra={"preprocessing": data.preprocessing()},
        )
        # relative to the study directory, so a copied study still finds its models
        outcome.update(model_name=saved.name, model_path=f"{MODELS_DIR}/{saved.name}")
    return outcome


def job_process(job_path: Path, log_path: Path) -> multiprocessing.process.BaseProcess:
    """A process (not started) that runs the job, its output going to ``log_path``."""
    return _CONTEXT.Process(
        target=_run_logged, args=(str(job_path), str(log_path)), name=job_path.stem
    )


def start_job_server() -> None:
    """Have the forkserver import TensorFlow now, once per worker, before any trial's clock runs.

    A first job would otherwise pay the import inside its trial; this runs an empty job.
    """
    warm_up = _CONTEXT.Process(target=_nothing, name="job-server-warm-up")
    warm_up.start()
    warm_up.join()


def _nothing() -> None:
    """The empty job of ``start_job_server``."""


def _exit_when_orphaned(worker_pid: int) -> None:
    """End the job when its worker is gone (killed, or stopped by a notebook's interrupt).

    A forkserver's child is not the worker's child, so nothing else would stop it: it would
    go on training (holding a GPU) for a trial the study has already planned again.
    """
    while True:
        time.sleep(ORPHAN_CHECK_SECONDS)
        try:
            os.kill(worker_pid, 0)
        except ProcessLookupError:
            os._exit(EXIT_ORPHANED)


def _run_logged(job_path: str, log_path: str) -> None:
    job = TrialJob.read(Path(job_path))
    threading.Thread(
        target=_exit_when_orphaned, args=(job.worker_pid,), name="orphan-check", daemon=True
    ).start()
    descriptor = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for stream in (1, 2):  # TensorFlow's own logging writes to the descriptors, not sys.stderr
        os.dup2(descriptor, stream)
    os.close(descriptor)
    try:
        outcome = run_job(job)
    except Exception as exc:  # reported as the trial's failure reason, with the traceback logged
        traceback.print_exc()
        outcome = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"}
    _write_json(result_path(Path(job_path)), outcome)


def _write_json(path: Path, content: dict[str, Any]) -> None:
    write_text_atomically(path, json.dumps(content, indent=2))


def _start_method() -> str:
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


_CONTEXT = multiprocessing.get_context(_start_method())
_CONTEXT.set_forkserver_preload([__name__])
