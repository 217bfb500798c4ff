"""Commands that plan, run and watch a study: launch, run, status, dashboard."""

from __future__ import annotations

import argparse
from pathlib import Path

from data_prep.splits import SPLITS
from search.cli.common import EXIT_TRIALS_FAILED, add_data_options, study_command


def cmd_launch(args: argparse.Namespace) -> int:
    from search import launch

    result = launch(
        args.study,
        args.spec,
        args.trials,
        args.seed,
        args.storage,
        args.data,
        args.labels,
        args.data_dir,
        seeds=args.seeds,
        name=args.name,
        split=args.split,
    )
    print("\n".join(result.lines()))
    return 0


def add_launch(subparsers: argparse._SubParsersAction) -> None:
    p = study_command(
        subparsers,
        cmd_launch,
        "launch",
        help="plan a random search and store its trials as waiting",
        description=(
            "Sample every configuration of the spec up front (scikit-learn ParameterSampler, "
            "seeded), replace duplicates, and store the trials as waiting in the study. "
            "Launching again with more trials extends the plan; another spec is refused."
        ),
    )
    p.add_argument(
        "--spec",
        required=True,
        type=Path,
        help="a TOML spec file, or a built-in spec: paper (the reference study's space), smoke",
    )
    p.add_argument("--trials", type=int, default=None, help="number of trials (the spec's)")
    p.add_argument("--seed", type=int, default=None, help="plan seed (the spec's)")
    p.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="trainings per configuration, each with its own seed (the spec's [study] seeds, "
        "1); more than the study has trains only the new seeds",
    )
    p.add_argument(
        "--name",
        default=None,
        help="the study's Optuna name in its storage (the directory's name; vae-search in "
        "the directory's own study.db); a storage holds many studies, each its own",
    )
    p.add_argument(
        "--split",
        choices=SPLITS,
        default=None,
        help="paper: the reference split, by window (cuts leak between train and test); cut: "
        "whole cuts per split, leakage-free (the spec's [data] split, else paper)",
    )
    add_data_options(p, "mill.mat (the spec's [data] mat, else DATA_DIR/mill.mat)")


def cmd_run(args: argparse.Namespace) -> int:
    from search import run

    report = run(
        args.study,
        args.storage,
        args.workers,
        progress=not args.no_progress,
        wait=not args.no_wait,
        retry_failed=args.retry_failed,
        force=args.force,
        gpus=args.gpus,
        per_gpu=args.per_gpu,
        until=args.until,
        max_trials=args.max_trials,
    )
    print("\n".join(report.lines()))
    return EXIT_TRIALS_FAILED if report.failures else 0


def add_run(subparsers: argparse._SubParsersAction) -> None:
    p = study_command(
        subparsers,
        cmd_run,
        "run",
        help="train every waiting trial with K workers; resumes an interrupted run",
        description=(
            "Start K workers; each claims the next waiting trial, trains it in its own process, "
            "saves the model under its encoded name and records it, until nothing waits. "
            "Trials of a run that died (no heartbeat) are trained again with their seeds; "
            "trials other runs are training are waited for. Exit code 1 when a trial of this "
            "run failed, with which and why."
        ),
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="parallel workers (1; with GPUs, one per GPU, each pinned); at most what the "
        "machine holds (its cores, its memory at the study's measured memory per job, one per "
        "GPU) unless --force",
    )
    p.add_argument(
        "--gpus",
        default=None,
        help="GPU ids such as 0,1,2,3, or all: one worker per GPU, each training process "
        "pinned to its GPU (CUDA_VISIBLE_DEVICES)",
    )
    p.add_argument(
        "--per-gpu", type=int, default=1, help="training processes per GPU (1), with --gpus"
    )
    p.add_argument(
        "--until",
        default=None,
        help="a time limit: a duration (2h30m, 90m) or a clock time (17:45); no trial starts "
        "that is not expected to end by then, and running ones are checkpointed and put back "
        "to waiting at it",
    )
    p.add_argument(
        "--max-trials", type=int, default=None, help="start at most N trials in this run"
    )
    p.add_argument(
        "--force", action="store_true", help="start every worker asked for, even beyond that"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-wait",
        action="store_true",
        help="leave trials that other runs are training (by default: wait for them)",
    )
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="plan again, with their seeds, the configurations whose trainings all failed",
    )


def cmd_status(args: argparse.Namespace) -> int:
    from search import status

    print("\n".join(status(args.study, args.storage).lines()))
    return 0


def add_status(subparsers: argparse._SubParsersAction) -> None:
    study_command(
        subparsers,
        cmd_status,
        "status",
        help="trial counts per state, the best trial (validation latent PR-AUC), trials per hour",
    )


def cmd_studies(args: argparse.Namespace) -> int:
    from studies.storage import studies_in

    for name, trials, best in studies_in(args.storage):
        shown = "-" if best is None else f"{best:.4g}"
        print(f"{name}\t{trials} trials\tbest {shown}")
    return 0


def add_studies(subparsers: argparse._SubParsersAction) -> None:
    about = (
        "One line per Optuna study in the storage (a study directory's study, and its "
        "NAME-scores study once scored): its name, its trials and its best value."
    )
    p = subparsers.add_parser("studies", help="list the studies a storage holds", description=about)
    p.add_argument(
        "--storage", required=True, help="a postgresql:// or sqlite:/// URL, or journal:PATH"
    )
    p.set_defaults(handler=cmd_studies)


def cmd_dashboard(args: argparse.Namespace) -> int:
    from search import dashboard_server

    server = dashboard_server(args.study, args.storage, args.port, args.host)
    host, port = server.server_address[:2]
    print(f"optuna-dashboard for {args.study}: http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def add_dashboard(subparsers: argparse._SubParsersAction) -> None:
    from search.outputs.dashboard import HOST

    p = study_command(
        subparsers,
        cmd_dashboard,
        "dashboard",
        help="serve optuna-dashboard for the study (on 127.0.0.1 unless --host)",
        description=(
            "Serve optuna-dashboard for the study, on this machine only (127.0.0.1) unless "
            "--host: trials, states, each trial's learning curve and plots over the sampled "
            "hyperparameters against its validation PR-AUC, live while workers run; once "
            "scored, each study's note holds the ranking and the baselines, and the study "
            "vae-search-scores shows configurations, their seeds averaged. Stop it with Ctrl-C."
        ),
    )
    p.add_argument("--port", type=int, default=8080, help="(8080)")
    p.add_argument(
        "--host",
        default=HOST,
        help=f"the address to listen on ({HOST}: this machine only); 0.0.0.0 listens on "
        "every network, where anyone who reaches it can edit the study's notes and trial "
        "states",
    )
