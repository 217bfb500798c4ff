"""What the commands share: one-line usage errors, option types, the study options."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path

from data_prep.errors import DataFileError
from search.evaluation.names import (
    DEFAULT_ABNORMAL,
    DEFAULT_METRIC,
    DEFAULT_SPACE,
    RANK_SPACES,
    UNITS,
)
from studies.storage import StudyError
from vae.metrics import METRICS

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # as a shell reports a command stopped by Ctrl-C
EXIT_TRIALS_FAILED = 1  # a run some of whose trials failed (the report says which and why)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def csv_list(text: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in text.split(",") if item.strip())
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list")
    return items


def thresholds(text: str) -> tuple[float, float]:
    try:
        healthy, failed = (float(item) for item in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected two numbers such as 0.2,0.7, got {text!r}"
        ) from None
    return healthy, failed


def existing_parent(path: Path) -> Path:
    """Refuse an output path whose parent directory is missing, before any work is done."""
    if not path.parent.is_dir():
        raise DataFileError(path, f"directory '{path.parent}' does not exist")
    return path


def writable_output(
    path: Path, args: argparse.Namespace | None = None, folder: bool = False
) -> Path:
    """Refuse an output file whose directory is missing, or which is a directory (unless
    ``folder``: an output directory), or which is what a study or a model is read from (the
    study of ``args``, any other: :func:`studies.storage.check_not_an_input`)."""
    from studies.storage import check_not_an_input, locate

    if not folder:
        existing_parent(path)
        if path.is_dir():
            raise DataFileError(path, "is a directory; give a file name")
    study = getattr(args, "study", None)
    check_not_an_input(path, None if study is None else locate(study, args.storage))
    return path


def classes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(item) for item in csv_list(text))
    except ValueError:
        message = f"expected classes such as 2 or 1,2, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None


def study_command(
    subparsers: argparse._SubParsersAction,
    handler: Callable[[argparse.Namespace], int],
    name: str,
    study_required: bool = True,
    **texts: str,
) -> argparse.ArgumentParser:
    """A subcommand that works on a study: --study, --storage, and its handler."""
    p = subparsers.add_parser(name, **texts)
    p.add_argument("--study", required=study_required, type=Path, help="the study directory")
    p.add_argument(
        "--storage",
        default=None,
        help="instead of STUDY/study.db: a postgresql:// URL, or journal:PATH (a journal "
        "file on a shared file system, no database server needed); once launched, the study "
        "directory records it (STUDY/storage.json) and later commands need it no more",
    )
    p.add_argument(
        "--verbose",
        action="store_true",
        help="with an error that has more to say (a damaged database), print all of it",
    )
    p.set_defaults(handler=_details_on_request(handler))
    return p


def _details_on_request(
    handler: Callable[[argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    """The handler, with the details behind a study's one-line error (SQLite's report on a
    damaged database runs to many lines) printed before it under --verbose, and pointed at
    otherwise: the line stays one line."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except StudyError as exc:
            if not exc.details:
                raise
            if args.verbose:
                print(exc.details, file=sys.stderr)
                raise
            raise StudyError(f"{exc}; --verbose prints them all") from None

    return run


def add_abnormal(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--abnormal",
        type=classes,
        default=DEFAULT_ABNORMAL,
        help="tool classes counted as abnormal: 2 (failed, the default) or 1,2 (degraded too)",
    )


def add_rank_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", choices=RANK_SPACES, default=DEFAULT_SPACE, help=f"({DEFAULT_SPACE})")
    p.add_argument(
        "--metric",
        choices=tuple(METRICS),
        default=DEFAULT_METRIC,
        help="ap: average precision; paper: the reference 250-threshold PR-AUC; roc (ap)",
    )
    p.add_argument(
        "--unit",
        choices=UNITS,
        default=UNITS[0],
        help="window: score each window; cut: each cut by its windows' mean score, "
        "metrics ap and roc (window)",
    )
    add_abnormal(p)


def say_unranked(args: argparse.Namespace) -> None:
    """Name the recorded models left out of rankings: those whose directory is gone, and
    those that could not be scored, with the reason."""
    from search.evaluation.ranking import missing_models, unscorable_models

    for name, path in missing_models(args.study, args.storage):
        print(f"vae-search: missing, not ranked: {name} ({path} is gone)", file=sys.stderr)
    for name, reason in unscorable_models(args.study, args.storage, args.abnormal):
        print(f"vae-search: not scored, not ranked: {name} ({reason})", file=sys.stderr)


def flag(parameter: str) -> str:
    """The option that fills a library function's parameter: ``workers`` is ``--workers``."""
    return f"-{parameter}" if len(parameter) == 1 else f"--{parameter.replace('_', '-')}"


def add_data_options(p: argparse.ArgumentParser, data_help: str) -> None:
    """--data, --labels and --data-dir: files given win; else the data directory's."""
    p.add_argument("--data", type=Path, default=None, help=data_help)
    p.add_argument(
        "--labels",
        type=Path,
        default=None,
        help="labels CSV (DATA_DIR/labels_with_tool_class.csv, else the reference labels "
        "shipped with vae-search)",
    )
    add_data_dir(p)


def add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where mill.mat is ($VAE_SEARCH_DATA, else the user's data directory)",
    )


def data_files(args: argparse.Namespace) -> tuple[Path, Path]:
    """The MAT file and labels CSV the options name, or the data directory's."""
    from data_prep.locations import labels_file, mill_file

    return args.data or mill_file(args.data_dir), labels_file(args.labels, args.data_dir)
