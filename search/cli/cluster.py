"""The command that puts a study on a SLURM cluster: slurm."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from search.cli.common import study_command, writable_output


def cmd_slurm(args: argparse.Namespace) -> int:
    from data_prep.files import write_text_atomically
    from search.execution.slurm import slurm_script

    script = slurm_script(
        args.study,
        args.storage,
        array=args.array,
        time_limit=args.time,
        gpus_per_task=args.gpus_per_task,
        per_gpu=args.per_gpu,
        workers=args.workers,
        margin=args.margin,
        cpus_per_task=args.cpus_per_task,
        partition=args.partition,
    )
    if args.out is None:
        print(script, end="")
        return 0
    write_text_atomically(writable_output(args.out, args), script)
    os.chmod(args.out, 0o755)
    print(f"sbatch script: {args.out} (submit it with: sbatch {args.out})")
    return 0


def add_slurm(subparsers: argparse._SubParsersAction) -> None:
    p = study_command(
        subparsers,
        cmd_slurm,
        "slurm",
        help="write the sbatch script of a SLURM job array that trains the study",
        description=(
            "Write an sbatch script: a job array whose tasks each run 'vae-search run "
            "--until' (the job's time less a margin) on the study's shared storage, a "
            "journal:PATH or a postgresql:// URL (SQLite on a shared file system corrupts, "
            "so it is refused). SIGTERM 120 s before the time limit puts back what still "
            "runs; a log per task goes to STUDY/logs/slurm-<job>_<task>.out."
        ),
    )
    p.add_argument("--array", default="0-15", help="the array's task indices (0-15)")
    p.add_argument("--time", default="4:00:00", help="each task's time limit (4:00:00)")
    p.add_argument(
        "--gpus-per-task", type=int, default=1, help="GPUs per task (1); 0 trains on CPUs"
    )
    p.add_argument("--per-gpu", type=int, default=1, help="training processes per GPU (1)")
    p.add_argument("--workers", type=int, default=1, help="workers per task without GPUs (1)")
    p.add_argument("--cpus-per-task", type=int, default=None, help="(SLURM's default)")
    p.add_argument("--partition", default=None, help="(SLURM's default)")
    p.add_argument(
        "--margin",
        default="5m",
        help="how long before the time limit the run stops starting and checkpoints (5m)",
    )
    p.add_argument("--out", type=Path, default=None, help="the script file (else stdout)")
