"""What each Optuna study of a scored study is, as its optuna-dashboard note.

optuna-dashboard's study list shows a study's name and direction only, and its user
attributes as raw JSON; a study's note (Markdown, the first panel of its page) is where a
reader learns what the study is and sees the ranking ``best`` prints and the baselines it is
measured against. ``score`` writes both studies' notes from the scores table; a note is
rewritten whole, so it shows the latest scoring.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from search.evaluation.baselines import baselines_beside
from search.evaluation.names import DEFAULT_METRIC, DEFAULT_SPACE
from search.evaluation.ranking import best
from search.evaluation.scores_study import scores_study_name
from search.execution.ledger import DESCRIPTION, OBJECTIVE, STUDY_DESCRIPTION, objective_of
from studies.results import Ranked
from studies.storage import locate, open_study

SHOWN = 10  # models in a note's ranking
SCORES_DESCRIPTION = (
    "One trial per scored configuration, derived from the scores table by `score`. Value: "
    f"the validation {DEFAULT_SPACE} PR-AUC averaged over the configuration's seeds "
    "(maximized), so importance and slice plots see settings, not lucky seeds; test scores "
    "and their intervals are user attributes."
)
LEGACY_DESCRIPTION = (
    "The search's trainings, one trial each. Launched by an earlier release, this study "
    "minimizes each training's validation loss, which does not rank detectors across β: "
    "the ranking below and `best` do."
)


def describe(study, description: str, body: str = "") -> None:
    """Set a study's ``description`` attribute and its dashboard note (the description, then
    ``body``)."""
    from optuna_dashboard import save_note

    study.set_user_attr(DESCRIPTION, description)
    save_note(study, f"{description}\n\n{body}".rstrip() + "\n")


def ranking_note(study: str | Path, storage: str | None, abnormal: Sequence[int]) -> str:
    """The ranking ``best`` prints by default and the baselines beside it, as Markdown."""
    rows = best(study, storage, n=SHOWN, abnormal=abnormal)
    if not rows:
        return "No model is scored yet: `vae-search score` ranks them."
    baselines = baselines_beside(study, storage, abnormal=abnormal, first=rows[0])
    label = f"validation {DEFAULT_SPACE} {DEFAULT_METRIC} over windows"
    lines = [
        f"## Ranking ({label}, as `vae-search best`)",
        "",
        "| # | model | val [95% interval] | test [95% interval] |",
        "|---|---|---|---|",
        *(f"| {r.rank}{'=' if r.tied else ''} | {r.name} | {_val(r)} | {_test(r)} |" for r in rows),
        "",
        "=: its validation interval overlaps the first model's (the data cannot tell them apart)",
    ]
    if baselines:
        lines += [
            "",
            "## Baselines (same metric, settings chosen on validation)",
            "",
            "| baseline | val [95% interval] | test [95% interval] | settings |",
            "|---|---|---|---|",
            *(
                f"| {b.name}{'=' if b.tied else ''} | {_val(b)} | {_test(b)} | "
                + ", ".join(f"{k}={v}" for k, v in b.config.items() if k != "baseline")
                + " |"
                for b in baselines
            ),
        ]
    return "\n".join(lines)


def write_notes(study: str | Path, storage: str | None, abnormal: Sequence[int]) -> None:
    """Describe the main study and its scores study (where it exists) with the ranking."""
    import optuna

    opened = open_study(locate(study, storage))
    body = ranking_note(study, storage, abnormal)
    main = opened.study
    legacy = objective_of(main) != OBJECTIVE
    describe(main, LEGACY_DESCRIPTION if legacy else STUDY_DESCRIPTION, body)
    try:
        scores = optuna.load_study(study_name=scores_study_name(opened), storage=opened.storage)
    except KeyError:  # nothing scored
        return
    describe(scores, SCORES_DESCRIPTION, body)


def _val(r: Ranked) -> str:
    return _interval(r.val, r.val_low, r.val_high)


def _test(r: Ranked) -> str:
    return _interval(r.test, r.test_low, r.test_high)


def _interval(value: float | None, low: float | None, high: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if low is None else f"{value:.3f} [{low:.3f}, {high:.3f}]"
