"""A training job's input and output: what the worker hands its job process, and what the job
hands back, as files beside each other in the study's logs.

:class:`TrialJob` is the job's description; :class:`TrialOutcome` (with its
:class:`TrialStatus`) is what training the trial gave, the one typed value that passes from
the job to the worker to the ledger. Their ``write`` and ``read`` are the only code that knows
the files' layout.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from data_prep.files import write_text_atomically
from vae.scores import DEFAULT_SCORE_EVERY


@dataclass(frozen=True)
class TrialJob:
    plan_index: int
    config: dict[str, Any]
    prepared: str  # path of the prepared .npz
    models_dir: str
    threads: int  # TensorFlow intra-op threads, so parallel jobs do not oversubscribe cores
    worker_pid: int  # the run's process, whose worker threads start jobs: gone, the job ends
    seed_number: int = 0  # which of the configuration's seeds
    score_every: int = DEFAULT_SCORE_EVERY  # validation PR-AUC every N epochs (0: never)
    gpu: str | None = None  # the GPU the job sees alone (CUDA_VISIBLE_DEVICES); None: as it is
    stop_at: float | None = None  # the run's time limit (time.time()): checkpoint and stop

    @property
    def entry_stem(self) -> str:
        """The plan entry in file names: ``00007``, or ``00007-s2`` for a further seed."""
        seed = f"-s{self.seed_number}" if self.seed_number else ""
        return f"{self.plan_index:05d}{seed}"

    def write(self, path: Path) -> None:
        write_text_atomically(path, json.dumps(asdict(self), indent=2))

    @staticmethod
    def read(path: Path) -> TrialJob:
        return TrialJob(**json.loads(path.read_text()))


def outcome_path(job_path: Path) -> Path:
    """Where the job writes its :class:`~search.execution.job.TrialOutcome`."""
    return job_path.with_suffix(".result.json")


class TrialStatus(StrEnum):
    """How a trial's training ended."""

    COMPLETED = "completed"  # trained, saved, its validation loss known
    FAILED = "failed"  # diverged, raised, or its process died
    STOPPED = "stopped"  # at the run's time limit, its state checkpointed: to be resumed
    LOST = "lost"  # its job server ended under it (the job was killed): to be resumed


@dataclass(frozen=True)
class TrialOutcome:
    status: TrialStatus
    reason: str | None = None  # why it failed
    summary: dict[str, Any] = field(default_factory=dict)  # TrainResult.summary()
    epoch_seconds: float | None = None  # the epochs' own time, without building and saving
    model_name: str | None = None
    model_path: str | None = None  # relative to the study directory
    peak_memory_mb: float | None = None  # the job process's peak resident memory
    # the validation latent PR-AUC of each epoch (None where not scored): the learning curve
    # of what the search wants, which the scores study shows the dashboard
    ap_curve: list[float | None] = field(default_factory=list)

    @classmethod
    def failed(cls, reason: str) -> TrialOutcome:
        return cls(TrialStatus.FAILED, reason)

    @property
    def completed(self) -> bool:
        """Trained and saved with a validation loss: what a trial needs to complete."""
        return self.status is TrialStatus.COMPLETED and self.val_loss is not None

    @property
    def val_loss(self) -> float | None:
        return self.summary.get("val_loss")

    def write(self, path: Path) -> None:
        write_text_atomically(path, json.dumps({**asdict(self), "status": self.status.value}))

    @classmethod
    def read(cls, path: Path) -> TrialOutcome:
        fields = json.loads(path.read_text())
        return cls(**{**fields, "status": TrialStatus(fields["status"])})


def epochs_path(job_path: Path) -> Path:
    """Where the job appends a line per finished epoch, for the worker to report live."""
    return job_path.with_suffix(".epochs.jsonl")


@dataclass(frozen=True)
class EpochRecord:
    """One finished epoch of a training job: its number (from 1), losses and duration."""

    epoch: int
    logs: dict[str, float]  # loss, reconstruction, kl, val_loss, ... as Keras names them
    seconds: float
    at: float  # when it ended (time.time())

    @property
    def val_loss(self) -> float | None:
        return self.logs.get("val_loss")

    def append_to(self, path: Path) -> None:
        """One line, appended and flushed: a reader sees whole lines, or a part it leaves."""
        with path.open("a", encoding="utf-8") as lines:
            lines.write(json.dumps(asdict(self)) + "\n")


def read_epochs(path: Path, offset: int = 0) -> tuple[list[EpochRecord], int]:
    """The epochs recorded after byte ``offset``, and the offset after the last whole line."""
    try:
        with path.open("rb") as lines:
            lines.seek(offset)
            data = lines.read()
    except FileNotFoundError:
        return [], offset
    whole = data[: data.rfind(b"\n") + 1]
    return [r for r in map(_record, whole.splitlines()) if r], offset + len(whole)


def _record(line: bytes) -> EpochRecord | None:
    """An epoch's line, or None for one that is not whole (a write cut short by a full disk):
    progress is reported as well as it can be, never at the training's cost."""
    try:
        return EpochRecord(**json.loads(line))
    except (ValueError, TypeError):
        return None
