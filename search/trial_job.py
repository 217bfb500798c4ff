"""One training job, in its own process: train one planned configuration and save its model.

One process per job is what makes a crash (out of memory, segfault, kill) fail only that
trial, keeps memory from growing from trial to trial, and gives each job a fresh TensorFlow
runtime (with GPU memory growth set before anything else). The job never touches the study
database: it writes its result next to the job file, atomically, and the worker that started
it records the result. Workers start jobs through ``search.job_process``, from a forkserver
that has imported this module, and with it TensorFlow, once.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from data_prep.prepared import load_prepared
from search.job_process import TrialJob, result_path, write_json
from studies.storage import MODELS_DIR
from vae.checkpoint import EVERY_SECONDS
from vae.hyperparams import Hyperparameters
from vae.storage import save_model
from vae.training import COMPLETED, train_vae, use_cores

ORPHAN_CHECK_SECONDS = 2.0
CHECKPOINTS_DIR = ".checkpoints"  # in the models directory: hidden, never taken for a model
EXIT_ORPHANED = 3


def run_job(job: TrialJob) -> dict[str, Any]:
    """Train and save; a diverging run is a failed result, not an exception.

    The run's state is kept in the plan entry's checkpoint directory while it trains, so an
    attempt that was interrupted (a signal, a lost worker) goes on where it stopped when the
    trial is trained again; the directory goes once the attempt has ended either way.
    """
    branches = use_cores(job.threads)
    data = load_prepared(job.prepared)
    hp = Hyperparameters.from_saved(job.config)
    checkpoint = Path(job.models_dir) / CHECKPOINTS_DIR / f"plan-{job.plan_index:05d}"
    result = train_vae(
        hp,
        data.X_train_slim,
        data.X_val_slim,
        branches=branches,
        checkpoint=checkpoint,
        data_key=data.sha256,
        checkpoint_every=float(os.environ.get("VAE_SEARCH_CHECKPOINT_SECONDS", EVERY_SECONDS)),
    )
    if result.resumed_at:
        print(f"resumed from the checkpoint after epoch {result.resumed_at}", flush=True)
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
    shutil.rmtree(checkpoint, ignore_errors=True)
    return outcome


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


def run_logged(job_path: str, log_path: str) -> None:
    """Run the job of ``job_path`` with its output in ``log_path``; the result beside the job."""
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
    write_json(result_path(Path(job_path)), outcome)
