"""The ``vae-search`` command line: a thin layer over the functions of :mod:`search`.

Every subcommand parses its options, calls one library function and prints; one module per
group of commands. Heavy imports (TensorFlow, scikit-learn) happen inside the handlers, so
``vae-search --help`` answers at once. Bad input of any kind ends in one line on stderr and
exit code 2; a library error that names a parameter names its option here.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from data_prep.errors import InputError, ParameterError
from search.cli import cluster, data, machine, models, results, specs, study
from search.cli.common import EXIT_BAD_INPUT, EXIT_INTERRUPTED, Parser, flag
from search.execution.environment import check_environment
from search.execution.quiet import tensorflow_startup_filtered
from search.execution.stopping import ignore_stop_signals

COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    data.add_download,
    data.add_prepare,
    models.add_train,
    specs.add_spec,
    study.add_launch,
    study.add_run,
    study.add_status,
    study.add_studies,
    results.add_score,
    results.add_best,
    results.add_ensemble,
    results.add_show,
    results.add_report,
    models.add_predict,
    models.add_import,
    results.add_export,
    study.add_dashboard,
    machine.add_doctor,
    cluster.add_slurm,
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="vae-search",
        description="Random search of TCN beta-VAEs for tool-wear anomaly detection.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(
        title="commands", metavar="COMMAND", required=True, parser_class=Parser
    )
    for add in COMMANDS:
        add(subparsers)
    return parser


def _version() -> str:
    """The installed distribution's version, as pip and ``importlib.metadata`` report it."""
    from importlib.metadata import version

    return version("vae-search")


def entry() -> int:
    """The ``vae-search`` program: :func:`main`, TensorFlow's start-up lines kept off the
    terminal in this process and those it starts (a notebook calling ``main`` keeps its
    output as it is)."""
    with tensorflow_startup_filtered():
        code = main()
        ignore_stop_signals()  # the program is ending: a late Ctrl-C cannot add a traceback
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_environment()
        return args.handler(args)
    except ParameterError as exc:
        print(f"vae-search: error: {flag(exc.parameter)} {exc.problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except InputError as exc:
        print(f"vae-search: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # the reader left (vae-search best | head): what it read is out
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
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
