"""The Colab path's copy of the study database to Drive, after every trial.

A study of the paper spec with all of its 1000 trials planned (the reference study's size) is
launched; its SQLite database is then copied whole with ``studies.backup.backup_sqlite`` (the
backup API, a temporary file, a rename) and, as the baseline, with a plain ``shutil.copyfile``
(as fast as a copy gets, and unsafe while workers write). Prints the median of each and the
cost as a share of one paper-size trial (about 100 epochs of about 1.1 s).

    python benchmarks/bench_backup.py [--trials 1000]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import DATA, median_seconds  # noqa: E402
from search import launch  # noqa: E402
from studies.backup import backup_sqlite  # noqa: E402

PAPER_TRIAL_SECONDS = 100 * 1.1
REPEATS = 7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        study = Path(tmp) / "paper"
        launch(
            study,
            ROOT / "studies" / "paper.toml",
            trials=args.trials,
            data=DATA / "mill.mat",
            labels=DATA / "labels_with_tool_class.csv",
        )
        db = study / "study.db"
        drive = Path(tmp) / "drive"
        drive.mkdir()
        ours = median_seconds(lambda: backup_sqlite(db, drive / "backup.db"), REPEATS)
        plain = median_seconds(lambda: shutil.copyfile(db, drive / "plain.db"), REPEATS)
        size = (drive / "backup.db").stat().st_size / 2**20
    print(f"study database with {args.trials} planned trials: {size:.1f} MiB")
    print(f"backup_sqlite (consistent, atomic): {ours * 1000:.1f} ms")
    print(f"shutil.copyfile (baseline, unsafe while workers write): {plain * 1000:.1f} ms")
    share = ours / PAPER_TRIAL_SECONDS
    print(f"cost per paper-size trial (~{PAPER_TRIAL_SECONDS:.0f} s): {share:.3%}")


if __name__ == "__main__":
    main()
