"""The Colab path, off Colab: the notebook launches, trains, scores and ranks a tiny study with
its database on "local disk" copied to "Drive"; a second session resumes from the Drive copy;
then the study directory is used locally as a user would, with status, export and dashboard.

The notebook runs headless in a real kernel (nbclient), on the real data in ../shared.
"""

from __future__ import annotations

import csv
import json
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell

from search.cli import main
from search.execution.quiet import NoiseFilter
from search.outputs.export import REFERENCE_COLUMNS
from search.space.spec import read_spec
from tests.conftest import DATA_DIR, ROOT, SMOKE

NOTEBOOK = ROOT / "colab" / "launch_search.ipynb"
STUDY = "tiny"  # its database is on the VM's disk, so its study is named after its directory
MAIN_STUDY_STATES = (  # the search's trials, not the scores study's
    "SELECT state, COUNT(*) FROM trials WHERE study_id = "
    f"(SELECT study_id FROM studies WHERE study_name = '{STUDY}') GROUP BY state"
)
DASHBOARD_STUDIES = (  # a last cell: the notebook's dashboard, asked from its kernel
    "import json, urllib.request\n"
    "with urllib.request.urlopen(DASHBOARD_URL + 'api/studies', timeout=60) as r:\n"
    "    print('served:', *[s['study_name'] for s in json.load(r)['study_summaries']])"
)


def execute(parameters: dict, cwd: Path, before: str = "", after: str = "") -> str:
    """Run the notebook with ``parameters`` injected after its parameters cell (as papermill
    does), ``before`` with them and ``after`` as a last cell; returns the text of all its
    outputs."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    index = next(
        i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])
    )
    injected = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    notebook.cells.insert(index + 1, new_code_cell(f"{injected}\n{before}"))
    if after:
        notebook.cells.append(new_code_cell(after))
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    try:
        client.execute()
    except CellExecutionError as stopped:  # "Run all" stops there: what it printed till then
        stopped.add_note(_text_of(notebook))
        raise
    return _text_of(notebook)


def _text_of(notebook) -> str:
    return "\n".join(
        output.get("text", "") or json.dumps(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )


@pytest.fixture(scope="module")
def colab_run(tmp_path_factory):
    """Session one plans two trials; session two (a new VM: local disk empty) asks for three."""
    root = tmp_path_factory.mktemp("colab")
    spec = root / "smoke-1-epoch.toml"
    spec.write_text(SMOKE.read_text().replace("epochs = 3", "epochs = 1"))
    drive, local = root / "drive", root / "local"
    parameters = {
        "STUDY_NAME": STUDY,
        "SPEC": str(spec),
        "BEST_N": 3,
        "DRIVE_ROOT": str(drive),
        "LOCAL_ROOT": str(local),
        "DATA_DIR": str(DATA_DIR),
        "BOOTSTRAP": 100,
    }
    first = execute(  # Colab's way: the worker in the kernel; the dashboard asked from there
        {**parameters, "TRIALS": 2, "WORKERS": 1, "DASHBOARD_PORT": _free_port()},
        root,
        after=DASHBOARD_STUDIES,
    )
    after_first = _states(drive / "studies" / STUDY / "study.db")
    shutil.rmtree(local)
    second = execute(
        {**parameters, "TRIALS": 3, "WORKERS": 2, "HOURS": 2, "DASHBOARD_PORT": None}, root
    )
    return drive / "studies" / STUDY, local, first, after_first, second


def _states(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute(MAIN_STUDY_STATES).fetchall()
    return dict(rows)


def test_notebook_trains_scores_ranks_and_keeps_the_database_copy_on_drive(colab_run):
    study, local, first, after_first, _ = colab_run
    assert "not on Colab" in first
    # the machine's line first (the suite trains with oneDNN off: dilation by phases)
    assert "oneDNN off (TF_ENABLE_ONEDNN_OPTS=0 is set), dilated convolutions by phases" in first
    assert "2 trials completed" in first and "scored 2 model(s)" in first
    assert "training until 40800s from now (HOURS = 11.5, less 10 minutes)" in first
    assert "dashboard: http://127.0.0.1:" in first
    assert f"served: {STUDY} {STUDY}-scores" in first
    assert "not on Colab: no Drive to flush" in first  # the last cell of the notebook
    # the library's calls as quiet as the CLI: what the kernel and the processes it started
    # wrote to descriptor 2 (the notebook shows it) holds no TensorFlow start-up line
    noise = NoiseFilter()
    assert noise.feed(first.encode()) + noise.flush() == first.encode()
    assert "Could not find cuda drivers" not in first
    assert after_first == {"COMPLETE": 2}  # the Drive copy is a whole, current database
    assert (local / f"{STUDY}.db").is_file()  # the live one was on "local disk"
    assert len([m for m in (study / "models").iterdir() if not m.name.startswith(".")]) == 3
    figures = sorted(p.name for p in (study / "report").glob("*.png"))
    assert len(figures) == 12  # one seed per configuration: no seed_share, no importance


def test_a_new_session_resumes_from_the_drive_copy(colab_run):
    study, _, _, _, second = colab_run
    assert "resuming: database copied back" in second
    assert "1 trials completed" in second  # only the new trial: the two before were kept
    assert "training until 6600s from now (HOURS = 2, less 10 minutes)" in second
    assert "scored 1 model(s)" in second and "2 already scored" in second
    assert _states(study / "study.db") == {"COMPLETE": 3}


def test_a_session_at_its_time_limit_flushes_drive_and_stops_in_one_line(colab_run, tmp_path):
    """Less time left than the margin (``HOURS`` under 10 minutes) and a trial waiting: the
    run's time limit starts no trial, the database copy on Drive holds the plan, Drive is
    flushed, and "Run all" stops in one line saying to go on in a new session."""
    study = colab_run[0]
    drive = tmp_path / "drive"
    shutil.copytree(study, drive / "studies" / STUDY)
    parameters = {
        "STUDY_NAME": STUDY,
        "SPEC": str(study.parents[2] / "smoke-1-epoch.toml"),
        "TRIALS": 4,
        "HOURS": 0.1,
        "DRIVE_ROOT": str(drive),
        "LOCAL_ROOT": str(tmp_path / "local"),
        "DATA_DIR": str(DATA_DIR),
        "DASHBOARD_PORT": None,
    }
    with pytest.raises(CellExecutionError) as stopped:
        execute(parameters, tmp_path)
    assert stopped.value.ename == "Stop"
    shown = [line for line in str(stopped.value).splitlines() if line.startswith("vae-search:")]
    assert shown[-1] == (  # the cell's last line: no traceback after it
        "vae-search: the time limit stopped training: run the notebook again in a new session"
    )
    assert "Traceback" not in str(stopped.value)
    printed = "\n".join(stopped.value.__notes__)
    assert "training until 1s from now (HOURS = 0.1, less 10 minutes)" in printed
    assert "time limit (1s) reached: 1 planned training(s) left; run again to go on" in printed
    assert "not on Colab: no Drive to flush" in printed
    assert _states(drive / "studies" / STUDY / "study.db") == {"COMPLETE": 3, "WAITING": 1}


def test_the_study_goes_on_locally_from_the_drive_copy(colab_run, tmp_path, capsys):
    study = colab_run[0]
    assert main(["status", "--study", str(study)]) == 0
    assert "3 planned: 3 complete" in capsys.readouterr().out
    assert main(["best", "--study", str(study), "-n", "2", "--format", "csv"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3  # header and two models


def test_export_has_the_reference_columns_then_the_scores(colab_run, tmp_path, capsys):
    out = tmp_path / "results.csv"
    assert main(["export", "--study", str(colab_run[0]), "--out", str(out)]) == 0
    assert "3 models" in capsys.readouterr().out
    with out.open() as f:
        rows = [row for row in csv.DictReader(f) if not row["baseline"]]
    assert len(rows) == 3
    assert tuple(rows[0])[: len(REFERENCE_COLUMNS)] == REFERENCE_COLUMNS
    for row in rows:
        assert row["dilations"] in ("[1, 2]", "[1, 2, 4]")
        assert row["model_name"].startswith("TBVAE-") and len(row["date_time"]) == 15
        assert float(row["val_loss"]) > 0 and int(row["epochs_trained"]) == 1
        for split in ("val", "test"):
            assert 0 <= float(row[f"{split}_latent_ap"]) <= 1
            assert float(row[f"{split}_input_ap_std"]) >= 0
    missing = tmp_path / "no" / "results.csv"
    assert main(["export", "--study", str(colab_run[0]), "--out", str(missing)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_dashboard_serves_the_study_and_its_trials(colab_run):
    port = _free_port()
    command = [sys.executable, "-m", "search.cli", "dashboard", "--study", str(colab_run[0])]
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert f"http://127.0.0.1:{port}/" in server.stdout.readline()
        studies = _get_json(f"http://127.0.0.1:{port}/api/studies")["study_summaries"]
        # the search, and its scored models as the second study (value: validation PR-AUC)
        assert [s["study_name"] for s in studies] == [STUDY, f"{STUDY}-scores"]
        detail = _get_json(f"http://127.0.0.1:{port}/api/studies/{studies[0]['study_id']}")
        trials = detail["trials"]
        assert [t["state"] for t in trials] == ["Complete"] * 3
        for trial in trials:  # the sampled hyperparameters, as Optuna params for the plots
            params = {p["name"]: p["param_external_value"] for p in trial["params"]}
            assert set(params) == set(read_spec(SMOKE).space)
            assert params["dilations"] in ("1,2", "1,2,4")
        assert {p["name"] for p in detail["intersection_search_space"]} == set(params)
        refused = subprocess.run([*command, "--port", str(port)], cwd=ROOT, capture_output=True)
        assert refused.returncode == 2 and b"try another port" in refused.stderr
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    assert server.returncode == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.load(response)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


NOWHERE = "/nowhere/vae-search"  # a PROJECT_SOURCE pip cannot install from


@pytest.mark.parametrize(
    ("source", "line"),
    [
        (
            None,
            "vae-search: vae-search is not installed: set PROJECT_SOURCE in the parameters cell "
            "to a git URL (git+https://...) or a path on Drive, then Run all again",
        ),
        (
            NOWHERE,
            f"vae-search: pip could not install PROJECT_SOURCE = {NOWHERE!r} (its lines above)",
        ),
    ],
    ids=["no-source", "failed-install"],
)
def test_a_fresh_runtime_without_vae_search_stops_with_one_line(tmp_path, source, line):
    """A fresh runtime (no vae-search): without PROJECT_SOURCE, or with one pip cannot install
    from, the set-up cell stops "Run all" in one line naming the parameter. (An install that
    succeeds is not run here: it would install into the suite's own environment.)"""
    hidden = (  # a fresh runtime: no vae-search distribution installed
        "import importlib.metadata as metadata\n"
        "_version = metadata.version\n"
        "def _missing(name):\n"
        "    if name == 'vae-search':\n"
        "        raise metadata.PackageNotFoundError(name)\n"
        "    return _version(name)\n"
        "metadata.version = _missing\n"
    )
    parameters = {"DRIVE_ROOT": str(tmp_path / "drive"), "PROJECT_SOURCE": source}
    with pytest.raises(CellExecutionError) as stopped:
        execute(parameters, tmp_path, before=hidden)
    assert stopped.value.ename == "Stop"
    shown = [text for text in str(stopped.value).splitlines() if text.startswith("vae-search:")]
    assert shown == [line]
    assert not (tmp_path / "drive" / "studies").exists()  # nothing launched
