"""On a terminal, ``run`` redraws one progress line; the CLI's filter of TensorFlow's start-up
lines keeps descriptor 2 a terminal (a pseudo-terminal of the same size) for it to do so."""

from __future__ import annotations

import fcntl
import os
import pty
import shutil
import struct
import subprocess
import sys
import termios
import time

from tests.conftest import ROOT

COLUMNS = 100


def _on_a_terminal(*argv: str, timeout: float = 600) -> bytes:
    """What ``python ARGV`` writes to a pseudo-terminal of ``COLUMNS`` columns, all of it;
    it must exit 0."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, COLUMNS, 0, 0))
    process = subprocess.Popen(
        [sys.executable, *argv], cwd=ROOT, stdin=slave, stdout=slave, stderr=slave
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = os.read(master, 65536)
        except OSError:  # every writer closed the terminal: the command ended
            break
        if not data:
            break
        seen += data
    assert process.wait(timeout=max(1.0, deadline - time.monotonic())) == 0, seen
    os.close(master)
    return seen


def test_descriptor_2_stays_a_terminal_of_its_size_under_the_filter():
    code = (
        "import os, sys\n"
        "from search.execution.quiet import tensorflow_startup_filtered\n"
        "with tensorflow_startup_filtered():\n"
        "    print(sys.stderr.isatty(), os.get_terminal_size(2).columns, file=sys.stderr)\n"
        "    print('a\\nb', file=sys.stderr)\n"
    )
    seen = _on_a_terminal("-c", code)
    assert f"True {COLUMNS}\na\nb\n".encode() in seen.replace(b"\r\n", b"\n")


def test_run_redraws_its_progress_line_on_a_terminal(trained_smoke, tmp_path):
    study = tmp_path / "study"
    shutil.copytree(trained_smoke, study)
    seen = _on_a_terminal("-m", "search.cli", "run", "--study", str(study))
    text = seen.decode(errors="replace")
    assert text.startswith(f"vae-search: run of {study}: opening the study")
    assert "vae-search: starting 1 worker on 0 waiting trial(s)" in text
    assert "\rtrials: 100%" in text and "done 3" in text  # tqdm's redrawn line
    assert "this run: 0 trials completed, 0 failed; study: complete 3" in text
