"""The ``vae-search`` command line: a thin layer over functions a notebook can call too.

Every subcommand parses its options, calls one library function and prints. Heavy imports
(TensorFlow, scikit-learn) happen inside the handlers, so ``vae-search --help`` answers at once.
Bad input of any kind ends in one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from data_prep.errors import DataFileError, InputError
from search.defaults import DEFAULT_ABNORMAL, DEFAULT_REPEATS

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # as a shell reports a command stopped by Ctrl-C
EXIT_TRIALS_FAILED = 1  # a run some of whose trials failed (the report says which and why)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def _csv_list(text: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in text.split(",") if item.strip())
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list")
    return items


def _thresholds(text: str) -> tuple[float, float]:
    try:
        healthy, failed = (float(item) for item in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected two numbers such as 0.2,0.7, got {text!r}"
        ) from None
    return healthy, failed


def _existing_parent(path: Path) -> Path:
    """Refuse an output path whose parent directory is missing, before any work is done."""
    if not path.parent.is_dir():
        raise DataFileError(path, f"directory '{path.parent}' does not exist")
    return path


def _writable_output(path: Path) -> Path:
    """Refuse an output file whose directory is missing, or which is a directory."""
    _existing_parent(path)
    if path.is_dir():
        raise DataFileError(path, "is a directory; give a file name")
    return path


def cmd_prepare(args: argparse.Namespace) -> int:
    from data_prep.files import copy_atomically
    from data_prep.pipeline import PrepareConfig, prepare, prepare_cached, summary_lines
    from data_prep.prepared import load_prepared, save_prepared

    config = PrepareConfig(
        data=args.data,
        labels=args.labels,
        window=args.window,
        stride=args.stride,
        split=args.split,
        seed=args.seed,
        signals=args.signals,
        thresholds=args.thresholds,
    )
    out = _writable_output(Path(args.out))
    if args.no_cache:
        save_prepared(prepare(config), out)
        origin = "prepared"
    else:
        cached, hit = prepare_cached(config, args.cache_dir)
        copy_atomically(cached, out)
        origin = "from cache" if hit else "prepared"
    data = load_prepared(out)
    print("\n".join(summary_lines(data)))
    print(f"wrote {out} ({origin}; sha256 {data.sha256[:16]})")
    return 0


def _add_prepare(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "prepare",
        help="window, split and scale the milling data into an .npz file",
        description=(
            "Load the milling MAT file, drop corrupted cuts, cut each stable region into "
            "windows, split train/validation/test and min-max scale on the training split."
        ),
    )
    p.add_argument("--data", required=True, type=Path, help="mill.mat (five or six signals)")
    p.add_argument("--labels", required=True, type=Path, help="labels_with_tool_class.csv")
    p.add_argument("--out", required=True, type=Path, help="the .npz file to write")
    p.add_argument("--window", type=int, default=64, help="window size in samples (64)")
    p.add_argument("--stride", type=int, default=64, help="step between windows (64)")
    p.add_argument(
        "--split",
        choices=("paper", "cut"),
        default="paper",
        help="paper: the reference study's split by window; cut: leakage-free, by whole cut",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the cut split (0)")
    p.add_argument(
        "--signals", type=_csv_list, default=None, help="comma-separated signal fields (all)"
    )
    p.add_argument(
        "--thresholds",
        type=_thresholds,
        default=None,
        help="VB thresholds in mm, e.g. 0.2,0.7: derive classes from wear instead of the CSV",
    )
    p.add_argument("--cache-dir", type=Path, default=None, help="cache (~/.cache/vae-search)")
    p.add_argument("--no-cache", action="store_true", help="prepare even if cached")
    p.set_defaults(handler=cmd_prepare)


def cmd_download(args: argparse.Namespace) -> int:
    from data_prep.download import NASA_MILLING_URL, fetch_mill

    print(fetch_mill(args.dir, args.url or NASA_MILLING_URL))
    return 0


def _add_download(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "download",
        help="fetch the original six-signal mill.mat from NASA (once; sha256 checked)",
        description=(
            "Download NASA's milling archive, take mill.mat out of its nested zip files, check "
            "its sha256 and write it to DIR/mill.mat; a mill.mat already there is kept. The "
            "labels CSV is not part of NASA's archive."
        ),
    )
    p.add_argument("--dir", required=True, type=Path, help="where mill.mat goes")
    p.add_argument("--url", default=None, help="a mirror of NASA's archive (NASA's own)")
    p.set_defaults(handler=cmd_download)


def cmd_train(args: argparse.Namespace) -> int:
    from data_prep.prepared import load_prepared
    from vae.hyperparams import read_params

    hp = read_params(args.params)
    overrides = {
        "epochs": args.epochs,
        "earlystop_patience": args.patience,
        "batch_size": args.batch_size,
        "seed": args.seed,
    }
    hp = hp.replace(**{k: v for k, v in overrides.items() if v is not None})
    data = load_prepared(args.data)
    try:
        hp.check_window(data.window)
    except InputError as exc:
        raise DataFileError(args.data, str(exc)) from None
    models_dir = _existing_parent(Path(args.out))

    from vae.storage import save_model
    from vae.training import COMPLETED, train_vae, use_cores

    branches = use_cores(os.cpu_count() or 1)
    result = train_vae(
        hp, data.X_train_slim, data.X_val_slim, verbose=args.verbose, branches=branches
    )
    summary = result.summary()
    print(
        f"{result.status}: {result.epochs_trained} epochs (best {result.best_epoch}), "
        f"val_loss {summary['val_loss']}, {result.param_count} parameters, "
        f"{result.wall_time:.1f} s (first epoch {result.first_epoch_time:.1f} s)"
    )
    if result.status != COMPLETED:
        print(f"vae-search: training failed: {result.reason}", file=sys.stderr)
        return 1
    saved = save_model(
        result,
        models_dir,
        trial=args.trial,
        data_sha256=data.sha256,
        extra={"preprocessing": data.preprocessing()},
    )
    print(saved.name)
    print(saved.path)
    return 0


def _add_train(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train one beta-VAE on prepared data and save it under its encoded name",
        description=(
            "Fit one TCN beta-VAE on the healthy training windows, validate on the healthy "
            "validation windows with early stopping, and save it as MODELS_DIR/<name>/."
        ),
    )
    p.add_argument("--data", required=True, type=Path, help="a prepared .npz (vae-search prepare)")
    p.add_argument(
        "--params",
        required=True,
        help="hyperparameters as JSON or a JSON file, e.g. '{\"beta_value\": 3.92}'",
    )
    p.add_argument("--out", required=True, type=Path, help="models directory (MODELS_DIR)")
    p.add_argument("--epochs", type=int, help="maximum epochs (overrides --params)")
    p.add_argument("--patience", type=int, help="early-stopping patience (overrides --params)")
    p.add_argument("--batch-size", type=int, help="batch size (overrides --params)")
    p.add_argument("--seed", type=int, help="training seed (overrides --params)")
    p.add_argument("--trial", type=int, default=0, help="trial index written in the name (0)")
    p.add_argument("--verbose", type=int, default=0, choices=(0, 1, 2), help="Keras verbosity")
    p.set_defaults(handler=cmd_train)


def cmd_launch(args: argparse.Namespace) -> int:
    from search.launch import launch

    result = launch(
        args.study, args.spec, args.trials, args.seed, args.storage, args.data, args.labels
    )
    print("\n".join(result.lines()))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from search.run import run

    report = run(
        args.study,
        args.storage,
        args.workers,
        progress=not args.no_progress,
        wait=not args.no_wait,
        retry_failed=args.retry_failed,
    )
    print("\n".join(report.lines()))
    return EXIT_TRIALS_FAILED if report.failures else 0


def cmd_status(args: argparse.Namespace) -> int:
    from studies.ledger import study_status
    from studies.storage import load_or_create_study, locate, open_storage

    location = locate(args.study, args.storage)
    study = load_or_create_study(open_storage(location, create=False), create=False)
    print("\n".join(study_status(study).lines()))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from search.score_study import score_study

    report = score_study(
        args.study,
        args.storage,
        repeats=args.repeats,
        workers=args.workers,
        abnormal=args.abnormal,
    )
    print("\n".join(report.lines()))
    return 0


def cmd_best(args: argparse.Namespace) -> int:
    from search.score_study import best
    from search.tables import format_ranking

    rows = best(
        args.study,
        args.storage,
        n=args.n,
        space=args.space,
        metric=args.metric,
        abnormal=args.abnormal,
    )
    print(format_ranking(rows, args.format, f"{args.space} {args.metric}"))
    _say_missing(args)
    return 0


def _say_missing(args: argparse.Namespace) -> None:
    """Name the recorded models whose directory is gone (left out of rankings)."""
    from search.score_study import missing_models

    for name, path in missing_models(args.study, args.storage):
        print(f"vae-search: missing, not ranked: {name} ({path} is gone)", file=sys.stderr)


def cmd_predict(args: argparse.Namespace) -> int:
    from search.predict import predict

    prediction = predict(args.model, args.data, args.labels, args.threshold, args.space)
    print("\n".join(prediction.lines()))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from search.import_model import import_model

    saved = import_model(args.published, args.out, args.study, args.storage)
    hp, training = saved.manifest["hyperparameters"], saved.manifest["training"]
    print(
        f"imported {args.published}: tcn {hp['tcn']}, beta {hp['beta_value']:.4g}, "
        f"{training['param_count']} parameters, {saved.manifest['channels']} signals"
        + (f"; recorded in {args.study}" if args.study else "")
    )
    print(saved.path)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from search.report import write_report

    paths = write_report(args.study, args.out, args.storage, args.space, args.metric, args.abnormal)
    print("\n".join(f"wrote {p}" for p in paths))
    _say_missing(args)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from search.export import export_csv

    out = _writable_output(args.out)
    rows = export_csv(args.study, out, args.storage, args.abnormal)
    print(f"wrote {out} ({rows} models)")
    _say_missing(args)
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from search.dashboard import dashboard_server

    server = dashboard_server(args.study, args.storage, args.port)
    host, port = server.server_address[:2]
    print(f"optuna-dashboard for {args.study}: http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _classes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(item) for item in _csv_list(text))
    except ValueError:
        message = f"expected classes such as 2 or 1,2, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None


def _study_command(
    subparsers: argparse._SubParsersAction,
    handler: Callable[[argparse.Namespace], int],
    name: str,
    study_required: bool = True,
    **texts: str,
) -> argparse.ArgumentParser:
    """A subcommand that works on a study: --study, --storage, and its handler."""
    p = subparsers.add_parser(name, **texts)
    p.add_argument("--study", required=study_required, type=Path, help="the study directory")
    p.add_argument("--storage", default=None, help="a postgresql:// URL instead of STUDY/study.db")
    p.set_defaults(handler=handler)
    return p


def _add_launch(subparsers: argparse._SubParsersAction) -> None:
    p = _study_command(
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
    p.add_argument("--data", type=Path, default=None, help="mill.mat (the spec's [data] mat)")
    p.add_argument("--labels", type=Path, default=None, help="labels CSV (the spec's)")


def _add_run(subparsers: argparse._SubParsersAction) -> None:
    p = _study_command(
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
    p.add_argument("--workers", type=int, default=1, help="parallel workers (1)")
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


def _add_status(subparsers: argparse._SubParsersAction) -> None:
    _study_command(
        subparsers,
        cmd_status,
        "status",
        help="trial counts per state, best validation loss, trials per hour",
    )


def _add_abnormal(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--abnormal",
        type=_classes,
        default=DEFAULT_ABNORMAL,
        help="tool classes counted as abnormal: 2 (failed, the default) or 1,2 (degraded too)",
    )


def _add_score(subparsers: argparse._SubParsersAction) -> None:
    p = _study_command(
        subparsers,
        cmd_score,
        "score",
        help="score every saved model without a current score (PR-AUC, input and latent space)",
        description=(
            "Score each saved model on the full train, validation and test sets: reconstruction "
            "MSE (input space; repeated seeded draws, and the mean coding) and KL divergence "
            "(latent space), as average precision, the paper's 250-threshold PR-AUC and ROC-AUC. "
            "Models already scored by this scorer version are left as they are."
        ),
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=DEFAULT_REPEATS,
        help=f"sampled draws in input space ({DEFAULT_REPEATS})",
    )
    p.add_argument("--workers", type=int, default=1, help="parallel scoring processes (1)")
    _add_abnormal(p)


def _add_best(subparsers: argparse._SubParsersAction) -> None:
    from search.tables import FORMATS

    p = _study_command(
        subparsers,
        cmd_best,
        "best",
        help="the best N models by validation PR-AUC, test beside it",
        description=(
            "Rank scored models by their validation score (never by test) and show the test "
            "score beside it, the hyperparameters and the model path."
        ),
    )
    p.add_argument("-n", type=int, default=10, help="how many models (10)")
    p.add_argument("--format", choices=FORMATS, default="table", help="(table)")
    _add_rank_options(p)


def _add_rank_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", choices=("latent", "input"), default="latent", help="(latent)")
    p.add_argument(
        "--metric",
        choices=("ap", "paper", "roc"),
        default="ap",
        help="ap: average precision; paper: the reference 250-threshold PR-AUC; roc (ap)",
    )
    _add_abnormal(p)


def _add_report(subparsers: argparse._SubParsersAction) -> None:
    p = _study_command(
        subparsers,
        cmd_report,
        "report",
        help="PNG figures: the best model's curves, distributions, conditions, cut scores",
        description=(
            "Write PNG figures: precision-recall and ROC curves of the best model (validation "
            "and test, both spaces), its score distributions per class, PR-AUC against each "
            "hyperparameter over all models, the best model's test PR-AUC by material, feed and "
            "depth of cut, and mean window score per cut against flank wear."
        ),
    )
    p.add_argument("--out", required=True, type=Path, help="directory for the figures")
    _add_rank_options(p)


def _add_predict(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict",
        help="anomaly score and verdict per window and per cut of new data, with one model",
        description=(
            "Window and scale the data as the model's training data were, score each window "
            "(latent: KL divergence; input: reconstruction MSE from the mean coding) and flag "
            "it against the threshold chosen on validation when the model was scored (max F1). "
            "A cut is abnormal when at least half of its windows are."
        ),
    )
    p.add_argument("--model", required=True, type=Path, help="a saved model directory")
    p.add_argument("--data", required=True, type=Path, help="a milling MAT file")
    p.add_argument("--labels", required=True, type=Path, help="its labels CSV (cut regions)")
    p.add_argument("--threshold", type=float, default=None, help="(the model's, from scoring)")
    p.add_argument("--space", choices=("latent", "input"), default="latent", help="(latent)")
    p.set_defaults(handler=cmd_predict)


def _add_import(subparsers: argparse._SubParsersAction) -> None:
    p = _study_command(
        subparsers,
        cmd_import,
        "import",
        study_required=False,
        help="bring in a Keras 2 model of this family (the paper's published one) as our model",
        description=(
            "Read a folder holding a Keras 2 model.json and weights.h5 of a TCN beta-VAE of "
            "this family (the published best model's _bvae folder), recover its "
            "hyperparameters, build the paper's TCN (tcn=hahn2021), copy every weight by name "
            "and save it as a vae-search model directory; the last line printed is its path. "
            "With --study it is recorded in the study, to be scored and ranked with the rest."
        ),
    )
    p.add_argument("published", type=Path, help="the folder with model.json and weights.h5")
    p.add_argument("--out", required=True, type=Path, help="the models directory to save into")


def _add_export(subparsers: argparse._SubParsersAction) -> None:
    p = _study_command(
        subparsers,
        cmd_export,
        "export",
        help="one CSV row per model: the reference study's results columns plus every score",
        description=(
            "Write every saved model of the study to a CSV file: the reference study's results "
            "columns (beta_value ... model_name), then final activation, epochs, batch size, "
            "seed, trial and path, then each score of the current scorer."
        ),
    )
    p.add_argument("--out", required=True, type=Path, help="the CSV file to write")
    _add_abnormal(p)


def _add_dashboard(subparsers: argparse._SubParsersAction) -> None:
    p = _study_command(
        subparsers,
        cmd_dashboard,
        "dashboard",
        help="serve optuna-dashboard for the study on 127.0.0.1",
        description=(
            "Serve optuna-dashboard for the study on this machine only (127.0.0.1): trials, "
            "states, validation loss and plots over the sampled hyperparameters, live while "
            "workers run. Stop it with Ctrl-C."
        ),
    )
    p.add_argument("--port", type=int, default=8080, help="(8080)")


COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _add_download,
    _add_prepare,
    _add_train,
    _add_launch,
    _add_run,
    _add_status,
    _add_score,
    _add_best,
    _add_report,
    _add_predict,
    _add_import,
    _add_export,
    _add_dashboard,
)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vae-search",
        description="Random search of TCN beta-VAEs for tool-wear anomaly detection.",
    )
    subparsers = parser.add_subparsers(
        title="commands", metavar="COMMAND", required=True, parser_class=_Parser
    )
    for add in COMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except InputError as exc:
        print(f"vae-search: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:  # a full disk, a read-only file system, no permission
        where = exc.filename or "vae-search"
        print(f"vae-search: error: {where}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:
        from studies.storage import database_error

        reason = database_error(exc)
        if reason is None:
            raise
        print(f"vae-search: error: {_database_of(args)}: {reason}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as exc:
        print(f"vae-search: {str(exc) or 'interrupted'}", file=sys.stderr)
        return getattr(exc, "exit_code", EXIT_INTERRUPTED)


def _database_of(args: argparse.Namespace) -> str:
    study = getattr(args, "study", None)
    if study is None:
        return "the study database"
    from studies.storage import locate

    return locate(study, getattr(args, "storage", None)).database_name


if __name__ == "__main__":
    sys.exit(main())
