"""Shared fixtures: the real milling data in ../shared beside the project root."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("VAE_SEARCH_DATA", ROOT.parent / "shared" / "data" / "milling"))
MILL = DATA_DIR / "mill.mat"
MILL_SIX = DATA_DIR / "mill_2cuts_6signals.mat"
LABELS = DATA_DIR / "labels_with_tool_class.csv"
# The commands (and the processes they start) find mill.mat in the data directory
os.environ.setdefault("VAE_SEARCH_DATA", str(DATA_DIR))
# The suite trains with oneDNN off (before TensorFlow's first import), whatever this CPU would
# make TensorFlow choose: dilated convolutions then run by phases, as on every CPU without
# AVX-512, so no machine can hide that path; tests/test_cpu_paths.py runs the training paths
# with oneDNN on as well. A value set by the user (=1: the whole suite on oneDNN) is kept.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def pytest_sessionstart(session: pytest.Session) -> None:
    missing = [p for p in (MILL, MILL_SIX, LABELS) if not p.is_file()]
    if missing:
        raise pytest.UsageError(
            f"real data missing: {', '.join(map(str, missing))}; "
            "put ../shared/data/milling beside the project or set VAE_SEARCH_DATA"
        )


@pytest.fixture(scope="session")
def paper_config():
    from data_prep import PrepareConfig

    return PrepareConfig(MILL, LABELS, split="paper")


@pytest.fixture(scope="session")
def paper_data(paper_config):
    from data_prep import prepare

    return prepare(paper_config)


@pytest.fixture(scope="session")
def cut_data():
    from data_prep import PrepareConfig, prepare

    return prepare(PrepareConfig(MILL, LABELS, split="cut", seed=7))


@pytest.fixture
def two_cut_labels(tmp_path: Path) -> Path:
    """The labels of cut 0 and 1 only, for the two-cut six-signal file."""
    lines = LABELS.read_text().splitlines()
    path = tmp_path / "labels_2cuts.csv"
    path.write_text("\n".join(lines[:3]) + "\n")
    return path


SMOKE = ROOT / "studies" / "smoke.toml"


@contextlib.contextmanager
def made_once(tmp_path_factory, name: str) -> Iterator[tuple[Path, bool]]:
    """A directory every pytest-xdist worker of the session shares: the first worker to come
    makes its content inside the block (``made`` False) while the others wait on a file lock;
    they, and later callers, get it made (``made`` True). A fixture that builds something
    costly and only read (a trained study) is built once per session, not once per worker.
    A block that fails leaves nothing behind, so the next caller makes it again."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the session's directory above each worker's own
    place = shared / name
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = place / ".made"
        if done.is_file():
            yield place, True
            return
        shutil.rmtree(place, ignore_errors=True)
        place.mkdir()
        yield place, False
        done.touch()


@pytest.fixture(scope="session")
def trained_smoke(tmp_path_factory) -> Path:
    """Three tiny smoke models of one epoch, trained once for the session (shared by the
    workers); a test that changes a study works on a copy of it (``shutil.copytree``)."""
    with made_once(tmp_path_factory, "trained-smoke") as (root, made):
        study = root / "study"
        if not made:
            from search import launch, run

            spec = root / "smoke-1-epoch.toml"
            spec.write_text(SMOKE.read_text().replace("epochs = 3", "epochs = 1"))
            launch(study, spec)
            assert run(study, workers=2, progress=False).counts == {"COMPLETE": 3}
    return study


@pytest.fixture(scope="session")
def scored_smoke(trained_smoke, tmp_path_factory) -> Path:
    """The trained smoke study, copied and scored (one draw, 200 resamples), once for the
    session (shared by the workers); only read."""
    with made_once(tmp_path_factory, "scored-smoke") as (root, made):
        study = root / "study"
        if not made:
            from search import score

            shutil.copytree(trained_smoke, study)
            assert score(study, repeats=1, bootstrap=200).scored == 3
    return study


def modules_loaded_by(statement: str, watched: tuple[str, ...]) -> list[str]:
    """Which of the ``watched`` modules a fresh interpreter holds after running ``statement``
    (an import, say), from the project root."""
    import subprocess
    import sys

    code = f"import sys\n{statement}\nprint(*sorted(m for m in {watched!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return result.stdout.split()


def ranked_model(
    rank: int, val: float, interval: tuple[float, float] | None, test: float | None = None
):
    """A made-up ranked model: its validation value and interval, and a test value with an
    interval 0.1 either side of it."""
    from studies.results import Ranked

    low, high = interval or (None, None)
    return Ranked(
        rank=rank,
        name=f"m{rank}",
        path=f"models/m{rank}",
        config={},
        val=val,
        val_std=None,
        val_low=low,
        val_high=high,
        test=test,
        test_std=None,
        test_low=None if test is None else test - 0.1,
        test_high=None if test is None else test + 0.1,
        thresholds={},
    )
