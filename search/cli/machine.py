"""The command that checks this machine: doctor."""

from __future__ import annotations

import argparse

from search.cli.common import EXIT_TRIALS_FAILED, add_data_dir, study_command


def cmd_doctor(args: argparse.Namespace) -> int:
    from search import doctor

    report = doctor(args.study, args.storage, args.data_dir)
    print("\n".join(report.lines()))
    return 0 if report.ok else EXIT_TRIALS_FAILED


def add_doctor(subparsers: argparse._SubParsersAction) -> None:
    p = study_command(
        subparsers,
        cmd_doctor,
        "doctor",
        study_required=False,
        help="what this machine gives a search: TensorFlow, CPU, oneDNN, GPUs, data, a training",
        description=(
            "One screen to paste whole into a bug report: Python, TensorFlow and Keras "
            "versions; the CPU and its features that matter to TensorFlow; oneDNN on or off "
            "and why; how dilated convolutions run; the GPUs seen with their memory; whether "
            "mill.mat and the labels are found; with --study, whether its storage opens; and "
            "a tiny training that proves the path. Exit code 1 when a check fails."
        ),
    )
    add_data_dir(p)
