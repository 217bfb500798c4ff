"""Commands on one model: train it, import a published one, predict with it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from data_prep.errors import DataFileError, InputError
from search.cli.common import (
    add_abnormal,
    add_data_dir,
    data_files,
    existing_parent,
    study_command,
    writable_output,
)
from search.evaluation.names import DEFAULT_SPACE, RANK_SPACES


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
    models_dir = existing_parent(Path(args.out))

    from search import train_and_save
    from vae.training import use_cores

    trained = train_and_save(
        hp,
        data,
        models_dir,
        trial=args.trial,
        branches=use_cores(os.cpu_count() or 1),
        verbose=args.verbose,
    )
    result, saved = trained.result, trained.saved
    summary = result.summary()
    print(
        f"{result.status}: {result.epochs_trained} epochs (best {result.best_epoch}), "
        f"val_loss {summary['val_loss']}, {result.param_count} parameters, "
        f"{result.wall_time:.1f} s (first epoch {result.first_epoch_time:.1f} s)"
    )
    if saved is None:
        print(f"vae-search: training failed: {result.reason}", file=sys.stderr)
        return 1
    print(saved.name)
    print(saved.path)
    return 0


def add_train(subparsers: argparse._SubParsersAction) -> None:
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


def cmd_import(args: argparse.Namespace) -> int:
    from search import import_model

    saved = import_model(args.published, args.out, args.study, args.storage)
    hp, training = saved.manifest["hyperparameters"], saved.manifest["training"]
    print(
        f"imported {args.published}: tcn {hp['tcn']}, beta {hp['beta_value']:.4g}, "
        f"{training['param_count']} parameters, {saved.manifest['channels']} signals"
        + (f"; recorded in {args.study}" if args.study else "")
    )
    print(saved.path.resolve())
    return 0


def add_import(subparsers: argparse._SubParsersAction) -> None:
    p = study_command(
        subparsers,
        cmd_import,
        "import",
        study_required=False,
        help="bring a model into a study: one vae-search train saved, or a Keras 2 model of "
        "this family (the paper's published one)",
        description=(
            "A vae-search model directory (as vae-search train saves it) is recorded in the "
            "study given by --study, copied into its models directory unless it lies there "
            "already; one trained on other prepared data than the study's is refused. A "
            "folder holding a Keras 2 model.json and weights.h5 of a TCN beta-VAE of this "
            "family (the published best model's _bvae folder) is converted: its "
            "hyperparameters recovered, the paper's TCN (tcn=hahn2021) built, every weight "
            "copied by name, and saved as a vae-search model directory (recorded in the "
            "study too with --study). The last line printed is the model's path."
        ),
    )
    p.add_argument(
        "published",
        type=Path,
        help="a vae-search model directory, or a folder with model.json and weights.h5",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="the models directory to save into (with --study: the study's models/)",
    )


def cmd_predict(args: argparse.Namespace) -> int:
    from data_prep.files import writable_directory
    from search import predict

    # a file named by --data is new data: only --labels gives its regions and classes, never
    # the data directory's labels, which belong to the data directory's mill.mat
    data, labels = (args.data, args.labels) if args.data else data_files(args)
    out = (
        None
        if args.out is None
        else writable_directory(writable_output(args.out, folder=True), "output directory")
    )
    prediction = predict(
        args.model, data, labels, args.threshold, args.space, args.tier, args.abnormal
    )
    print("\n".join(prediction.summary()))
    if out is not None:
        windows, cuts = prediction.write(out)
        print(f"wrote {windows.resolve()} and {cuts.resolve()}")
    if prediction.log is None:
        print(f"vae-search: not logged: {args.model} cannot be written", file=sys.stderr)
    else:
        print(f"logged to {prediction.log.resolve()}")
    return 0


def add_predict(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict",
        help="anomaly score and verdict per window and per cut of new data, with one model",
        description=(
            "Window and scale the data as the model's training data were, score each window "
            "(latent: KL divergence; input: reconstruction MSE from the mean coding) and flag "
            "it against the threshold chosen on validation when the model was scored (max F1). "
            "A cut is abnormal when at least half of its windows are. Windows come from each "
            "cut's stable cutting region when --labels gives it (which adds the metrics), else "
            "from the whole cut. Prints a short summary; --out DIR writes windows.csv (one "
            "row per window) and cuts.csv (one row per cut)."
        ),
    )
    p.add_argument("--model", required=True, type=Path, help="a saved model directory")
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="the cuts to score: a MAT file in the milling layout, or a .npz holding 'cuts' "
        "(cuts x samples x signals) and 'signals' (their names) (DATA_DIR/mill.mat, with its "
        "labels)",
    )
    p.add_argument(
        "--labels",
        type=Path,
        default=None,
        help="labels CSV giving each cut's stable region and class, adding the metrics (with "
        "--data: none, whole cuts are scored; without: DATA_DIR's labels, else the shipped ones)",
    )
    add_data_dir(p)
    p.add_argument(
        "--out", type=Path, default=None, help="directory to write windows.csv and cuts.csv to"
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="a score threshold of your own, instead of the model's tier",
    )
    p.add_argument("--space", choices=RANK_SPACES, default=DEFAULT_SPACE, help=f"({DEFAULT_SPACE})")
    p.add_argument(
        "--tier",
        default=None,
        help="which of the model's thresholds: max-f1 (chosen on validation), or a healthy-"
        "percentile tier set by score: watch or act (max-f1); not with --threshold",
    )
    add_abnormal(p)
    p.set_defaults(handler=cmd_predict)
