"""The scores as a second Optuna study: configurations, their seeds averaged, test beside.

The main study's objective is each training's validation latent PR-AUC, what ``best`` ranks
by, so its plots already answer which hyperparameters detect worn tools, one seed at a time.
The study ``<main study>-scores`` (:data:`SCORES_STUDY`) in the same storage answers it for
configurations: each scored configuration is one completed trial whose value is the ranking
metric on validation (:data:`~search.evaluation.names.DEFAULT_SPACE`,
:data:`~search.evaluation.names.DEFAULT_METRIC`, over windows; maximized) averaged over its
seeds, so importance and slice plots see settings, not lucky seeds. It has the main study's
params and distributions; as user attributes its models, its seeds and their spread
(``val_latent_ap_sd``, ``val_latent_ap_min``, ``val_latent_ap_max``, ``seeds``), and, for a
configuration of one seed, that model's validation and test scores and their intervals, named
as the export's columns (``test_latent_ap``, ``val_latent_ap_low``...). Its intermediate values
are the validation latent PR-AUC of each epoch, averaged over the seeds: the dashboard's
learning curves of what the search wants.

It is derived from the scores table alone and rebuilt whole whenever it may differ from it, so
rescoring replaces its trials instead of adding more; the main study is never written.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import Any

import numpy as np

from search.evaluation.configurations import configuration_of
from search.evaluation.names import DEFAULT_METRIC, DEFAULT_SPACE, score_name
from search.execution.ledger import AP_CURVE, PARAM_DISTRIBUTIONS, name_objective
from search.space.distributions import param_value
from studies.results import WINDOW, Ranked, Score, abnormal_key, models, ranking, scores_by_model
from studies.storage import STUDY_NAME, OpenStudy

SCORES_STUDY = f"{STUDY_NAME}-scores"  # of a study named vae-search (scores_study_name)
OBJECTIVE = f"val_{DEFAULT_SPACE}_{DEFAULT_METRIC}"  # the trials' value, named for the dashboard
SHOWN_SPLITS = ("val", "test")  # train scores say nothing of detection on unseen cuts
MIN_IMPORTANCE_TRIALS = 10  # PED-ANOVA compares its top 10 % with the rest: fewer say nothing
# Study user attributes: which scoring the trials show, so a stale scores study is recognised
SCORER_VERSION_ATTR, ABNORMAL_ATTR = "scorer_version", "abnormal"


def scores_study_name(opened: OpenStudy) -> str:
    """The scores study beside the main study ``opened``: ``NAME-scores``."""
    return f"{opened.name}-scores"


def sync_scores_study(
    opened: OpenStudy,
    scorer_version: int,
    abnormal: tuple[int, ...],
    *,
    changed: bool = True,
) -> int | None:
    """Rebuild the scores study from the scores of (``scorer_version``, ``abnormal``) when
    ``changed`` (something was scored) or when it shows another scoring or is missing; returns
    its trial count, or None when it was current already. No scores: no scores study."""
    if not changed and _shows(opened, scorer_version, abnormal):
        return None
    return rebuild_scores_study(opened, scorer_version, abnormal)


def _shows(opened: OpenStudy, scorer_version: int, abnormal: tuple[int, ...]) -> bool:
    """Whether the scores study exists and shows this scoring."""
    try:
        study_id = opened.storage.get_study_id_from_name(scores_study_name(opened))
    except KeyError:
        return False
    attrs = opened.storage.get_study_user_attrs(study_id)
    shown = (attrs.get(SCORER_VERSION_ATTR), attrs.get(ABNORMAL_ATTR))
    return shown == (scorer_version, list(abnormal))


def rebuild_scores_study(opened: OpenStudy, scorer_version: int, abnormal: tuple[int, ...]) -> int:
    """Delete the scores study and create it again with one trial per model with a validation
    score, in the order the models were recorded (the main study's order); returns how many."""
    import optuna

    trials = scores_trials(opened, scorer_version, abnormal)
    name = scores_study_name(opened)
    with contextlib.suppress(KeyError):  # none yet
        optuna.delete_study(study_name=name, storage=opened.storage)
    if not trials:
        return 0
    study = optuna.create_study(storage=opened.storage, study_name=name, direction="maximize")
    name_objective(study, OBJECTIVE)
    study.set_user_attr(SCORER_VERSION_ATTR, scorer_version)
    study.set_user_attr(ABNORMAL_ATTR, list(abnormal))
    study.set_user_attr("main_study", opened.name)
    for baseline, attrs in baseline_attrs(opened.engine, scorer_version, abnormal).items():
        study.set_user_attr(baseline, attrs)
    study.add_trials(trials)
    return len(trials)


def scores_trials(opened: OpenStudy, scorer_version: int, abnormal: tuple[int, ...]) -> list:
    """The scores study's trials (Optuna FrozenTrials, not yet added): one per configuration
    of the ranking's models, in the order their first model was recorded."""
    engine = opened.engine
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
    distributions = _distributions(opened.study)
    curves = _curves(opened.study)
    groups: dict[str, list] = {}
    for m in models(engine):
        if m.name in ranked:
            groups.setdefault(configuration_of(m.config), []).append(m)
    trials = []
    for seeds in groups.values():
        best = max(seeds, key=lambda m: ranked[m.name].val)
        curve = _mean_curve([curves.get(m.trial_number) for m in seeds])
        trials.append(
            _trial(
                [ranked[m.name] for m in seeds],
                best.trial_number,
                best.val_loss,
                scores[best.name],
                distributions,
                curve,
            )
        )
    return _with_checks(trials, engine, scorer_version, key)


def _curves(main_study) -> dict[int, list]:
    """The main study's trials' validation latent PR-AUC per epoch, by trial number."""
    return {
        t.number: t.user_attrs[AP_CURVE]
        for t in main_study.get_trials(deepcopy=False)
        if AP_CURVE in t.user_attrs
    }


def _mean_curve(curves: list[list | None]) -> dict[int, float]:
    """Epoch (from 1) -> the mean over the seeds that scored it."""
    by_epoch: dict[int, list[float]] = {}
    for curve in curves:
        for epoch, value in enumerate(curve or [], start=1):
            if value is not None and math.isfinite(value):
                by_epoch.setdefault(epoch, []).append(value)
    return {epoch: float(np.mean(values)) for epoch, values in by_epoch.items()}


def _with_checks(trials: list, engine, scorer_version: int, key: str) -> list:
    """The configurations' trials with their active latent dimensions and collapse flag: of a
    configuration of several seeds, each seed's, and how many collapsed."""
    from studies.diagnostics import latent_checks

    checks = latent_checks(engine, scorer_version, key)
    for trial in trials:
        if "models" in trial.user_attrs:
            found = [checks[m] for m in trial.user_attrs["models"] if m in checks]
            if found:
                trial.set_user_attr("active_dims", [c.active_dims for c in found])
                trial.set_user_attr("collapsed_seeds", sum(c.collapsed for c in found))
            continue
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
    seeds: list[Ranked],
    trial_number: int | None,
    val_loss: float | None,
    scores: list[Score],
    distributions: dict[str, Any],
    curve: dict[int, float],
):
    """One configuration as a completed trial of the scores study: of one seed, its model with
    its scores; of several, their mean, models and spread (one seed's scores would pass for
    the configuration's, so none)."""
    from optuna.trial import create_trial

    best = max(seeds, key=lambda r: r.val)
    params, outside = split_params(best.config, distributions)
    values = np.array([r.val for r in seeds], float)
    if len(seeds) == 1:
        model = {
            "model_name": best.name,
            "model_path": best.path,
            "rank": best.rank,
            "trial_number": trial_number,
            "val_loss": val_loss,
        }
        attrs = {**{k: v for k, v in model.items() if v is not None}, **score_attrs(scores)}
    else:
        attrs = {
            "models": [r.name for r in seeds],
            "seeds": len(seeds),
            f"{OBJECTIVE}_sd": float(values.std(ddof=1)),
            f"{OBJECTIVE}_min": float(values.min()),
            f"{OBJECTIVE}_max": float(values.max()),
        }
    return create_trial(
        value=float(values.mean()),
        params=params,
        distributions={name: distributions[name] for name in params},
        user_attrs={**attrs, **outside},
        intermediate_values=curve,
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


def importances(opened: OpenStudy) -> dict[str, float] | str:
    """Each sampled hyperparameter's importance for the configurations' mean validation score
    (Optuna's PED-ANOVA over the scores study's trials, one per configuration, so the seed's
    luck is averaged out as far as the seeds allow), largest first; or why there is none."""
    import optuna
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

    try:
        study = optuna.load_study(study_name=scores_study_name(opened), storage=opened.storage)
    except KeyError:
        return "no scores study: score the study first"
    trials = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    varied = {
        n for t in trials for n in t.params if len({str(u.params.get(n)) for u in trials}) > 1
    }
    if len(trials) < MIN_IMPORTANCE_TRIALS or not varied:
        return (
            f"hyperparameter importance needs {MIN_IMPORTANCE_TRIALS} scored configurations "
            f"that vary, the study has {len(trials)}"
        )
    with warnings.catch_warnings():  # PED-ANOVA is "experimental" in Optuna
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        found = get_param_importances(study, evaluator=PedAnovaImportanceEvaluator())
    return dict(found)
