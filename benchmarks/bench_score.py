"""Scoring speed: our scoring of one trained model against the reference SelectThreshold code.

One model (the paper's best configuration, trained for ``--epochs`` epochs on the real data,
saved) is scored twice in one run, on the same prepared data, with ``--repeats`` draws:

- ours: ``search.evaluation.scoring.score_saved_model``: load (sha256 check, safe mode), then
  input space (sampled draws and mean coding) and latent space on train, validation and test,
  with three metrics each, and the manifest update;
- the reference (benchmarks/reference_scoring.py): load, then per draw ``model.predict`` on
  each split at batch 64 and the pandas grid search of 250 thresholds, input space only, each
  threshold's DataFrame built as the original built it (its per-window class-name and
  true-class loops included).

It also checks that our paper metric equals the reference loop's on the same scores (the
deterministic input-space and the latent-space scores of validation and test) to 1e-9.
Goal: at least 10x faster for the whole scoring of a model, load and inference included.

Then the cost of the intervals: the same scoring with ``--bootstrap`` resamples of each split's
cuts (every score's interval, per window and per cut) against none, alternated A B B A over
``--rounds`` pairs; goal: at most 10 % more.

Then the cost of the checks (issue 25: each signal's score with its intervals, the latent
dimensions' KL, the percentile tiers with their outcomes, the threshold history): the scoring
of ``--before`` (a commit before them, its ``search/evaluation/scoring.py`` loaded from git)
against today's, both with intervals, alternated A B B A over ``--rounds`` pairs; goal: at most
25 % more. The baselines, fitted and scored once per study rather than per model, are timed
apart. ``--checks-only`` runs this part alone.

    python benchmarks/bench_score.py [--epochs 2] [--repeats 4] [--bootstrap 1000] [--rounds 4]
        [--before 2ade6e0] [--checks-only]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.common import PAPER_BEST, paper_prepared, timed  # noqa: E402
from benchmarks.reference_scoring import reference_pr_auc, reference_score  # noqa: E402
from search.evaluation.names import DEFAULT_ABNORMAL, DEFAULT_BOOTSTRAP  # noqa: E402
from search.evaluation.scoring import score_saved_model  # noqa: E402
from vae.metrics import paper_pr_auc  # noqa: E402
from vae.scores import window_scores  # noqa: E402
from vae.storage import load_model, save_model  # noqa: E402
from vae.training import train_vae  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--bootstrap", type=int, default=DEFAULT_BOOTSTRAP)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--before", default=BEFORE_CHECKS, help="commit scored as 'before'")
    parser.add_argument("--checks-only", action="store_true")
    args = parser.parse_args()
    data = paper_prepared()
    hp = replace(PAPER_BEST, epochs=args.epochs)
    trained = train_vae(hp, data.X_train_slim, data.X_val_slim)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = save_model(trained, tmp, trial=0, data_sha256=data.sha256).path

        def ours_with(bootstrap: int) -> float:
            return timed(
                lambda: score_saved_model(
                    model_dir, data, DEFAULT_ABNORMAL, args.repeats, bootstrap=bootstrap
                )
            )[1]

        if args.checks_only:
            checks(model_dir, data, args)
            return
        ours = ours_with(args.bootstrap)
        _, reference = timed(
            lambda: reference_score(
                load_model(model_dir), data, DEFAULT_ABNORMAL, search_iterations=args.repeats
            )
        )
        worst = agreement(load_model(model_dir), data)
        with_intervals, without = [], []
        for round_ in range(args.rounds):  # A B B A: drift spreads over both
            order = (args.bootstrap, 0) if round_ % 2 == 0 else (0, args.bootstrap)
            for bootstrap in order:
                (with_intervals if bootstrap else without).append(ours_with(bootstrap))
        checks(model_dir, data, args)
    print(f"scoring one model (paper best, {args.repeats} draws, train + val + test)")
    print(f"  reference SelectThreshold: {reference:6.2f} s (input space, 1 metric)")
    print(f"  ours:                      {ours:6.2f} s (input + latent, 3 metrics)")
    print(f"  speed-up: {reference / ours:.1f}x (goal >= 10x)")
    print(f"  paper metric, largest difference from the reference loop: {worst:.1e} (<= 1e-9)")
    a, b = float(np.median(with_intervals)), float(np.median(without))
    print(f"intervals: {args.bootstrap} resamples of cuts, {args.rounds} rounds A B B A, medians")
    print(
        f"  with intervals: {a:6.2f} s   without: {b:6.2f} s   "
        f"cost: {a / b - 1:+.1%} (goal <= +10%)"
    )


BEFORE_CHECKS = "2ade6e0"  # the last commit before the checks of issue 25


def scoring_at(revision: str, directory: Path):
    """``search/evaluation/scoring.py`` as it was at ``revision``, written to ``directory`` (so
    that TensorFlow's autograph finds its source) and loaded as a module of its own."""
    source = subprocess.run(
        ["git", "show", f"{revision}:search/evaluation/scoring.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = directory / f"scoring_{revision}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def checks(model_dir: Path, data, args: argparse.Namespace) -> None:
    """Today's scoring (checks included) against ``--before``'s, A B B A; the baselines apart."""
    from search.evaluation.baselines import fit_baselines

    before = scoring_at(args.before, model_dir.parent)

    def scored(module) -> float:
        return timed(
            lambda: module.score_saved_model(
                model_dir, data, DEFAULT_ABNORMAL, args.repeats, bootstrap=args.bootstrap
            )
        )[1]

    import search.evaluation.scoring as today

    scored(today)  # the first load of each path pays imports once, outside the rounds
    scored(before)
    times: dict[str, list[float]] = {"today": [], "before": []}
    for round_ in range(args.rounds):
        order = ("today", "before") if round_ % 2 == 0 else ("before", "today")
        for name in order:
            times[name].append(scored(today if name == "today" else before))
    a, b = (float(np.median(times[k])) for k in ("today", "before"))
    print(f"checks: scoring one model, {args.rounds} rounds A B B A, medians, with intervals")
    print(f"  today: {a:6.2f} s ({', '.join(f'{t:.2f}' for t in times['today'])})")
    print(f"  {args.before}: {b:6.2f} s ({', '.join(f'{t:.2f}' for t in times['before'])})")
    print(f"  cost: {a / b - 1:+.1%} (goal <= +25%)")
    _, fitted = timed(lambda: list(fit_baselines(data, DEFAULT_ABNORMAL)))
    print(f"  baselines fitted and scored on every window, once per study: {fitted:.2f} s")


def agreement(model, data) -> float:
    """Largest |ours - reference| of the paper metric on the same deterministic scores."""
    differences = []
    for split in ("val", "test"):
        X, y, _ = data.split(split)
        abnormal = np.isin(y, DEFAULT_ABNORMAL)
        scores = window_scores(model, X, repeats=1, seed=0)
        for values in (scores.input_mean, scores.latent):
            ours = paper_pr_auc(abnormal, values)
            theirs = reference_pr_auc(y, DEFAULT_ABNORMAL, values)
            differences.append(abs(ours - theirs))
    return max(differences)


if __name__ == "__main__":
    main()
