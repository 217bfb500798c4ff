"""Fidelity: the paper's best configuration trained with many seeds, scored beside PCA.

For each split (the paper's, which puts windows of one cut in several splits, and the
leakage-free split by cut), a study of the ``paper-best`` spec trains the paper's best
configuration (its TCN, BatchNormalization momentum 0.99, beta 3.92, 21 codings, 2 layers of 16
filters, kernel 3, dilations 1-2-4-8, selu output, batch 1024, patience 50, at most 2000 epochs)
with ``--seeds`` training seeds, on ``--workers`` workers, and scores every model and the
baselines as ``vae-search score`` does (failed windows abnormal, 1,000 resampled cut sets). It
prints, per split:

- every training: its epochs, validation and test PR-AUC (average precision) in latent and
  input space, and the share of its test reconstructions outside [0, 1];
- one training: the mean, SD and range over the seeds, against PCA's test PR-AUC;
- the best of N trainings chosen on validation: the expected test PR-AUC of the chosen model
  with its 5-95 % band and how often it beats PCA, for N = 1, 2, 4, 8 and all
  (:mod:`search.evaluation.selection`), and the paired interval of (chosen minus PCA) over
  the shared cut resamples.

Each study lives in ``--out`` under a name that carries the key of what makes its models: the
training code (vae-search's ``vae`` package), the prepared data, and the path (oneDNN, the
convolution path, the branches). Run again with the same code, data and path, it reuses what
is trained and trains what is left (a study resumes); with any of them changed, it trains a
new study, so the table printed is always what this code makes. A model whose manifest names
another key is refused.

    python benchmarks/fidelity.py [--out runs/fidelity] [--seeds 12] [--splits paper,cut]
        [--workers 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import DATA, paper_prepared  # noqa: E402

# Hahn & Mechefske (2021), Table 5, best milling model, test PR-AUC (six signals).
PAPER_TABLE_5 = {"input": 0.411, "latent": 0.450}
# The published model's figures from its author's notebook (published_model/README.md).
PUBLISHED = {"val": {"input": 0.434, "latent": 0.493}, "test": {"input": 0.419, "latent": 0.450}}
SPEC = ROOT / "studies" / "paper-best.toml"
BEST_OF = (1, 2, 4, 8)


def study_key(data_sha256: str, spec: str) -> dict:
    """What makes the study's models: its spec (the configuration, the seeds' source), the
    training code, the data, and the path its arithmetic takes here (as a job of the search
    sets it up)."""
    from vae.fused import dilation_path
    from vae.machine import onednn_enabled
    from vae.provenance import code_version

    return {
        "spec_sha256": hashlib.sha256(spec.encode()).hexdigest(),
        "training_sha256": code_version()["training_sha256"],
        "data_sha256": data_sha256,
        "onednn": onednn_enabled(),
        "convolution": dilation_path(),
        "branches": min(os.cpu_count() or 1, 4),
    }


def digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def trained_study(split: str, seeds: int, workers: int, out: Path) -> Path:
    """The split's study for this code, data and path: launched (or found), trained, scored."""
    from search import launch, run, score

    data = paper_prepared(split)
    text = SPEC.read_text().replace('split = "paper"', f'split = "{split}"')
    key = study_key(data.sha256, text)
    study = out / f"{split}-{digest(key)}"
    spec = out / f"paper-best-{split}.toml"
    spec.write_text(text)
    launch(
        study, spec, seeds=seeds, data=DATA / "mill.mat", labels=DATA / "labels_with_tool_class.csv"
    )
    (study / "key.json").write_text(json.dumps(key, indent=1, sort_keys=True))
    run(study, workers=workers, force=True)
    score(study, workers=1)
    check_made_by(study, key)
    return study


def check_made_by(study: Path, key: dict) -> None:
    """Refuse a study holding a model made by other code, data or path than ``key``."""
    from vae.storage import read_manifest

    for model in sorted((study / "models").glob("TBVAE-*")):
        manifest = read_manifest(model)
        path = manifest["provenance"]["path"]
        made = {
            "spec_sha256": key["spec_sha256"],  # the study's own: launch refuses another
            "training_sha256": manifest["provenance"]["code"]["training_sha256"],
            "data_sha256": manifest["data_sha256"],
            "onednn": path["onednn"],
            "convolution": path["convolution"],
            "branches": path["branches"],
        }
        if made != key:
            differs = sorted(k for k in key if made.get(k) != key[k])
            sys.exit(f"fidelity: {model}: made by other {', '.join(differs)} than this run")


def spread(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} (SD {sd:.3f}; {min(values):.3f}-{max(values):.3f})"


def outside_unit_range(model_dir: Path, X) -> float:
    """The share of the test reconstructions (through the mean coding) outside [0, 1]: binary
    cross-entropy clips them, so they get no gradient."""
    import numpy as np

    from vae.storage import load_model

    model = load_model(model_dir)
    mean, _ = model.codings(X)
    rebuilt = np.asarray(model.decoder(mean, training=False))
    return float(np.mean((rebuilt < 0) | (rebuilt > 1)))


def table(study: Path, split: str) -> list[str]:
    """The split's figures as Markdown (what README shows)."""
    from search import best, compare_with_baseline
    from search.evaluation.baselines import baselines_beside
    from vae.provenance import describe
    from vae.storage import read_manifest

    data = paper_prepared(split)
    spaces = ("latent", "input")
    ranked = {space: {r.name: r for r in best(study, n=None, space=space)} for space in spaces}
    names = sorted(
        ranked["latent"], key=lambda name: read_manifest(study / "models" / name)["seed_number"]
    )
    manifests = {name: read_manifest(study / "models" / name) for name in names}
    pca = {b.name: b for b in baselines_beside(study)}["baseline-pca"]
    first = manifests[names[0]]
    lines = [
        f"### {split} split: {len(names)} trainings, `{study.name}`",
        "",
        *(f"- {line}" for line in describe(first)[:3]),
        "",
        "| seed number | epochs (best) | val latent | test latent | val input | test input "
        "| test reconstructions outside [0, 1] |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in names:
        m, latent, inp = manifests[name], ranked["latent"][name], ranked["input"][name]
        trained = m["training"]
        lines.append(
            f"| {m['seed_number']} | {trained['epochs_trained']} ({trained['best_epoch']}) "
            f"| {latent.val:.3f} | {latent.test:.3f} | {inp.val:.3f} | {inp.test:.3f} "
            f"| {outside_unit_range(study / 'models' / name, data.X_test):.0%} |"
        )
    settings = ", ".join(f"{k} {v}" for k, v in pca.config.items() if k != "baseline")
    lines += [
        "",
        f"PCA ({settings}, chosen on validation): val {pca.val:.3f}, test {pca.test:.3f} "
        f"[{pca.test_low:.3f}, {pca.test_high:.3f}]",
        "",
    ]
    for space in spaces:
        rows = ranked[space].values()
        lines.append(f"- one training, test {space}: {spread([r.test for r in rows])}")
    lines += [
        "",
        "| space | N | expected test of the chosen | 5-95 % | beats PCA |",
        "| --- | --- | --- | --- | --- |",
    ]
    for space in spaces:
        comparison = compare_with_baseline(study, space=space, baseline="baseline-pca")
        for point in comparison.curve:
            if point.n in (*BEST_OF, comparison.trainings):
                band = f"{point.low:.3f}-{point.high:.3f}"
                lines.append(
                    f"| {space} | {point.n} | {point.expected:.3f} | {band} | {point.beats:.0%} |"
                )
        chosen = ranked[space][comparison.chosen]
        lines.append(
            f"| {space}: the chosen of all {comparison.trainings} | | val {chosen.val:.3f}, test "
            f"{chosen.test:.3f} | minus PCA {comparison.difference:+.3f} "
            f"[{comparison.difference_low:+.3f}, {comparison.difference_high:+.3f}] | |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "fidelity")
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument("--splits", default="paper,cut")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    studies = {
        split: trained_study(split, args.seeds, args.workers, args.out)
        for split in args.splits.split(",")
    }
    for split, study in studies.items():
        print("\n".join(["", *table(study, split)]))
    print(f"\npaper Table 5, test PR-AUC (six signals): {PAPER_TABLE_5}")
    print(f"published model, author's notebook (six signals): {PUBLISHED}")


if __name__ == "__main__":
    main()
