"""What the seed does to a search, measured on a scored study trained with several seeds per
configuration (issue 24).

Prints, for the study's models (ensembles left out):

- the seed's share of the validation and test latent PR-AUC variance (ICC(1), as ``best``);
- the Spearman correlation of validation and test latent PR-AUC over all models;
- the Spearman correlation of the validation latent PR-AUC at epochs 5, 10, 20 and 50 (the
  trainings' own scores, ``vae.monitor``) with the kept weights' value: whether stopping the
  poor trainings early (successive halving over epochs) could work here;
- by resampling the recorded trainings at an equal number of trainings (``--budget``), the
  expected test latent PR-AUC of the detector chosen on validation alone by: one seed per
  configuration (the paper's way); K seeds per configuration ranked by their mean (the best
  seed of the best configuration kept); racing (``search.execution.racing``: half the budget's
  configurations in a random order, each next seed planned as the race decides, the best mean
  among those with the most seeds chosen); and the ensemble of the best configuration's seeds
  (``vae.ensemble``).

The window scores of every model are computed once and cached in the study directory
(``seed_study_scores-KEY.npz``, KEY from the scoring code and the data).

    python benchmarks/seed_study.py --study runs/seeds24 [--budget 24] [--resamples 2000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from search.evaluation.configurations import (  # noqa: E402
    best_configurations,
    configuration_of,
    seed_share,
)
from search.execution.racing import decide  # noqa: E402
from studies.storage import locate, open_study  # noqa: E402
from vae.ensemble import ENSEMBLE, normalise  # noqa: E402
from vae.metrics import average_precision  # noqa: E402

EPOCHS = (5, 10, 20, 50)
PAPER = 0.450  # the paper's best test latent PR-AUC: six signals, the best of 1,000 trainings
CACHE = "seed_study_scores-{key}.npz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", required=True, type=Path)
    parser.add_argument("--budget", type=int, default=24, help="trainings per search (24)")
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args()
    location = locate(args.study)
    configurations = [
        c for c in best_configurations(args.study, n=None) if ENSEMBLE not in c.config
    ]
    seeds = max(c.seeds for c in configurations)  # configurations still training are left out
    configurations = [c for c in configurations if c.seeds == seeds]
    models = [m for c in configurations for m in c.models[:seeds]]
    print(f"{len(configurations)} configurations x {seeds} seeds: {len(models)} trainings")
    for split in ("val", "test"):
        print(f"seed's share, {seed_share(configurations, split).line()}")
    print(
        f"Spearman, validation against test latent PR-AUC over {len(models)} models: "
        f"{_spearman([m.val for m in models], [m.test for m in models])}"
    )
    _epochs(location, models)
    scores = _window_scores(location, models)
    _strategies(configurations, seeds, scores, args.budget, args.resamples)


def _spearman(a, b) -> str:
    from scipy.stats import spearmanr

    a, b = np.asarray(a, float), np.asarray(b, float)
    kept = np.isfinite(a) & np.isfinite(b)
    rho = spearmanr(a[kept], b[kept]).statistic
    return f"{rho:.2f} (n = {int(kept.sum())})"


def _epochs(location, models) -> None:
    """The trainings' own validation PR-AUC at fixed epochs against the kept weights'."""
    final, at = [], {e: [] for e in EPOCHS}
    for model in models:
        manifest = json.loads((location.model_path(model.path) / "manifest.json").read_text())
        curve = manifest["history"].get("val_latent_ap", [])
        final.append(manifest["training"].get("val_latent_ap", math.nan))
        for epoch in EPOCHS:
            at[epoch].append(curve[epoch - 1] if len(curve) >= epoch else math.nan)
    for epoch in EPOCHS:
        print(
            f"Spearman, validation latent PR-AUC at epoch {epoch} against the kept weights': "
            f"{_spearman(at[epoch], final)}"
        )


def _window_scores(location, models) -> dict[str, dict[str, np.ndarray]]:
    """Each model's latent scores of the validation and test windows, cached under the key of
    the code that scores (vae-search's ``vae`` package) and the data: other code or other data,
    another cache."""
    from data_prep.prepared import load_prepared
    from vae.ensemble import load_detector
    from vae.provenance import source_sha256
    from vae.scores import window_scores

    data = load_prepared(open_study(location).prepared_file())
    key = hashlib.sha256(f"{source_sha256(('vae',))}\n{data.sha256}".encode()).hexdigest()
    cache = location.directory / CACHE.format(key=key[:12])
    stored = dict(np.load(cache)) if cache.is_file() else {}
    for model in models:
        if f"{model.name}|val" in stored:
            continue
        detector = load_detector(location.model_path(model.path))
        for split in ("val", "test"):
            X, _, _ = data.split(split)
            stored[f"{model.name}|{split}"] = window_scores(detector, X, 0, 0).latent
    np.savez(cache, **stored)
    found = {"labels": {}}
    for split in ("val", "test"):
        _, y, _ = data.split(split)
        found["labels"][split] = np.isin(y, (2,))
    for model in models:
        found[model.name] = {s: stored[f"{model.name}|{s}"] for s in ("val", "test")}
    return found


def _strategies(configurations, seeds: int, scores, budget: int, resamples: int) -> None:
    # each configuration's seeds in their seed order (a ranking lists them best first)
    ordered = {configuration_of(c.config): _by_seed(c.models[:seeds]) for c in configurations}
    val = {k: [m.val for m in models] for k, models in ordered.items()}
    test = {k: [m.test for m in models] for k, models in ordered.items()}
    keys = list(val)
    ensemble_test = {
        k: _ensemble_ap(c.models[:seeds], scores) for k, c in zip(keys, configurations, strict=True)
    }
    rng = np.random.default_rng(0)
    chosen: dict[str, list[float]] = {
        "one seed per configuration": [],
        f"{seeds} seeds, by their mean": [],
        f"{seeds} seeds, the chosen one's mean (a retraining)": [],
        "racing": [],
        f"ensemble of the {seeds} seeds": [],
    }
    names = list(chosen)
    width = min(budget, len(keys))
    for _ in range(resamples):
        picked = rng.choice(len(keys), width, replace=False)
        drawn = {keys[i]: int(rng.integers(seeds)) for i in picked}
        best = max(drawn, key=lambda k: val[k][drawn[k]])
        chosen[names[0]].append(test[best][drawn[best]])
        count = min(len(keys), max(1, budget // seeds))
        groups = [keys[i] for i in rng.choice(len(keys), count, replace=False)]
        top = max(groups, key=lambda k: np.mean(val[k]))
        seed = int(np.argmax(val[top]))
        chosen[names[1]].append(test[top][seed])
        chosen[names[2]].append(float(np.mean(test[top])))
        chosen[names[4]].append(ensemble_test[top])
        chosen[names[3]].append(_race(keys, val, test, seeds, budget, rng))
    print(
        f"\nexpected test latent PR-AUC of the detector chosen on validation, {budget} "
        f"trainings a search, {resamples} resamples (mean [5th-95th percentile]); "
        f"the paper: {PAPER} (six signals, best of 1,000):"
    )
    for name, values in chosen.items():
        values = np.array(values, float)
        low, high = np.nanpercentile(values, [5, 95])
        print(f"  {name:>50}: {np.nanmean(values):.3f} [{low:.3f}-{high:.3f}]")


def _by_seed(models) -> list:
    from vae.naming import parse_name

    return sorted(models, key=lambda m: parse_name(m.name).seed_number)


def _race(keys, val, test, seeds: int, budget: int, rng) -> float:
    """One search that races: half the budget's configurations, drawn in a random order,
    first seeds first; each completed training lets the race plan that configuration's next
    seed, until the budget is spent."""
    order = [keys[i] for i in rng.permutation(len(keys))[: max(1, budget // 2)]]
    queue = [(k, 0) for k in order]
    done: dict[str, list[float]] = {}
    spent = 0
    while queue and spent < budget:
        key, seed = queue.pop(0)
        done.setdefault(key, []).append(val[key][seed])
        spent += 1
        indexed = {i: done[k] for i, k in enumerate(done)}
        index = list(done).index(key)
        if len(done[key]) < seeds and decide(index, indexed, seeds).goes_on:
            queue.append((key, seed + 1))
    most = max(len(v) for v in done.values())
    leaders = [k for k, v in done.items() if len(v) == most]
    top = max(leaders, key=lambda k: np.mean(done[k]))
    return test[top][int(np.argmax(done[top]))]


def _ensemble_ap(models, scores) -> float:
    """The test latent PR-AUC of the ensemble of ``models`` (each normalised by its own
    validation scores, as vae.ensemble does)."""
    normalised = [normalise(scores[m.name]["test"], np.sort(scores[m.name]["val"])) for m in models]
    return average_precision(scores["labels"]["test"], np.mean(normalised, axis=0))


if __name__ == "__main__":
    main()
