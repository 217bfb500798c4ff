"""The scores as a second Optuna study, so optuna-dashboard plots what detects worn tools.

The main study's objective is each trial's validation loss, so the dashboard's slice,
parallel-coordinate and importance plots over it answer which hyperparameters give a low loss.
The study ``<main study>-scores`` (:data:`SCORES_STUDY`) in the same storage answers which
detect worn tools: each scored model is one completed trial whose value is the ranking metric
on validation (:data:`~search.evaluation.names.DEFAULT_SPACE`,
:data:`~search.evaluation.names.DEFAULT_METRIC`, over windows; maximized), with the main
study's params and distributions, and as user attributes its model, its validation and test
scores and their intervals, named as the export's columns (``test_latent_ap``,
``val_latent_ap_low``, ``val_input_cut_roc_high``...).

It is derived from the scores table alone and rebuilt whole whenever it may differ from it, so
rescoring replaces its trials instead of adding more; the main study is never written.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

from search.evaluation.names import DEFAULT_METRIC, DEFAULT_SPACE, score_name
from search.execution.ledger import PARAM_DISTRIBUTIONS
from search.space.distributions import param_value
from studies.results import WINDOW, Ranked, Score, abnormal_key, models, ranking, scores_by_model
from studies.storage import STUDY_NAME, load_or_create_study

SCORES_STUDY = f"{STUDY_NAME}-scores"
OBJECTIVE = f"val_{DEFAULT_SPACE}_{DEFAULT_METRIC}"  # the trials' value, named for the dashboard
SHOWN_SPLITS = ("val", "test")  # train scores say nothing of detection on unseen cuts
# Study user attributes: which scoring the trials show, so a stale scores study is recognised
SCORER_VERSION_ATTR, ABNORMAL_ATTR = "scorer_version", "abnormal"


def sync_scores_study(
    storage,
    scorer_version: int,
    abnormal: tuple[int, ...],
    *,
    changed: bool = True,
) -> int | None:
    """Rebuild the scores study from the scores of (``scorer_version``, ``abnormal``) when
    ``changed`` (something was scored) or when it shows another scoring or is missing; returns
    its trial count, or None when it was current already. No scores: no scores study."""
    if not changed and _shows(storage, scorer_version, abnormal):
        return None
    return rebuild_scores_study(storage, scorer_version, abnormal)


def _shows(storage, scorer_version: int, abnormal: tuple[int, ...]) -> bool:
    """Whether the scores study exists and shows this scoring."""
    try:
        study_id = storage.get_study_id_from_name(SCORES_STUDY)
    except KeyError:
        return False
    attrs = storage.get_study_user_attrs(study_id)
    shown = (attrs.get(SCORER_VERSION_ATTR), attrs.get(ABNORMAL_ATTR))
    return shown == (scorer_version, list(abnormal))


def rebuild_scores_study(storage, scorer_version: int, abnormal: tuple[int, ...]) -> int:
    """Delete the scores study and create it again with one trial per model with a validation
    score, in the order the models were recorded (the main study's order); returns how many."""
    import optuna

    trials = scores_trials(storage, scorer_version, abnormal)
    with contextlib.suppress(KeyError):  # none yet
        optuna.delete_study(study_name=SCORES_STUDY, storage=storage)
    if not trials:
        return 0
    study = optuna.create_study(storage=storage, study_name=SCORES_STUDY, direction="maximize")
    with warnings.catch_warnings():  # metric names are "experimental" in Optuna
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([OBJECTIVE])
    study.set_user_attr(SCORER_VERSION_ATTR, scorer_version)
    study.set_user_attr(ABNORMAL_ATTR, list(abnormal))
    study.set_user_attr("main_study", STUDY_NAME)
    for name, attrs in baseline_attrs(storage.engine, scorer_version, abnormal).items():
        study.set_user_attr(name, attrs)
    study.add_trials(trials)
    return len(trials)


def scores_trials(storage, scorer_version: int, abnormal: tuple[int, ...]) -> list:
    """The scores study's trials (Optuna FrozenTrials, not yet added): the ranking's models."""
    engine = storage.engine
    key = abnormal_key(abnormal)
    ranked = {
        r.name: r
        for r in ranking(
            engine,
            scorer_version=scorer_version,
            abnormal=key,
            space=DEFAULT_SPACE,
            metric=DEFAULT_METRIC,
            unit=WINDOW,
        )
    }
    scores = scores_by_model(engine, scorer_version, key)
    distributions = _distributions(load_or_create_study(storage, create=False))
    trials = [
        _trial(ranked[m.name], m.trial_number, m.val_loss, scores[m.name], distributions)
        for m in models(engine)
        if m.name in ranked
    ]
    return _with_checks(trials, engine, scorer_version, key)


def _with_checks(trials: list, engine, scorer_version: int, key: str) -> list:
    """The models' trials with their active latent dimensions and collapse flag."""
    from studies.diagnostics import latent_checks

    checks = latent_checks(engine, scorer_version, key)
    for trial in trials:
        check = checks.get(trial.user_attrs["model_name"])
        if check is not None:
            trial.set_user_attr("active_dims", check.active_dims)
            trial.set_user_attr("collapsed", check.collapsed)
    return trials


def baseline_attrs(engine, scorer_version: int, abnormal: tuple[int, ...]) -> dict[str, Any]:
    """Each baseline as a study user attribute named after it: its kind, chosen settings and
    validation and test scores. Not trials: a trial without the models' params would empty
    the search space the dashboard's plots intersect."""
    from studies.diagnostics import baselines

    key = abnormal_key(abnormal)
    scores = scores_by_model(engine, scorer_version, key)
    return {
        b.name: {"baseline": b.kind, **b.settings, **score_attrs(scores.get(b.name, []))}
        for b in baselines(engine, scorer_version, key)
    }


def _distributions(main_study) -> dict[str, Any]:
    """The main study's distributions by name, as launch recorded them."""
    from optuna.distributions import json_to_distribution

    recorded = main_study.user_attrs.get(PARAM_DISTRIBUTIONS, {})
    return {name: json_to_distribution(text) for name, text in recorded.items()}


def _trial(
    ranked: Ranked,
    trial_number: int | None,
    val_loss: float | None,
    scores: list[Score],
    distributions: dict[str, Any],
):
    """One model as a completed trial of the scores study."""
    from optuna.trial import create_trial

    params, outside = split_params(ranked.config, distributions)
    model = {
        "model_name": ranked.name,
        "model_path": ranked.path,
        "rank": ranked.rank,
        "trial_number": trial_number,
        "val_loss": val_loss,
    }
    return create_trial(
        value=ranked.val,
        params=params,
        distributions={name: distributions[name] for name in params},
        user_attrs={
            **{k: v for k, v in model.items() if v is not None},
            **outside,
            **score_attrs(scores),
        },
    )


def split_params(
    config: dict[str, Any], distributions: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A configuration's sampled hyperparameters as (params, outside): those their distribution
    contains become Optuna params, as the main study records them; the others (an imported
    model's) stay beside as user attributes, since Optuna refuses a param its distribution
    does not contain."""
    params, outside = {}, {}
    for name, distribution in distributions.items():
        if name in config:
            value = param_value(config[name])
            (params if _contains(distribution, value) else outside)[name] = value
    return params, outside


def _contains(distribution, value: Any) -> bool:
    try:
        return bool(distribution._contains(distribution.to_internal_repr(value)))
    except (ValueError, TypeError):  # a type the distribution cannot take at all
        return False


def score_attrs(scores: list[Score]) -> dict[str, float]:
    """Validation and test scores with their spread and interval, named as the export's
    columns: ``<split>_<space>_<metric>`` over windows, ``<split>_<space>_cut_<metric>`` over
    cuts, then ``_std``, ``_low`` and ``_high``; undefined ones are left out."""
    attrs = {}
    for s in scores:
        if s.split not in SHOWN_SPLITS:
            continue
        name = score_name(s.split, s.space, s.unit, s.metric)
        attrs.update({name + suffix: v for suffix, v in s.by_suffix().items()})
    return attrs
