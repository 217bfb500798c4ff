"""Saving and loading one model: ours against plain Keras ``model.save`` / ``load_model``.

The paper's best configuration, trained one epoch on a few hundred real windows, is saved and
loaded ``--repeats`` times each way, alternating so that drift in the machine's speed hits both
alike:

- ours: ``vae.storage.save_model`` (staging directory, sha256, manifest, rename; the model's
  weights without Adam's state) and ``vae.storage.load_model`` (sha256 check, Keras safe
  mode), with Keras' attribute skip sets computed once per process
  (``vae.storage._cache_keras_skipsets``);
- the baseline: Keras' own ``model.save`` and ``keras.saving.load_model(safe_mode=True)`` as
  Keras 3.15 runs them, building a throwaway reference Layer for every layer it walks.

Every trial saves its model once and the scoring stage loads it once, so both times are part
of each trial's overhead and of each model's scoring.

    python benchmarks/bench_save_load.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import keras  # noqa: E402
from keras.src.backend.common import global_state  # noqa: E402

from benchmarks.common import PAPER_BEST, paper_prepared, timed  # noqa: E402
from vae import storage  # noqa: E402
from vae.training import train_vae  # noqa: E402


def _forget_skipsets() -> None:
    """Back to Keras' own behaviour: no skip set cached under the key it reads."""
    for obj_type in storage._KERAS_SKIPSET_TYPES:
        global_state.set_global_attribute(f"saving_attr_skiplist_{obj_type}", None)


def _one_round(
    trained, directory: Path, index: int, times: dict[str, list[float]]
) -> tuple[int, int]:
    """Save and load once each way, appending the four times; the two files' sizes."""
    plain = directory / f"plain-{index}.keras"
    _forget_skipsets()
    times["keras save"].append(timed(lambda: trained.model.save(plain))[1])
    _forget_skipsets()
    _, seconds = timed(lambda: keras.saving.load_model(plain, safe_mode=True, compile=False))
    times["keras load"].append(seconds)
    saved, seconds = timed(
        lambda: storage.save_model(trained, directory, trial=index, data_sha256=None)
    )
    times["save"].append(seconds)
    times["load"].append(timed(lambda: storage.load_model(saved.path))[1])
    return plain.stat().st_size, (saved.path / storage.MODEL_FILE).stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    data = paper_prepared()
    trained = train_vae(replace(PAPER_BEST, epochs=1), data.X_train_slim[:512], data.X_val_slim)
    times: dict[str, list[float]] = {k: [] for k in ("keras save", "keras load", "save", "load")}
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(args.repeats):
            sizes = _one_round(trained, Path(tmp), index, times)
    median = {k: statistics.median(v) for k, v in times.items()}
    print(f"the paper's best model, median of {args.repeats}")
    print(f"  save: plain Keras {median['keras save']:5.3f} s, ours {median['save']:5.3f} s")
    print(f"  load: plain Keras {median['keras load']:5.3f} s, ours {median['load']:5.3f} s")
    print(f"  model.keras: plain Keras {sizes[0] / 1e3:.0f} kB, ours {sizes[1] / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
