"""Commands on a study's models: score them, rank them, draw and export the results."""

from __future__ import annotations

import argparse
from pathlib import Path

from search.cli.common import (
    add_abnormal,
    add_rank_options,
    say_unranked,
    study_command,
    writable_output,
)
from search.evaluation.names import DEFAULT_BOOTSTRAP, DEFAULT_REPEATS, DEFAULT_TIERS


def cmd_score(args: argparse.Namespace) -> int:
    from search import score

    report = score(
        args.study,
        args.storage,
        repeats=args.repeats,
        workers=args.workers,
        abnormal=args.abnormal,
        bootstrap=args.bootstrap,
        tiers={"watch": args.watch, "act": args.act},
    )
    print("\n".join(report.lines()))
    return 0


def add_score(subparsers: argparse._SubParsersAction) -> None:
    p = study_command(
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
    p.add_argument("--workers", type=int, default=1, help="parallel scoring processes (1)")
    add_scoring_options(p)
    add_abnormal(p)


def add_scoring_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--repeats",
        type=int,
        default=DEFAULT_REPEATS,
        help=f"sampled draws in input space ({DEFAULT_REPEATS})",
    )
    p.add_argument(
        "--bootstrap",
        type=int,
        default=DEFAULT_BOOTSTRAP,
        help=f"resamples of each split's cuts behind each score's 95%% interval; 0: none "
        f"({DEFAULT_BOOTSTRAP})",
    )
    for tier, percentile in DEFAULT_TIERS.items():
        p.add_argument(
            f"--{tier}",
            type=float,
            default=percentile,
            help=f"the {tier!r} alert threshold: this percentile of the healthy validation "
            f"windows' scores ({percentile})",
        )


def cmd_best(args: argparse.Namespace) -> int:
    from search import (
        best,
        best_configurations,
        compare_with_baseline,
        format_configurations,
        format_ranking,
    )
    from search.evaluation.configurations import seed_share, with_configuration_means

    how = {
        "space": args.space,
        "metric": args.metric,
        "abnormal": args.abnormal,
        "unit": args.unit,
    }
    label = f"{args.space} {args.metric}" + (" per cut" if args.unit == "cut" else "")
    configurations = best_configurations(args.study, args.storage, n=None, **how)
    if args.by == "configuration":
        print(format_configurations(configurations[: args.n], args.format, label))
    else:
        from search.evaluation.baselines import baselines_beside

        rows = best(args.study, args.storage, n=args.n, **how)
        rows = with_configuration_means(rows, configurations)
        beside = baselines_beside(
            args.study,
            args.storage,
            metric=args.metric,
            unit=args.unit,
            abnormal=args.abnormal,
            first=rows[0] if rows else None,
        )
        chance = None
        if args.format == "table":
            from search.evaluation.ranking import chance_levels

            chance = chance_levels(
                args.study, args.storage, metric=args.metric, abnormal=args.abnormal, unit=args.unit
            )
        print(format_ranking(rows, args.format, label, beside, chance))
    if args.format == "table" and configurations:
        print(f"seed's share, {seed_share(configurations, 'val').line()}")
        print(compare_with_baseline(args.study, args.storage, **how).line(label))
    say_unranked(args)
    return 0


def add_best(subparsers: argparse._SubParsersAction) -> None:
    from search.outputs.tables import FORMATS

    p = study_command(
        subparsers,
        cmd_best,
        "best",
        help="the best N models by validation PR-AUC, test beside it",
        description=(
            "Rank scored models by their validation score (never by test) and show the test "
            "score beside it, the hyperparameters and the model path."
        ),
    )
    p.add_argument("-n", type=int, default=10, help="how many models or configurations (10)")
    p.add_argument(
        "--by",
        choices=("model", "configuration"),
        default="model",
        help="rank models, or configurations by their seeds' mean validation score, with the "
        "spread over seeds and an interval over seeds and cuts (model)",
    )
    p.add_argument("--format", choices=FORMATS, default="table", help="(table)")
    add_rank_options(p)


def cmd_ensemble(args: argparse.Namespace) -> int:
    from search import ensemble

    result = ensemble(
        args.study,
        args.storage,
        top=args.top,
        of=args.of,
        space=args.space,
        metric=args.metric,
        abnormal=args.abnormal,
        unit=args.unit,
        repeats=args.repeats,
        bootstrap=args.bootstrap,
        tiers={"watch": args.watch, "act": args.act},
    )
    print("\n".join(result.lines()))
    return 0


def add_ensemble(subparsers: argparse._SubParsersAction) -> None:
    p = study_command(
        subparsers,
        cmd_ensemble,
        "ensemble",
        help="a detector of the best K models chosen on validation, scored and ranked as one",
        description=(
            "Build an ensemble of the K best models chosen on validation (the seeds of the best "
            "configuration, or the best models overall): its score is the mean of each "
            "member's window score normalised by that member's validation scores. It is saved "
            "in the models directory, scored like any model, ranked in best as one entry, and "
            "predict takes it."
        ),
    )
    p.add_argument("--top", type=int, default=3, help="how many members (3)")
    p.add_argument(
        "--of",
        choices=("configuration", "models"),
        default="configuration",
        help="the best configuration's seeds, or the best models overall (configuration)",
    )
    add_scoring_options(p)
    add_rank_options(p)


def cmd_report(args: argparse.Namespace) -> int:
    from search import report

    paths = report(
        args.study,
        writable_output(args.out, args, folder=True),
        args.storage,
        args.space,
        args.metric,
        args.abnormal,
        args.unit,
        model=args.model,
    )
    print("\n".join(f"wrote {p}" for p in paths))
    print("\n".join(f"left out {name}: {why}" for name, why in paths.skipped.items()))
    say_unranked(args)
    return 0


def add_report(subparsers: argparse._SubParsersAction) -> None:
    p = study_command(
        subparsers,
        cmd_report,
        "report",
        help="PNG figures: the best model's curves, distributions, conditions, cut scores",
        description=(
            "Write PNG figures: precision-recall and ROC curves of the best model (validation "
            "and test, both spaces), its score distributions per class, PR-AUC against each "
            "hyperparameter over all models, the best model's test PR-AUC by material, feed and "
            "depth of cut, mean window score per cut against flank wear, each signal's test "
            "PR-AUC for the top models, and the model's reconstructions of a healthy and a "
            "failed cut, validation latent means (PCA) and learning curves."
        ),
    )
    p.add_argument("--out", required=True, type=Path, help="directory for the figures")
    p.add_argument("--model", default=None, help="the model the one-model figures show (the best)")
    add_rank_options(p)


def cmd_export(args: argparse.Namespace) -> int:
    from search import export

    out = writable_output(args.out, args)
    rows = export(args.study, out, args.storage, args.abnormal)
    print(f"wrote {out} ({rows} models)")
    say_unranked(args)
    return 0


def add_export(subparsers: argparse._SubParsersAction) -> None:
    p = study_command(
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
    add_abnormal(p)


def cmd_show(args: argparse.Namespace) -> int:
    from search import show

    print("\n".join(show(args.study, args.model, args.storage, args.abnormal)))
    return 0


def add_show(subparsers: argparse._SubParsersAction) -> None:
    p = study_command(
        subparsers,
        cmd_show,
        "show",
        help="one model's checks: active latent dimensions, each signal's score, thresholds",
        description=(
            "Show one scored model: its validation and test PR-AUC, its active latent "
            "dimensions (collapsed when none), the PR-AUC of each signal's reconstruction error "
            "alone, and every threshold it has had (max F1 and the healthy-percentile tiers) "
            "with precision, recall, false alarms per 100 healthy cuts and confusion matrices."
        ),
    )
    p.add_argument("--model", required=True, help="the model's name (or its directory)")
    add_abnormal(p)
