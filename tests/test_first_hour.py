"""A new user's first hour: the smoke study from nothing but mill.mat in the data directory,
in a directory without ../shared, and a terminal free of TensorFlow's start-up lines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from search import status
from search.execution.quiet import NoiseFilter, tensorflow_startup_filtered
from tests.conftest import MILL, ROOT

STARTUP_NOISE = ("oneDNN", "cuda drivers", "cuInit", "InitializeLog", "cpu_feature_guard")


def _vae_search(*args: str, cwd: Path, data_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "VAE_SEARCH_DATA": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "search.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )


def test_the_smoke_study_runs_with_only_mill_mat_in_the_data_directory(tmp_path):
    home = tmp_path / "somewhere" / "else"  # no ../shared beside it
    data_dir = tmp_path / "data"
    home.mkdir(parents=True)
    data_dir.mkdir()
    (data_dir / "mill.mat").symlink_to(MILL)  # the labels come from the package
    steps = (
        ("launch", "--study", "s", "--spec", "smoke", "--trials", "1"),
        ("run", "--study", "s"),  # progress on, without a terminal: a line per trial
        ("score", "--study", "s", "--repeats", "1", "--bootstrap", "100"),
    )
    for step in steps:
        done = _vae_search(*step, cwd=home, data_dir=data_dir)
        assert done.returncode == 0, done.stderr
        noisy = [line for line in done.stderr.splitlines() if any(n in line for n in STARTUP_NOISE)]
        assert noisy == [], step
        if step[0] == "run":  # no progress bar redrawn into a log: a line per finished trial
            assert "\r" not in done.stderr
            assert "vae-search: trial 0 (plan entry 0) completed, val_latent_ap " in done.stderr
    assert "scored 1 model(s)" in done.stdout
    assert status(home / "s").lines()[0] == "1 planned: 1 complete"


def test_without_mill_mat_one_line_says_where_and_how_to_fetch_it(tmp_path):
    done = _vae_search("launch", "--study", "s", "--spec", "smoke", cwd=tmp_path, data_dir=tmp_path)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert str(tmp_path / "mill.mat") in line and "vae-search download" in line
    assert not (tmp_path / "s").exists()


def test_the_filter_drops_startup_lines_and_passes_the_rest():
    stream = (
        b"\rtrials: 0/1 [running=0]I0000 00:00:1796026549.46   13323 port.cc:153] oneDNN on.\n"
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        b"I0000 00:00:1796026549.46   13323 cudart_stub.cc:31] Could not find cuda drivers.\n"
        b"E0000 00:00:1796026027.28    8004 cuda_platform.cc:52] failed call to cuInit: 303\n"
        b"E0000 00:00:1796026027.29    8004 util.cc:131] an error that matters\n"
        b"To enable the following instructions: AVX2, in other operations, rebuild\n"
        b"W0000 00:00:1796246688.81    4714 local_rendezvous.cc:412] Local rendezvous is "
        b"aborting with status: INVALID_ARGUMENT: Current CPU implementations do not yet "
        b"support dilation rates larger than 1.\n"
        b"W0000 00:00:1796246688.82    4714 other.cc:1] a warning that matters\n"
        b"vae-search: error: x\n\rtrials: 1/1"
    )
    noise = NoiseFilter()
    passed = b"".join(noise.feed(stream[i : i + 7]) for i in range(0, len(stream), 7))
    assert passed + noise.flush() == (
        b"\rtrials: 0/1 [running=0]"
        b"E0000 00:00:1796026027.29    8004 util.cc:131] an error that matters\n"
        b"W0000 00:00:1796246688.82    4714 other.cc:1] a warning that matters\n"
        b"vae-search: error: x\n\rtrials: 1/1"
    )
    # without "Could not find cuda drivers" first, a failed cuInit is an error that matters
    line = b"E0000 00:00:1.2    8004 cuda_platform.cc:52] failed call to cuInit: 303\n"
    assert NoiseFilter().feed(line) == line


def test_the_last_line_before_the_filter_ends_reaches_the_terminal(capfd):
    """A command's error line is written the moment before it returns, while the processes it
    started may still hold the pipe open (no end-of-file tells the filter it is over): the line
    reaches the terminal all the same, and at once."""
    for attempt in range(300):
        with tensorflow_startup_filtered():
            child_end = os.dup(2)  # as a worker or the job server holds it
            os.write(2, f"vae-search: error: {attempt}\n".encode())
        os.close(child_end)
    forwarded = capfd.readouterr().err.splitlines()
    assert forwarded == [f"vae-search: error: {attempt}" for attempt in range(300)]


def test_a_name_of_the_api_imports_tensorflow_quietly():
    """A notebook shows what its kernel writes to descriptor 2: taking a name of ``search``
    whose module imports TensorFlow (``train_and_save``) writes none of TensorFlow's start-up
    lines there, as a command of the CLI writes none."""
    code = "import search, sys\nsearch.train_and_save\nprint('tensorflow' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "True"
    assert not [word for word in STARTUP_NOISE if word in done.stderr], done.stderr
