"""Paper-size trials per hour on this machine's GPUs with 1, 2 and 4 training processes per GPU
(``run --gpus all --per-gpu K``), against one process per GPU measured in the same run.

A paper-space model has about 46,000 parameters and trains on batches of 1,024 windows of 64 x 5
values: one training job leaves most of a modern GPU idle (kernel launches, not arithmetic,
bound its step), so several jobs per GPU should multiply the trials per hour until the GPU's
streaming multiprocessors or its memory bandwidth are busy. This measures it: for each K, in the
order 1, 2, 4, 4, 2, 1 (machine speed drifts), a fresh study of ``--trials`` trials of the
paper's best configuration (batch 1024, patience 50, BatchNormalization momentum 0.99, its
epochs capped at ``--epochs`` so that each trial takes the same work), run with every GPU
pinned K times; it prints trials per hour, the median trial and the ratio to K = 1.

It needs a machine with an NVIDIA GPU (``nvidia-smi -L`` lists it) and GPU TensorFlow; it
refuses in one line elsewhere. Ready to run on Colab (T4) or a cluster node (A100):

    python benchmarks/bench_gpus.py [--per-gpu 1,2,4] [--trials 8] [--epochs 100]

What it should show, not measured (no GPU where vae-search is developed): on a T4 (40 SMs,
16 GB, 320 GB/s) a trial of 100 epochs of the paper's best model takes tens of seconds, about
1-2 s of them the process start and the model's build and XLA compilation, and the step is
launch-bound, so K = 2 should give 1.5-1.9x the trials per hour of K = 1 and K = 4 little more
(2-2.5x): the T4's SMs fill. On an A100 (108 SMs, 40-80 GB, 1.5-2 TB/s) the single job is even
further from filling the GPU, so K = 4 should give 3-4x; memory is no limit at either (a job
with memory growth takes a few hundred MB). Where K stops paying is where the ratio flattens:
that K is the ``--per-gpu`` to use on that GPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_search import Figures, measure, paper_spec  # noqa: E402
from search import run  # noqa: E402
from search.execution.gpus import gpus_found  # noqa: E402


def measure_per_gpu(per_gpu: int, trials: int, spec: Path, root: Path) -> Figures:
    """One fresh study run with every GPU pinned ``per_gpu`` times."""
    gpus = gpus_found()

    def pinned_run(study, storage, workers, progress):  # measure's run, pinned instead
        return run(study, storage, gpus="all", per_gpu=per_gpu, progress=progress)

    return measure(len(gpus) * per_gpu, trials, root, spec=spec, runner=pinned_run)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-gpu", default="1,2,4", help="processes per GPU to compare")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args()
    gpus = gpus_found()
    if not gpus:
        print("bench_gpus: no GPU found (nvidia-smi -L lists none); run it on a GPU machine")
        return 2
    counts = [int(k) for k in args.per_gpu.split(",")]
    order = counts + counts[::-1]
    results: dict[int, list[Figures]] = {k: [] for k in counts}
    with tempfile.TemporaryDirectory() as tmp:
        spec = paper_spec(Path(tmp), args.epochs)
        for per_gpu in order:
            results[per_gpu].append(measure_per_gpu(per_gpu, args.trials, spec, Path(tmp)))
    print(
        f"GPUs {', '.join(gpus)}; paper's best configuration, batch 1024, epochs capped at "
        f"{args.epochs}, {args.trials} trials per run; per GPU {' '.join(map(str, order))}"
    )
    base = statistics.mean(f.per_hour for f in results[counts[0]])
    for per_gpu, runs in results.items():
        rate = statistics.mean(f.per_hour for f in runs)
        trial = statistics.median(f.median_trial for f in runs)
        print(
            f"  --per-gpu {per_gpu}: {rate:7.1f} trials per hour ({rate / base:.2f}x), "
            f"median trial {trial:6.1f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
