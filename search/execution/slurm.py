"""A study on a SLURM cluster: ``vae-search slurm`` writes the ``sbatch`` script of a job array
whose tasks each run ``vae-search run`` on the study until shortly before the job's time limit.

Each task is one ``run`` against the study's shared storage: a journal on the cluster's shared
file system (``journal:PATH``, no server) or PostgreSQL; tasks claim trials from the same
ledger, so every planned trial is trained once however many tasks run and whenever they start.
SQLite is refused: on a shared (network) file system its locks are not honoured and the file
corrupts. The script follows the usual conventions: ``#SBATCH`` lines for the array, the time,
the GPUs and a log per task (``%A_%a``: the array's job id and the task's index), and
``--signal=B:TERM@120``, which has SLURM send SIGTERM to the batch shell 120 s before the time
limit. The shell ``exec``s the run, so the signal reaches ``run`` itself, which puts its trials
back to waiting at once. Before that, ``--until`` (the time limit less a margin) has the run
start no trial it cannot finish and checkpoint the running ones at the epoch's end: the
signal is the backstop, the margin the plan. With GPUs, the task runs one worker per GPU SLURM
gives it (SLURM sets ``CUDA_VISIBLE_DEVICES``; ``--gpus all`` pins one worker to each).
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from data_prep.errors import ParameterError, check_integer
from search.execution.budget import duration_seconds
from search.execution.status import duration
from studies.storage import locate, open_study

SIGNAL_SECONDS = 120
DEFAULT_MARGIN = "5m"
_ARRAY = re.compile(r"\d+(-\d+)?(:\d+)?(,\d+(-\d+)?(:\d+)?)*(%\d+)?")
_TIME = re.compile(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?")
_PARTITION = re.compile(r"[A-Za-z0-9._-]+(,[A-Za-z0-9._-]+)*")  # one, or a list SLURM picks from


@dataclass(frozen=True)
class SlurmJob:
    study: Path
    storage: str
    array: str
    time_limit: str
    gpus_per_task: int
    per_gpu: int
    workers: int
    margin_seconds: int
    cpus_per_task: int | None = None
    partition: str | None = None

    @property
    def until(self) -> str:
        """The run's ``--until``: the job's time less the margin, as a duration."""
        seconds = slurm_seconds(self.time_limit) - self.margin_seconds
        hours, rest = divmod(seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        parts = ((hours, "h"), (minutes, "m"), (seconds, "s"))
        return "".join(f"{value}{unit}" for value, unit in parts if value) or "0s"

    def task_command(self) -> list[str]:
        """What each task runs: this Python's vae-search, on the study's shared storage."""
        command = [sys.executable, "-m", "search.cli", "run", "--study", str(self.study)]
        command += ["--storage", self.storage, "--until", self.until, "--no-progress"]
        if self.gpus_per_task:
            command += ["--gpus", "all", "--per-gpu", str(self.per_gpu)]
        else:
            command += ["--workers", str(self.workers)]
        return command

    def script(self) -> str:
        """The script; every value in it is checked (``slurm_script``), quoted for sbatch's
        ``#SBATCH`` lines or for the shell, or escaped in a comment: none becomes a line or a
        word of shell."""
        name = re.sub(r"[^A-Za-z0-9._-]", "_", self.study.name) or "study"
        logs = _sbatch_path(self.study / "logs" / "slurm-%A_%a.out")
        lines = [
            "#!/bin/bash",
            f"# vae-search: a job array training the study {_comment(self.study)}",
            "# written by vae-search slurm; submit it with sbatch",
            f"#SBATCH --job-name=vae-search-{name}",
            f"#SBATCH --array={self.array}",
            "#SBATCH --ntasks=1",
            f"#SBATCH --time={self.time_limit}",
            f"#SBATCH --signal=B:TERM@{SIGNAL_SECONDS}",
            f"#SBATCH --output={logs}",
            f"#SBATCH --error={logs}",
        ]
        if self.gpus_per_task:
            lines.append(f"#SBATCH --gpus-per-task={self.gpus_per_task}")
        if self.cpus_per_task:
            lines.append(f"#SBATCH --cpus-per-task={self.cpus_per_task}")
        if self.partition:
            lines.append(f"#SBATCH --partition={self.partition}")
        margin = duration(self.margin_seconds)
        lines += [
            "set -euo pipefail",
            'echo "vae-search: task ${SLURM_ARRAY_TASK_ID:-?} of job ${SLURM_ARRAY_JOB_ID:-?} '
            'on $(hostname), $(date -u +%FT%TZ)"',
            f"# until {self.time_limit} less {margin}: no trial starts that cannot end by "
            "then, running ones are checkpointed; SIGTERM 120 s before the end puts back "
            "whatever still runs",
            "exec " + shlex.join(self.task_command()),
            "",
        ]
        return "\n".join(lines)


def _sbatch_path(path: Path) -> str:
    """A path as an ``#SBATCH`` line's value: in double quotes (sbatch splits the line at
    spaces otherwise), with SLURM's ``%`` of a directory's name doubled; a path that a line
    cannot carry (a newline, a double quote, a backslash) is refused."""
    text = str(path)
    if any(c in text for c in '"\\') or not text.isprintable():
        raise ParameterError(
            "study", f"{text!r}: an #SBATCH line cannot carry this path; rename the directory"
        )
    head, tail = str(path.parent).replace("%", "%%"), path.name
    return f'"{head}/{tail}"'


def _comment(path: Path) -> str:
    """A path in a comment line: escaped, so that no character of it ends the comment."""
    return str(path).encode("unicode_escape").decode("ascii")


def slurm_seconds(text: str) -> int:
    """SLURM's time formats in seconds: minutes, minutes:seconds, hours:minutes:seconds,
    days-hours, days-hours:minutes, days-hours:minutes:seconds."""
    found = _TIME.fullmatch(str(text))
    if not found:
        raise ParameterError("time", f"expected a SLURM time such as 4:00:00, got {text!r}")
    days, first, second, third = found.groups()
    if days is not None:  # days-hours[:minutes[:seconds]]
        hms = (int(first), int(second or 0), int(third or 0))
    elif third is not None:  # hours:minutes:seconds
        hms = (int(first), int(second), int(third))
    else:  # minutes[:seconds]
        hms = (0, int(first), int(second or 0))
    return int(days or 0) * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2]


def _margin_seconds(text: str) -> int:
    seconds = duration_seconds(text)
    if seconds is None:
        raise ParameterError("margin", f"expected a duration such as 5m or 90s, got {text!r}")
    return seconds


def slurm_script(
    study: str | Path,
    storage: str | None,
    array: str = "0-15",
    time_limit: str = "4:00:00",
    gpus_per_task: int = 1,
    per_gpu: int = 1,
    workers: int = 1,
    margin: str = DEFAULT_MARGIN,
    cpus_per_task: int | None = None,
    partition: str | None = None,
) -> str:
    """The sbatch script of a job array training ``study`` on its shared ``storage``.

    The study must be launched already (the script only runs it); its storage must be a
    journal or PostgreSQL, never the study directory's SQLite file."""
    location = locate(study, storage)
    if location.is_sqlite:
        raise ParameterError(
            "storage",
            "must be journal:PATH or a postgresql:// URL for a SLURM array: SQLite on a "
            "shared file system corrupts",
        )
    if not _ARRAY.fullmatch(str(array)):
        raise ParameterError(
            "array", f"expected a SLURM array such as 0-15 or 0-15%4, got {array!r}"
        )
    check_integer("gpus_per_task", gpus_per_task, 0)
    check_integer("per_gpu", per_gpu, 1)
    check_integer("workers", workers, 1)
    if cpus_per_task is not None:
        check_integer("cpus_per_task", cpus_per_task, 1)
    if partition is not None and not _PARTITION.fullmatch(partition):
        raise ParameterError("partition", f"expected a SLURM partition name, got {partition!r}")
    _sbatch_path(location.directory.absolute())
    margin_seconds = _margin_seconds(margin)
    if margin_seconds < SIGNAL_SECONDS:
        raise ParameterError("margin", f"must be at least {SIGNAL_SECONDS}s (the SIGTERM's lead)")
    if slurm_seconds(time_limit) <= margin_seconds:
        raise ParameterError("time", f"{time_limit} leaves nothing after the margin ({margin})")
    open_study(location)  # launched?
    job = SlurmJob(
        location.directory.absolute(),
        location.url,
        str(array),
        str(time_limit),
        gpus_per_task,
        per_gpu,
        workers,
        margin_seconds,
        cpus_per_task,
        partition,
    )
    return job.script()
