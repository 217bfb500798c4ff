"""One training job, in its own process: train one planned configuration and save its model.

One process per job is what makes a crash (out of memory, segfault, kill) fail only that
trial, keeps memory from growing from trial to trial, and gives each job a fresh TensorFlow
runtime (with GPU memory growth set before anything else). The job never touches the study
database: it writes its result next to the job file, atomically, and the worker that started
it records the result. Workers start jobs through ``search.execution.job_server``, from the run's
one forkserver, which has imported this module, and with it TensorFlow, once.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
import threading
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path

import keras

from data_prep.prepared import PreparedData, load_prepared
from search.execution.environment import checkpoint_seconds
from search.execution.gpus import pin_this_process
from search.execution.job import (
    EpochRecord,
    TrialJob,
    TrialOutcome,
    TrialStatus,
    epochs_path,
    outcome_path,
)
from studies.storage import MODELS_DIR
from vae.checkpoint import EVERY_SECONDS, TimeLimitReached, stop_at
from vae.hyperparams import Hyperparameters
from vae.monitor import ScoredWindows, validation_windows
from vae.scores import MONITORED
from vae.storage import SavedModel, save_model
from vae.training import COMPLETED, TrainResult, train_vae, use_cores

ORPHAN_CHECK_SECONDS = 2.0
CHECKPOINTS_DIR = ".checkpoints"  # in the models directory: hidden, never taken for a model
EXIT_ORPHANED = 3
AP_LOG = MONITORED["latent"]


@dataclass(frozen=True)
class Trained:
    """A training run, and the model it saved (None when the training failed)."""

    result: TrainResult
    saved: SavedModel | None


def train_and_save(
    hp: Hyperparameters,
    data: PreparedData,
    models_dir: str | Path,
    *,
    trial: int,
    branches: int,
    verbose: int = 0,
    checkpoint: Path | None = None,
    checkpoint_every: float = EVERY_SECONDS,
    callbacks: list | None = None,
    seed_number: int = 0,
    scored: ScoredWindows | None = None,
) -> Trained:
    """Train on the healthy training windows, validate on the healthy validation ones, and
    save a completed model under its encoded name with the data's preprocessing record: what
    ``vae-search train`` and every trial of a study do."""
    result = train_vae(
        hp,
        data.X_train_slim,
        data.X_val_slim,
        verbose=verbose,
        branches=branches,
        checkpoint=checkpoint,
        data_key=data.sha256,
        checkpoint_every=checkpoint_every,
        callbacks=callbacks,
        scored=scored,
    )
    if result.status != COMPLETED:
        return Trained(result, None)
    saved = save_model(
        result,
        models_dir,
        trial=trial,
        seed_number=seed_number,
        data_sha256=data.sha256,
        extra={"preprocessing": data.preprocessing()},
    )
    return Trained(result, saved)


def _resumed_line(epochs_done: int) -> str:
    """The log's line for a training that goes on from its checkpoint."""
    return f"resumed from the checkpoint after epoch {epochs_done}"


class _EpochLog(keras.callbacks.Callback):
    """A line per epoch in the trial's log, as Keras' ``verbose=2`` prints it, and a record
    per epoch for the worker, which reports it to the study while the trial trains."""

    def __init__(self, records: Path, epochs: int) -> None:
        super().__init__()
        self.records = records
        self.epochs = epochs
        self.first_epoch: int | None = None  # of this attempt (None: it trained no epoch)

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_epoch is None:
            self.first_epoch = epoch
            if epoch:  # a checkpoint's epochs were done: say so before the run goes on
                print(_resumed_line(epoch), flush=True)
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        values = {name: float(value) for name, value in (logs or {}).items()}
        shown = " - ".join(
            f"{name}: {value:.4g}"
            for name, value in values.items()
            if math.isfinite(value) or name not in MONITORED.values()  # unscored: left out
        )
        print(f"Epoch {epoch + 1}/{self.epochs} - {seconds:.1f}s - {shown}", flush=True)
        with contextlib.suppress(OSError):  # a record it cannot write is a report missed
            EpochRecord(epoch + 1, values, seconds, time.time()).append_to(self.records)


def run_job(job: TrialJob, records: Path) -> TrialOutcome:
    """Train and save; a diverging run is a failed outcome, not an exception.

    The run's state is kept in the plan entry's checkpoint directory while it trains, so an
    attempt that was interrupted (a signal, a lost worker) goes on where it stopped when the
    trial is trained again; the directory goes once the attempt has ended either way.
    """
    checkpoint = Path(job.models_dir) / CHECKPOINTS_DIR / f"plan-{job.entry_stem}"
    hp = Hyperparameters.from_saved(job.config)
    seed = f" seed {job.seed_number}" if job.seed_number else ""
    print(f"plan entry {job.plan_index}{seed}: {json.dumps(hp.to_dict())}", flush=True)
    data = load_prepared(job.prepared)
    stop_at(job.stop_at)
    epoch_log = _EpochLog(records, hp.epochs)
    # the kept weights are scored whatever score_every is: their PR-AUC is the trial's value
    windows = validation_windows(data, max(job.score_every, 1))
    try:
        trained = train_and_save(
            hp,
            data,
            job.models_dir,
            trial=job.plan_index,
            seed_number=job.seed_number,
            scored=windows if job.score_every else None,
            branches=use_cores(job.threads),
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_seconds(),
            callbacks=[epoch_log],
        )
    except TimeLimitReached as stopped:  # the checkpoint stays: the next attempt goes on
        print(f"end: {stopped}", flush=True)
        return TrialOutcome(TrialStatus.STOPPED, reason=str(stopped))
    result, saved = trained.result, trained.saved
    if result.resumed_at and epoch_log.first_epoch is None:  # no epoch was left to train
        print(_resumed_line(result.resumed_at), flush=True)
    shutil.rmtree(checkpoint, ignore_errors=True)
    ended = f"saved as {saved.name}" if saved else f"failed: {result.reason}"
    print(
        f"end: {result.epochs_trained} epochs (best {result.best_epoch}), "
        f"{result.wall_time:.1f} s; {ended}",
        flush=True,
    )
    summary = result.summary()
    if saved is not None and AP_LOG not in summary:  # no epoch scored: score the kept weights
        summary.update(windows.scores(result.model))
    return TrialOutcome(
        TrialStatus.FAILED if saved is None else TrialStatus.COMPLETED,
        reason=result.reason,
        summary=summary,
        epoch_seconds=sum(result.epoch_times),
        model_name=saved and saved.name,
        # relative to the study directory, so a copied study still finds its models
        model_path=saved and f"{MODELS_DIR}/{saved.name}",
        ap_curve=[v if math.isfinite(v) else None for v in result.history.get(AP_LOG, [])],
    )


def _exit_when_orphaned(worker_pid: int) -> None:
    """End the job when its worker's process, the run's, is gone (killed, say).

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
    pin_this_process(job.gpu)  # before anything here can start CUDA
    threading.Thread(
        target=_exit_when_orphaned, args=(job.worker_pid,), name="orphan-check", daemon=True
    ).start()
    descriptor = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for stream in (1, 2):  # TensorFlow's own logging writes to the descriptors, not sys.stderr
        os.dup2(descriptor, stream)
    os.close(descriptor)
    if job.gpu is not None:
        print(f"gpu: CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}", flush=True)
    try:
        outcome = run_job(job, epochs_path(Path(job_path)))
    except Exception as exc:  # reported as the trial's failure reason, with the traceback logged
        traceback.print_exc()
        outcome = TrialOutcome.failed(f"{type(exc).__name__}: {exc}")
    replace(outcome, peak_memory_mb=_peak_memory_mb()).write(outcome_path(Path(job_path)))


def _peak_memory_mb() -> float | None:
    """This process's peak resident memory in MB (TensorFlow's pages it shares with its job
    server included): what a run needs per worker to know how many the machine holds."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes there, KiB here
