"""PNG figures of a scored study: the best model's curves (over windows and over cuts),
distributions and cut scores; the top models with their intervals (a forest plot); and PR-AUC
against every hyperparameter over all models; the signals x top models heatmap, and the
pictures of one model (``search.outputs.model_figures``).

The best model is the first of ``best`` (validation score; never chosen on test). Its scores
are the deterministic ones (latent KL, input MSE from the mean coding), so figures redraw the
same. A score's interval is its bootstrap interval over resampled cuts; a model scored without
the bootstrap is drawn as a point alone. Matplotlib runs headless (Agg); every file is written
under a temporary name first.

Each figure's title asks the question it answers (:data:`QUESTIONS`) and names the model, or
the models, it shows; a figure with nothing to show is not written, and the reason is returned
instead, so a reader is never handed a blank page.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from data_prep.errors import DataFileError
from data_prep.files import atomic_path, writable_directory
from data_prep.labels import CLASS_NAMES, fill_missing_vb
from data_prep.prepared import PreparedData, load_prepared
from search.evaluation.bootstrap import cut_level
from search.evaluation.configurations import (
    ONE_SEED_EACH,
    RankedConfiguration,
    best_configurations,
    seed_share,
)
from search.evaluation.names import (
    DEFAULT_ABNORMAL,
    DEFAULT_METRIC,
    DEFAULT_SPACE,
    DETERMINISTIC,
    space_label,
)
from search.evaluation.ranking import best
from search.evaluation.scores_study import OBJECTIVE, importances
from search.evaluation.scoring import SCORER_VERSION
from search.evaluation.selection import compare_with_baseline
from search.execution.quiet import tensorflow_startup_filtered
from search.outputs.model_figures import (
    latent_means,
    learning_curves,
    reconstructions,
    signal_heatmap,
)
from search.outputs.selection_figure import best_of_n_figure
from studies.diagnostics import signal_scores_by_model
from studies.results import CUT, WINDOW, Ranked, abnormal_key
from studies.storage import StudyError, locate, open_study
from vae.ensemble import load_detector, settings_of
from vae.hyperparams import HYPERPARAMETERS, Hyperparameters
from vae.metrics import average_precision
from vae.scores import window_scores
from vae.storage import read_manifest

SPACES = {  # the deterministic score spaces: figures redraw the same
    space: space_label(space) for space in DETERMINISTIC.values()
}
CONDITIONS = ("material", "feed", "DOC")
TOP = 20  # models in the forest plot: more rows stop being legible
INTERVAL = "95% interval over resampled cuts"


# What each figure answers: its title's first line.
QUESTIONS = {
    "pr_roc_curves.png": "How well does the best model put abnormal windows above the rest?",
    "cut_pr_curve.png": "How well does the best model put abnormal cuts above the rest?",
    "score_distributions.png": "Where do the test windows of each class score, against the "
    "model's thresholds?",
    "top_models_forest.png": "Which models rank best on validation, and does it hold on test?",
    "prauc_vs_hyperparameters.png": "Which hyperparameter values give a high validation score?",
    "test_prauc_by_condition.png": "Does the best model detect as well under every cutting "
    "condition?",
    "seed_share.png": "How much of a model's score is its configuration's, how much its seed's?",
    "importance.png": "Which hyperparameters drive the configurations' mean score?",
    "cut_scores_vs_vb.png": "Does the best model's score rise with flank wear?",
    "signal_heatmap.png": "Which signals do the top models' alarms rest on?",
    "reconstructions.png": "What does the model make of a healthy and a failed cut?",
    "latent_means.png": "Does the latent space set the classes apart?",
    "learning_curves.png": "Did the training converge, and did the KL term collapse?",
    "best_of_n.png": "Does the model validation picks among N trainings beat the best baseline?",
}


# The figures drawn from many models; the others show one model (the best, or --model).
OF_MODELS = (
    "top_models_forest.png",
    "prauc_vs_hyperparameters.png",
    "seed_share.png",
    "importance.png",
    "signal_heatmap.png",
    "best_of_n.png",
)


class Figures(list):
    """The figures ``report`` wrote (their paths), and ``skipped``: each figure that had
    nothing to show, by file name, with the reason (``report`` writes no blank figure)."""

    def __init__(self, paths: Sequence[Path], skipped: dict[str, str]) -> None:
        super().__init__(paths)
        self.skipped = skipped


@dataclass(frozen=True)
class Nothing:
    """What a figure function returns instead of a figure when it has nothing to show."""

    reason: str


@dataclass(frozen=True)
class SplitScores:
    abnormal: np.ndarray
    y: np.ndarray
    cut_no: np.ndarray
    scores: dict[str, np.ndarray]  # space -> per-window score


@dataclass(frozen=True)
class ForestRow:
    """One model in the forest plot: its rank label, and per split its value and interval."""

    label: str  # "2=" when its validation interval overlaps the first model's
    val: float
    val_interval: tuple[float, float] | None  # None: scored without the bootstrap
    test: float  # NaN when the model has no test score
    test_interval: tuple[float, float] | None


@tensorflow_startup_filtered()
def report(
    study: str | Path,
    out: str | Path,
    storage: str | None = None,
    space: str = DEFAULT_SPACE,
    metric: str = DEFAULT_METRIC,
    abnormal: tuple[int, ...] = DEFAULT_ABNORMAL,
    unit: str = WINDOW,
    model: str | None = None,
) -> Figures:
    """Write the figures to ``out``; returns their paths, and in ``skipped`` each figure left
    out with the reason. Models are ranked by validation ``metric`` in ``space`` over windows
    or cuts (``unit``); the one-model figures show the first, or ``model`` (its name)."""
    import matplotlib

    matplotlib.use("Agg")
    location = locate(study, storage)
    if Path(out).exists() and not Path(out).is_dir():
        raise DataFileError(out, "is a file, not a report directory")
    ranked = best(study, storage, n=None, space=space, metric=metric, abnormal=abnormal, unit=unit)
    if not ranked:
        raise StudyError(
            f"{location.directory}: no scored model yet whose directory is present "
            "(score the study first)"
        )
    configurations = best_configurations(
        study, storage, n=None, space=space, metric=metric, abnormal=abnormal, unit=unit
    )
    opened = open_study(location)
    data = load_prepared(opened.prepared_file())
    chosen = _chosen(ranked, model, location.directory)
    model_dir = location.model_path(chosen.path)
    model = load_detector(model_dir)
    splits = {name: _split_scores(model, data, name, abnormal) for name in ("train", "val", "test")}
    signals = signal_scores_by_model(opened.engine, SCORER_VERSION, abnormal_key(abnormal))
    manifest = read_manifest(model_dir)
    history = manifest.get("history", {})
    label = _score_label(space, metric, unit)
    beside = _best_baseline(study, storage, metric, unit, abnormal)
    figures = {
        "pr_roc_curves.png": lambda: _curves(splits, chosen.name),
        "cut_pr_curve.png": lambda: _cut_curves(splits, chosen.name),
        "score_distributions.png": lambda: _distributions(splits, manifest.get("scoring", {})),
        "top_models_forest.png": lambda: _forest(
            ranked, label, _chance(splits, metric, unit), beside
        ),
        "prauc_vs_hyperparameters.png": lambda: _hyperparameters(ranked, label),
        "test_prauc_by_condition.png": lambda: _by_condition(splits["test"], data),
        "seed_share.png": lambda: _seed_share(configurations, label),
        "importance.png": lambda: _importance(importances(opened), OBJECTIVE),
        "cut_scores_vs_vb.png": lambda: _cut_scores(splits, data),
        "signal_heatmap.png": lambda: signal_heatmap(ranked, signals),
        "reconstructions.png": lambda: reconstructions(model, data, chosen.name),
        "latent_means.png": lambda: latent_means(model, data, chosen.name),
        "learning_curves.png": lambda: learning_curves(history, chosen.name),
        "best_of_n.png": lambda: (
            best_of_n_figure(
                compare_with_baseline(
                    study, storage, space=space, metric=metric, abnormal=abnormal, unit=unit
                ),
                label,
                _chance(splits, metric, unit)["test"],
            )
            or Nothing("fewer than two trainings scored on validation and test")
        ),
    }
    import matplotlib.pyplot as plt

    drawn: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    of_models = f"{len(ranked)} scored models of the study {location.directory.name}"
    try:
        for name, draw in figures.items():  # a failure here writes nothing
            figure = draw()
            if isinstance(figure, Nothing):
                skipped[name] = figure.reason
                continue
            subject = of_models if name in OF_MODELS else f"model: {chosen.name}"
            drawn[name] = _titled(figure, QUESTIONS[name], subject)
        out = Path(out)
        new = not out.exists()
        writable_directory(out, "report directory")
        try:
            return Figures([_save(figure, out / name) for name, figure in drawn.items()], skipped)
        except BaseException:
            if new:
                shutil.rmtree(out, ignore_errors=True)
            raise
    finally:
        for figure in drawn.values():
            plt.close(figure)


def _titled(figure, question: str, subject: str):
    """The figure with its question as the first line of its title; the line below names what
    it shows: the figure's own subtitle where it has one, else ``subject`` (the model, or the
    models it draws)."""
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    own = figure.get_suptitle()
    figure.suptitle(f"{question}\n{own or subject}", fontsize=10)
    if not isinstance(figure.get_layout_engine(), ConstrainedLayoutEngine):  # it makes room
        figure.tight_layout()
    return figure


def _chance(splits: dict[str, SplitScores], metric: str, unit: str) -> dict[str, float]:
    """Each split's chance value of ``metric``: the share of abnormal windows (or cuts) for a
    precision-recall area, 0.5 for ROC AUC."""
    if metric == "roc":
        return {split: 0.5 for split in ("val", "test")}
    shares = {}
    for split in ("val", "test"):
        s = splits[split]
        abnormal = cut_level_scores(s, next(iter(SPACES)))[0] if unit == CUT else s.abnormal
        shares[split] = float(abnormal.mean())
    return shares


def _best_baseline(study, storage, metric: str, unit: str, abnormal) -> Ranked | None:
    """The baseline with the best validation score, to draw beside the models (None before
    the baselines are scored)."""
    from search.evaluation.baselines import baselines_beside

    rows = baselines_beside(study, storage, metric=metric, unit=unit, abnormal=abnormal)
    return rows[0] if rows else None


def _chosen(ranked: Sequence[Ranked], model: str | None, directory: Path) -> Ranked:
    """The ranking's first model, or the one named ``model``."""
    if model is None:
        return ranked[0]
    for r in ranked:
        if model == r.name or str(Path(model).resolve()) == r.path:
            return r
    raise StudyError(f"{directory}: no scored model named {model}")


def _split_scores(model, data: PreparedData, split: str, abnormal) -> SplitScores:
    X, y, cut_no = data.split(split)
    scores = window_scores(model, X, repeats=0, seed=0)
    return SplitScores(np.isin(y, abnormal), y, cut_no, {s: getattr(scores, s) for s in SPACES})


def _save(figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    return path


def _curves(splits: dict[str, SplitScores], name: str):
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

    figure, axes = plt.subplots(2, 2, figsize=(11, 9))
    for column, (space, label) in enumerate(SPACES.items()):
        for split in ("val", "test"):
            s = splits[split]
            precision, recall, _ = precision_recall_curve(s.abnormal, s.scores[space])
            ap = average_precision(s.abnormal, s.scores[space])
            axes[0, column].plot(recall, precision, label=f"{split} (AP {ap:.3f})")
            fpr, tpr, _ = roc_curve(s.abnormal, s.scores[space])
            auc = roc_auc_score(s.abnormal, s.scores[space])
            axes[1, column].plot(fpr, tpr, label=f"{split} (ROC AUC {auc:.3f})")
        base = splits["test"].abnormal.mean()
        axes[0, column].axhline(base, color="grey", ls=":", label=f"chance, test ({base:.3f})")
        axes[1, column].plot([0, 1], [0, 1], color="grey", ls=":", label="chance (0.5)")
        axes[0, column].set(title=f"precision-recall, {label}", xlabel="recall", ylabel="precision")
        axes[1, column].set(
            title=f"ROC, {label}", xlabel="false positive rate", ylabel="true positive rate"
        )
        axes[0, column].set(xlim=(0, 1.02), ylim=(0, 1.05))
        axes[0, column].legend(loc="upper right", fontsize=8)
        axes[1, column].legend(loc="lower right", fontsize=8)
    figure.suptitle(f"best model: {name}", fontsize=8)
    return figure


def cut_level_scores(split: SplitScores, space: str) -> tuple[np.ndarray, np.ndarray]:
    """(abnormal, score) of each cut of the split, a cut's score its windows' mean score: the
    unit an operator acts on (a cut either needs a tool change or not)."""
    _, abnormal, scores = cut_level(split.cut_no, split.abnormal, split.scores[space])
    return abnormal.astype(bool), scores


def _cut_curves(splits: dict[str, SplitScores], name: str):
    """Precision-recall over the validation and test cuts in each deterministic space."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, (space, label) in zip(axes, SPACES.items(), strict=True):
        for split, color in (("val", "C0"), ("test", "C1")):
            _cut_curve(ax, *cut_level_scores(splits[split], space), split, color)
        ax.set(title=f"precision-recall over cuts, {label}", xlabel="recall", ylabel="precision")
        ax.set(xlim=(0, 1.02), ylim=(0, 1.05))
        ax.legend(fontsize=8)
    title = f"best model: {name}; a cut's score is its windows' mean"
    shared = np.intersect1d(splits["val"].cut_no, splits["test"].cut_no)
    if len(shared):  # a split by window: the two curves rank the same cuts on other windows
        title += f"; val and test share {len(shared)} cuts"
    figure.suptitle(title, fontsize=8)
    return figure


def _cut_curve(ax, abnormal: np.ndarray, scores: np.ndarray, split: str, color: str) -> None:
    """One split's curve with its AP and chance line (its share of abnormal cuts); a split
    without both kinds of cut has no curve, and its legend entry says why."""
    from sklearn.metrics import precision_recall_curve

    share = f"{abnormal.sum()} of {len(abnormal)} cuts abnormal"
    if abnormal.all() or not abnormal.any():
        ax.plot([], [], color=color, label=f"{split}: {share}, no curve")
        return
    precision, recall, _ = precision_recall_curve(abnormal, scores)
    ap = average_precision(abnormal, scores)
    ax.plot(recall, precision, color=color, drawstyle="steps-post", label=f"{split} (AP {ap:.3f})")
    ax.axhline(abnormal.mean(), color=color, ls=":", label=f"{split} chance ({share})")


def _distributions(splits: dict[str, SplitScores], scoring: dict[str, Any]):
    """Each class's test window scores in each space, with the thresholds the model's scoring
    set there (max F1 on validation, and the healthy-percentile tiers)."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    s = splits["test"]
    for ax, (space, label) in zip(axes, SPACES.items(), strict=True):
        values = s.scores[space]
        bins = np.geomspace(max(values.min(), 1e-6), values.max(), 50)
        for cls, class_name in enumerate(CLASS_NAMES):
            ax.hist(values[s.y == cls], bins=bins, alpha=0.5, density=True, label=class_name)
        for (tier, value), style in zip(
            _thresholds(scoring, space), ("--", ":", "-."), strict=False
        ):
            ax.axvline(
                value, color="black", ls=style, lw=1, label=f"{tier} threshold ({value:.3g})"
            )
        ax.set(xscale="log", title=f"test windows, {label}", xlabel="score", ylabel="density")
        _plain_log(ax.xaxis)
        ax.legend(fontsize=8)
    return figure


def _plain_log(axis) -> None:
    """A log axis labelled at 1, 2 and 5 of each decade, written plainly (0.05, not 5x10^-2):
    a short range still has a few labels, and minor ticks carry none to overlap them."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def _thresholds(scoring: dict[str, Any], space: str) -> list[tuple[str, float]]:
    """(tier, value) of each threshold the model's latest scoring set in ``space``: its tiers
    (max-f1, watch, act), or the max-F1 threshold alone where it was scored before tiers."""
    tiers = scoring.get("tiers") or {"max-f1": scoring.get("thresholds", {})}
    found = [(tier, values.get(space)) for tier, values in tiers.items()]
    return [(tier, float(v)) for tier, v in found if v is not None and math.isfinite(v)]


def _score_label(space: str, metric: str, unit: str) -> str:
    """What the ranking's values are, for axis labels: a cut-level score says so."""
    return f"{space} {metric}" + (", cut level" if unit == CUT else "")


def forest_rows(ranked: Sequence[Ranked], n: int = TOP) -> list[ForestRow]:
    """The first ``n`` models as the forest plot draws them, best first; a model tied with the
    first is labelled ``2=``, as the ranking table labels it."""
    return [
        ForestRow(
            label=f"{r.rank}{'=' if r.tied else ''}",
            val=_number(r.val),
            val_interval=_interval(r.val_low, r.val_high),
            test=_number(r.test),
            test_interval=_interval(r.test_low, r.test_high),
        )
        for r in ranked[:n]
    ]


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _interval(low: float | None, high: float | None) -> tuple[float, float] | None:
    """(low, high), or None where there is none (no bootstrap, or a metric undefined in it)."""
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return None
    return float(low), float(high)


def _spans(
    positions: Sequence[float], intervals: Sequence[tuple[float, float] | None]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positions, lows, highs) of the models that have an interval. Lines from low to high,
    not offsets from the value: a percentile interval need not contain its point value."""
    having = [(p, i) for p, i in zip(positions, intervals, strict=True) if i is not None]
    if not having:
        return np.empty(0), np.empty(0), np.empty(0)
    at, bounds = zip(*having, strict=True)
    lows, highs = np.array(bounds).T
    return np.array(at, dtype=float), lows, highs


def _forest(
    ranked: Sequence[Ranked],
    score_name: str,
    chance: dict[str, float],
    baseline: Ranked | None,
):
    """The top models' validation and test values with their intervals, one row each named by
    its rank and model, a line at the first model's validation lower bound (a row whose
    validation interval reaches past it is tied with the first), and the lines a reader
    measures them against: chance, and the best baseline's validation value."""
    import matplotlib.pyplot as plt

    rows = forest_rows(ranked)
    figure, ax = plt.subplots(figsize=(10, 2.2 + 0.32 * len(rows)), layout="constrained")
    y = np.arange(len(rows), dtype=float)
    for split, offset, color in (("val", -0.15, "C0"), ("test", 0.15, "C1")):
        at, lows, highs = _spans(y + offset, [getattr(r, f"{split}_interval") for r in rows])
        ax.hlines(at, lows, highs, color=color, lw=1.5)
        values = [getattr(r, split) for r in rows]
        ax.plot(values, y + offset, "o", color=color, ms=5, label=split)
    first = rows[0].val_interval
    if first is not None:
        ax.axvline(first[0], color="grey", ls=":", label="first model's validation lower bound")
    ax.axvline(
        chance["val"], color="black", ls="--", lw=1, label=f"chance, val ({chance['val']:.3f})"
    )
    if baseline is not None and baseline.val is not None:
        kind = baseline.name.removeprefix("baseline-")
        ax.axvline(baseline.val, color="C2", lw=1.5, label=f"best baseline, val: {kind}")
    names = _distinct(m.name for m in ranked[: len(rows)])
    ax.set_yticks(y, [f"{r.label}  {n}" for r, n in zip(rows, names, strict=True)])
    ax.tick_params(axis="y", labelsize=7)
    ax.invert_yaxis()  # best at the top
    ax.set(xlabel=f"val and test {score_name} ({INTERVAL})", ylabel="rank (=: tied with 1), model")
    ax.set_title(f"top {len(rows)} of {len(ranked)} models by validation", fontsize=9)
    figure.legend(loc="outside lower center", ncols=3, fontsize=8)  # off the rows it would hide
    return figure


def _distinct(names) -> list[str]:
    """The models' names as rows tell them apart: the parts of the names that differ (the
    date and time, and settings every row shares, left out)."""
    parts = [name.split("_") for name in names]
    shared = set.intersection(*(set(p[1:]) for p in parts)) if parts else set()
    return [" ".join(x for x in p[1:] if x not in shared) or p[0] for p in parts]


def _seed_share(configurations: Sequence[RankedConfiguration], score_name: str):
    """Each configuration's seeds (points) and their mean (bar), best mean first, validation and
    test side by side, with the share of the variance between configurations in the titles:
    how much of a model's score its setting explains and how much its seed."""
    import matplotlib.pyplot as plt

    if all(c.seeds < 2 for c in configurations):
        return Nothing(f"the seed's share {ONE_SEED_EACH}")
    shown = configurations[:TOP]
    figure, axes = plt.subplots(1, 2, figsize=(12, 1.8 + 0.3 * len(shown)), sharey=True)
    y = np.arange(len(shown), dtype=float)
    for ax, split in zip(axes, ("val", "test"), strict=True):
        for row, configuration in zip(y, shown, strict=True):
            values = [_number(getattr(m, split)) for m in configuration.models]
            ax.plot(values, [row] * len(values), "o", color="C0", alpha=0.6, ms=4)
            mean = getattr(configuration, split).mean
            if mean is not None:
                ax.plot([mean, mean], [row - 0.3, row + 0.3], color="C3", lw=2)
        share = seed_share(configurations, split)
        title = (
            f"the seed's share {share.unmeasured}"
            if share.between_configurations is None
            else f"{share.between_configurations:.0%} between configurations "
            f"[{share.low:.0%}, {share.high:.0%}], the rest between seeds"
        )
        ax.set_title(title, fontsize=9)
        ax.set(xlabel=f"{split} {score_name}")
    labels = [f"{c.rank} ({c.seeds})" for c in shown]
    axes[0].set_yticks(y, labels)
    axes[0].set_ylabel("configuration by mean validation (seeds)")
    axes[0].invert_yaxis()
    figure.suptitle(
        f"seeds (points) and their mean (bar) of the top {len(shown)} of "
        f"{len(configurations)} configurations"
    )
    figure.tight_layout()
    return figure


def _importance(found: dict[str, float] | str, score_name: str):
    """Each hyperparameter's importance for the configurations' mean validation score
    (Optuna's PED-ANOVA on the scores study), or why it cannot be measured."""
    import matplotlib.pyplot as plt

    if isinstance(found, str):
        return Nothing(found)
    figure, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
    names = list(found)[::-1]
    ax.barh(names, [found[n] for n in names])
    ax.set(xlabel="importance (PED-ANOVA, sums to 1)")
    ax.set_title(f"what drives the configurations' mean {score_name}", fontsize=9)
    return figure


def _hyperparameters(ranked: Sequence[Ranked], score_name: str):
    """Validation score with its interval against each hyperparameter the study varies (all of
    them when it varies none), so a hyperparameter added to the model gets its panel. Thin
    translucent bars keep hundreds of models readable."""
    import matplotlib.pyplot as plt

    configs = [Hyperparameters.from_saved(settings_of(r.config)).to_dict() for r in ranked]
    varied = [h for h in HYPERPARAMETERS if len({str(c[h]) for c in configs}) > 1]
    names = varied or list(HYPERPARAMETERS)
    columns = 4
    rows = -(-len(names) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(15, 3.5 * rows), squeeze=False)
    val = np.array([_number(r.val) for r in ranked])
    intervals = [_interval(r.val_low, r.val_high) for r in ranked]
    for ax, column in zip(axes.flat, names, strict=False):
        values = [config[column] for config in configs]
        if not all(isinstance(v, int | float) for v in values):  # dilations, activation, tcn
            labels = sorted({str(v) for v in values})
            positions = [labels.index(str(v)) for v in values]
            ax.set_xticks(range(len(labels)), labels, fontsize=7)
        else:
            positions = values
        ax.vlines(*_spans(positions, intervals), color="C0", lw=0.7, alpha=0.35)
        ax.scatter(positions, val, alpha=0.7, s=16)
        ax.set(xlabel=column, ylabel=f"val {score_name}")
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    figure.suptitle(f"validation {score_name} of {len(ranked)} models (bars: {INTERVAL})")
    figure.tight_layout()
    return figure


def _by_condition(test: SplitScores, data: PreparedData):
    import matplotlib.pyplot as plt

    per_cut = {int(c): i for i, c in enumerate(data.cuts["cut_no"])}
    rows = np.array([per_cut[int(c)] for c in test.cut_no])
    figure, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, condition in zip(axes, CONDITIONS, strict=True):
        values = data.cuts[condition][rows]
        levels = sorted(set(values.tolist()))
        width = 0.8 / len(SPACES)
        for k, space in enumerate(SPACES):
            aps = [
                average_precision(test.abnormal[values == v], test.scores[space][values == v])
                for v in levels
            ]
            ax.bar(np.arange(len(levels)) + k * width, aps, width, label=space)
        chance = [test.abnormal[values == v].mean() for v in levels]  # each level's own
        starts = np.arange(len(levels)) - width / 2
        ax.hlines(chance, starts, starts + 0.8, color="black", ls="--", lw=1, label="chance")
        ax.set_xticks(np.arange(len(levels)) + width / 2, [f"{v:g}" for v in levels])
        ax.set(title=f"test PR-AUC (AP) by {condition}", xlabel=condition, ylim=(0, 1))
        ax.legend()
    return figure


def _cut_scores(splits: dict[str, SplitScores], data: PreparedData):
    """Mean window score per cut against VB; unmeasured VB interpolated in cutting time."""
    import matplotlib.pyplot as plt

    cut_no = np.concatenate([s.cut_no for s in splits.values()])
    cuts = data.cuts
    measured = np.isfinite(cuts["VB"])
    vb = fill_missing_vb(cuts["case"], cuts["time"], cuts["VB"])
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, (space, label) in zip(axes, SPACES.items(), strict=True):
        scores = np.concatenate([s.scores[space] for s in splits.values()])
        means = np.array([scores[cut_no == c].mean() for c in cuts["cut_no"]])
        for cls, class_name in enumerate(CLASS_NAMES):
            mine = cuts["tool_class"] == cls
            color = f"C{cls}"
            ax.scatter(vb[mine & measured], means[mine & measured], color=color, label=class_name)
            ax.scatter(
                vb[mine & ~measured], means[mine & ~measured], facecolors="none", edgecolors=color
            )
        ax.set(
            title=f"mean window score per cut, {label}",
            xlabel="flank wear VB (mm; hollow: interpolated)",
            ylabel="mean score",
            yscale="log",
        )
        _plain_log(ax.yaxis)
        ax.legend()
    return figure
