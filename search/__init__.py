"""vae-search's stages, one sub-package each, imports going down the flow only:

- ``search.space``: the spec, the plan of trials, the space as Optuna distributions;
- ``search.execution``: launch, the trial ledger, run, the workers and their training jobs;
- ``search.evaluation``: metrics, scoring one model, the scoring stage, ranking;
- ``search.outputs``: tables, figures, CSV export, predictions, the dashboard;
- ``search.cli``: the command line, a thin layer over the functions below.

What a notebook calls is here; each name is imported on first use, so importing ``search``
(and answering ``vae-search --help``) does not import TensorFlow or scikit-learn. A name whose
module imports TensorFlow keeps TensorFlow's start-up lines off descriptor 2 (which a notebook
shows), as the CLI does (:mod:`search.execution.quiet`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_HOMES = {
    "launch": "search.execution.launch",
    "run": "search.execution.run",
    "RunInterrupted": "search.execution.stopping",
    "status": "search.execution.status",
    "import_model": "search.execution.import_model",
    "doctor": "search.execution.doctor",
    "train_and_save": "search.execution.trial",
    "score": "search.evaluation.stage",
    "best": "search.evaluation.ranking",
    "best_configurations": "search.evaluation.configurations",
    "compare_with_baseline": "search.evaluation.selection",
    "ensemble": "search.evaluation.ensembles",
    "missing_models": "search.evaluation.ranking",
    "report": "search.outputs.report",
    "export": "search.outputs.export",
    "predict": "search.outputs.predict",
    "format_ranking": "search.outputs.tables",
    "format_configurations": "search.outputs.tables",
    "show": "search.outputs.checks",
    "dashboard_server": "search.outputs.dashboard",
    "read_spec": "search.space.spec",
    "slurm_script": "search.execution.slurm",
}
__all__ = sorted(_HOMES)

if TYPE_CHECKING:  # what type checkers and editors see; at run time, __getattr__
    from search.evaluation.configurations import best_configurations  # noqa: F401
    from search.evaluation.ensembles import ensemble  # noqa: F401
    from search.evaluation.ranking import best, missing_models  # noqa: F401
    from search.evaluation.selection import compare_with_baseline  # noqa: F401
    from search.evaluation.stage import score  # noqa: F401
    from search.execution.doctor import doctor  # noqa: F401
    from search.execution.import_model import import_model  # noqa: F401
    from search.execution.launch import launch  # noqa: F401
    from search.execution.run import run  # noqa: F401
    from search.execution.slurm import slurm_script  # noqa: F401
    from search.execution.status import status  # noqa: F401
    from search.execution.stopping import RunInterrupted  # noqa: F401
    from search.execution.trial import train_and_save  # noqa: F401
    from search.outputs.checks import show  # noqa: F401
    from search.outputs.dashboard import dashboard_server  # noqa: F401
    from search.outputs.export import export  # noqa: F401
    from search.outputs.predict import predict  # noqa: F401
    from search.outputs.report import report  # noqa: F401
    from search.outputs.tables import format_configurations, format_ranking  # noqa: F401
    from search.space.spec import read_spec  # noqa: F401


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'search' has no attribute {name!r}")
    from search.execution.quiet import tensorflow_startup_filtered

    with tensorflow_startup_filtered():  # a home importing TensorFlow does so quietly
        value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
