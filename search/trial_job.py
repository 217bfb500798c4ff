"""One training job in its own process: train one planned configuration and save its model.

Run as ``python -m search.trial_job JOB.json``. One process per job is what makes a crash (out
of memory, segfault, kill) fail only that trial, keeps memory from growing from trial to
trial, and gives each job a fresh TensorFlow (with GPU memory growth set before anything
else). The job never touches the study database: it writes its result next to the job file,
atomically, and the worker that started it records the result.
"""

from __future__ import annotations

import json
import sys
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from data_prep.files import write_text_atomically
from studies.storage import MODELS_DIR


@dataclass(frozen=True)
class TrialJob:
    plan_index: int
    config: dict[str, Any]
    prepared: str  # path of the prepared .npz
    models_dir: str
    threads: int  # TensorFlow intra-op threads, so parallel jobs do not oversubscribe cores

    def write(self, path: Path) -> None:
        _write_json(path, asdict(self))

    @staticmethod
    def read(path: Path) -> TrialJob:
        return TrialJob(**json.loads(path.read_text()))


def result_path(job_path: Path) -> Path:
    return job_path.with_suffix(".result.json")


def run_job(job: TrialJob) -> dict[str, Any]:
    """Train and save; a diverging run is a failed result, not an exception."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(job.threads)
    tf.config.threading.set_inter_op_parallelism_threads(job.threads)

    from data_prep.prepared import load_prepared
    from vae.hyperparams import Hyperparameters
    from vae.storage import save_model
    from vae.training import COMPLETED, train_vae

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
        saved = save_model(result, job.models_dir, trial=job.plan_index, data_sha256=data.sha256)
        # relative to the study directory, so a copied study still finds its models
        outcome.update(model_name=saved.name, model_path=f"{MODELS_DIR}/{saved.name}")
    return outcome


def main(argv: list[str] | None = None) -> int:
    job_path = Path((argv or sys.argv[1:])[0])
    try:
        outcome = run_job(TrialJob.read(job_path))
    except Exception as exc:  # reported as the trial's failure reason, with the traceback logged
        traceback.print_exc()
        outcome = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"}
    _write_json(result_path(job_path), outcome)
    return 0


def _write_json(path: Path, content: dict[str, Any]) -> None:
    write_text_atomically(path, json.dumps(content, indent=2))


if __name__ == "__main__":
    sys.exit(main())
